/**
 * A table's initial copy as it goes: rows and bytes so far, the rate, and the time left against
 * Postgres' estimate of the table's rows. Shown on /healthz (WriterStatus.copies), as metrics
 * (floe_cdc_copy_*), and as a log line every PROGRESS_LOG_MS.
 */
import type { Logger } from "../core/log";
import { cdcMetrics } from "./metrics";
import type { CopyStatus, WriterStatus } from "./state";

const PROGRESS_LOG_MS = 10_000;

export class CopyProgress {
  private rows = 0;
  private bytes = 0;
  private readonly started = Date.now();
  private logged = Date.now();

  constructor(
    private readonly table: string,
    private readonly estimatedRows: number | undefined,
    private readonly status: WriterStatus,
    private readonly log: Logger,
  ) {
    cdcMetrics.copyEstimatedRows.set({ table }, estimatedRows ?? 0);
    this.show();
  }

  /** More rows and bytes copied. */
  add(rows: number, bytes: number): void {
    this.rows += rows;
    this.bytes += bytes;
    this.show();
    if (Date.now() - this.logged >= PROGRESS_LOG_MS) {
      this.logged = Date.now();
      const s = this.status.copies![this.table];
      this.log.info("copying table", {
        table: this.table,
        ...s,
        ...(s.estimatedRows ? { percent: Math.min(100, Math.round((1000 * s.rows) / s.estimatedRows) / 10) } : {}),
      });
    }
  }

  private show(): void {
    const seconds = (Date.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.rows / seconds : 0;
    const est = this.estimatedRows;
    const eta = est !== undefined && rate > 0 ? Math.max(0, Math.round((est - this.rows) / rate)) : undefined;
    const s: CopyStatus = {
      rows: this.rows,
      bytes: this.bytes,
      ...(est !== undefined ? { estimatedRows: est } : {}),
      rowsPerSecond: Math.round(rate),
      ...(eta !== undefined ? { etaSeconds: eta } : {}),
      startedAt: new Date(this.started).toISOString(),
    };
    (this.status.copies ??= {})[this.table] = s;
    cdcMetrics.copyRows.set({ table: this.table }, this.rows);
    cdcMetrics.copyBytes.set({ table: this.table }, this.bytes);
    cdcMetrics.copyEtaSeconds.set({ table: this.table }, eta ?? -1);
  }

  /** The copy is over (committed or failed): it leaves the status and the metrics. */
  end(): void {
    delete this.status.copies?.[this.table];
    for (const g of [cdcMetrics.copyRows, cdcMetrics.copyBytes, cdcMetrics.copyEstimatedRows, cdcMetrics.copyEtaSeconds]) g.remove({ table: this.table });
  }
}
