/**
 * Table maintenance inside the CDC writer, between its commits.
 *
 * Why here: the writer is the only process that commits to its tables every few hundred
 * milliseconds, and it holds each table's primary-key index. A maintenance pass started right after
 * a flush goes through the same Table object's commit queue as the next flush, so the two never
 * race (no retried compaction, no conflict for the writer), the compaction hands its new files to
 * the index directly (no re-read), and there is nothing to deploy or schedule: every target gets it.
 * The pass runs while the writer keeps decoding and batching the stream; only the table's next
 * commit waits for it. Another engine's maintenance (Spark, pyiceberg, S3 Tables) is still safe:
 * the writer's commits and the compaction both retry against the other's snapshot.
 *
 * With an S3 Tables catalog the default is off: S3 Tables compacts, expires snapshots and removes
 * unreferenced files itself.
 */
import type { Logger } from "../core/log";
import { maintenancePolicy, type MaintenancePolicy } from "../iceberg/maintenance-plan";
import type { Table } from "../iceberg/table";
import type { CdcConfig } from "./config";
import { cdcMetrics } from "./metrics";

/** Whether the config's catalog is S3 Tables (its REST endpoint or SigV4 service). */
export function isS3Tables(config: CdcConfig): boolean {
  const c = config.catalog;
  return c.type === "rest" && (/(^|\/\/)s3tables\.[^/]*amazonaws\.com/.test(c.uri) || c.sigv4?.service === "s3tables");
}

/** The maintenance policy of one table: the config's, then the table's overrides; undefined when off. */
export function tablePolicy(config: CdcConfig, target: string): MaintenancePolicy | undefined {
  const table = config.tables.find((t) => (t.target ?? t.source.split(".").pop()) === target)?.maintenance ?? {};
  const { enabled: globalEnabled, ...global } = config.maintenance;
  const { enabled: tableEnabled, ...own } = table;
  const enabled = tableEnabled ?? globalEnabled ?? !isS3Tables(config);
  return enabled ? maintenancePolicy({ ...global, ...own }) : undefined;
}

const tableName = (table: Table) => `${table.id.namespace.join(".")}.${table.id.name}`;

interface Running {
  pass: Promise<void>;
  /** A flush came while the pass ran: run again once it ends. */
  again: boolean;
}

/** Starts maintenance passes after flushes, at most one per table at a time (see the file head). */
export class WriterMaintenance {
  private readonly running = new Map<Table, Running>();
  private readonly lastOrphanScan = new Map<Table, number>();
  /** A timer per table that deletes the files expiry deferred once due, when no pass comes first (a table gone quiet). */
  private readonly sweeps = new Map<Table, NodeJS.Timeout>();
  private readonly started = Date.now();
  private stopped = false;

  constructor(
    private readonly config: CdcConfig,
    private readonly log: Logger,
  ) {}

  /** After a flush committed to `table` (named `target` in the config): start a pass, or mark one to follow the running one. */
  afterCommit(table: Table, target: string): void {
    if (this.stopped) return;
    const policy = tablePolicy(this.config, target);
    if (!policy) return;
    const r = this.running.get(table);
    if (r) {
      r.again = true;
      return;
    }
    const run: Running = { pass: Promise.resolve(), again: false };
    run.pass = (async () => {
      do {
        run.again = false;
        await this.pass(table, policy);
      } while (run.again && !this.stopped);
      this.running.delete(table);
      this.sweepLater(table);
    })();
    this.running.set(table, run);
  }

  /** Deletes what expiry deferred when it is due, unless a pass (which deletes it too) comes first. */
  private sweepLater(table: Table): void {
    const due = table.pendingDeletes.lastDueMs;
    if (due === undefined || this.stopped || this.sweeps.has(table)) return;
    const timer = setTimeout(
      () => {
        this.sweeps.delete(table);
        if (this.running.has(table) || this.stopped) return; // the pass deletes them, then sweeps again
        table
          .deleteDueFiles()
          .catch((e) =>
            this.log.warn("deleting files of expired snapshots failed; the next pass tries again", { table: tableName(table), error: (e as Error).message }),
          )
          .finally(() => this.sweepLater(table));
      },
      Math.max(0, due - Date.now()) + 50,
    );
    timer.unref();
    this.sweeps.set(table, timer);
  }

  private async pass(table: Table, policy: MaintenancePolicy): Promise<void> {
    const name = tableName(table);
    const now = Date.now();
    const orphans = now - (this.lastOrphanScan.get(table) ?? this.started) >= policy.orphanIntervalMs;
    if (orphans) this.lastOrphanScan.set(table, now);
    try {
      const r = await table.maintain(policy, { orphans });
      const did = r.compaction || r.manifests || r.expiry?.snapshots || r.expiry?.files || r.orphans;
      if (did) {
        this.log.info("maintained table", {
          table: name,
          ms: r.durationMs,
          ...(r.compaction
            ? {
                rewritten: r.compaction.rewrittenDataFiles,
                dropped: r.compaction.droppedDataFiles,
                added: r.compaction.addedDataFiles,
                removedDeletes: r.compaction.removedDeleteFiles,
              }
            : {}),
          ...(r.manifests ? { manifestsRewritten: true } : {}),
          ...(r.expiry ? { expired: r.expiry.snapshots, deleted: r.expiry.files, deferred: r.expiry.deferred } : {}),
          ...(r.orphans ? { orphans: r.orphans } : {}),
        });
      }
    } catch (e) {
      // never the writer's failure: its data is committed; the next pass tries again
      cdcMetrics.errors.inc({ kind: "maintenance" });
      this.log.warn("table maintenance failed; the next pass tries again", { table: name, error: (e as Error).message });
    }
  }

  /** Stops starting passes and waits for the running ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.sweeps.values()) clearTimeout(timer);
    this.sweeps.clear();
    await Promise.all([...this.running.values()].map((r) => r.pass));
  }
}
