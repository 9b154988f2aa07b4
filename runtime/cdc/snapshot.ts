/**
 * The CDC writer's initial copy: where a source's stream starts, and the rows that exist before it.
 *
 * A new slot exports a snapshot consistent with its start; each table without data from the source
 * is copied at that snapshot (runtime/cdc/copy.ts decodes the COPY stream) and lands in one commit
 * whose `floe.lsn.<source>` is the slot's consistent point, so the stream goes on exactly after it.
 * A table added while streaming is copied the same way at a temporary slot's snapshot. A slot lost
 * while tables hold data from it means re-copying those tables (the changes in between are gone).
 */
import { Client } from "pg";
import type { Logger } from "../core/log";
import type { WriteTransaction } from "../iceberg/table";
import type { CdcConfig } from "./config";
import { copyColumnsBinary, normalizedTypes, type CopyColumn } from "./copy";
import { lineageOf } from "./handoff";
import { formatLsn } from "./lsn";
import { withOrigin } from "./errors";
import { cdcMetrics } from "./metrics";
import { ExportedSnapshot, quoteTable, ReplicationSource } from "./source";
import { CdcStopError, Column, lsnSummary, TableState, WriterStatus } from "./state";
import { describeWith, sameLayout, type Tables } from "./tables";

const ident = (s: string) => s;

/** How the copy decodes each source column (runtime/cdc/copy-binary.ts). */
const copyColumnsOf = (columns: Column[]): CopyColumn[] =>
  columns.map((c) => ({ name: c.pg.name, typeName: c.pg.typeName, typType: c.pg.typType, elemTypeName: c.pg.elemTypeName, iceberg: c.mapped.iceberg, convert: c.mapped.convert }));

export class InitialCopy {
  constructor(private readonly config: CdcConfig, private readonly log: Logger, private readonly status: WriterStatus, private readonly tables: Tables) {}

  /** Whether tables new to this source get their existing rows copied from it. */
  private copies(src: ReplicationSource): boolean {
    return this.config.snapshot.enabled && src.config.initialCopy;
  }

  /**
   * The source's slot (created when missing) and the copy of its tables that hold nothing from it
   * yet; returns the LSN the stream starts from.
   */
  async start(src: ReplicationSource, states: TableState[]): Promise<bigint> {
    let position = await src.slotPosition();
    let exported: (ExportedSnapshot & { slot: string }) | undefined;
    let toCopy: TableState[];
    if (position === null && src.key !== src.name) {
      throw new CdcStopError(
        `source ${src.name} followed an upgrade to ${src.config.connectionString.replace(/\/\/[^@]*@/, "//")}, but its slot ${src.slot} there is missing: ` +
          `the changes made there since the switchover cannot be read. Recreate the Iceberg tables from the current primary (drop them and restart the writer)`,
      );
    }
    if (position === null) {
      const resync = states.filter((s) => s.lsn.has(src.key));
      const shared = resync.filter((s) => [...s.lsn.keys()].some((other) => lineageOf(other) !== src.name));
      if (shared.length && this.copies(src)) {
        // Re-copying means emptying the table first, which would also drop the other sources' rows.
        throw new CdcStopError(
          `source ${src.name}: replication slot ${src.slot} is missing, and tables ${shared.map((s) => s.key).join(", ")} are also fed by other sources; ` +
            `floe cannot re-copy one source into a shared table without losing the others' rows. Recreate the tables from every source ` +
            `(drop the Iceberg tables and restart the writer), or restore the slot`,
        );
      }
      if (resync.length) {
        this.log.warn("replication slot is missing although tables hold data from it: re-copying those tables (changes in between cannot be read from WAL any more)", {
          slot: src.slot,
          tables: resync.map((s) => s.key),
        });
        cdcMetrics.errors.inc({ kind: "slot_lost" });
      }
      exported = await src.createSlot({ temporary: false });
      position = exported.consistentPoint;
      toCopy = this.copies(src) ? states : [];
      for (const s of resync) {
        s.lsn.delete(src.key);
        if (!this.copies(src)) continue;
        await s.table.truncate(lsnSummary(s));
      }
    } else {
      toCopy = this.copies(src) ? states.filter((s) => !s.lsn.has(src.key)) : [];
      if (toCopy.length) exported = await src.createSlot({ temporary: true });
    }
    try {
      if (exported && toCopy.length) await this.copyTables(src, exported, toCopy);
    } finally {
      await exported?.close().catch(() => undefined);
    }
    return position;
  }

  /** A table new to the writer while it streams: copied at a temporary slot's snapshot, unless it holds this source's data. */
  async copyNew(src: ReplicationSource, state: TableState): Promise<void> {
    if (!this.copies(src) || state.lsn.has(src.key)) return;
    const exported = await src.createSlot({ temporary: true });
    try {
      await this.copyTables(src, exported, [state]);
    } finally {
      await exported.close().catch(() => undefined);
      this.status.state = "streaming";
    }
  }

  /** Copies tables at an exported snapshot; each table lands in one commit with the snapshot's LSN. */
  private async copyTables(src: ReplicationSource, exported: ExportedSnapshot, states: TableState[]): Promise<void> {
    this.status.state = "snapshotting";
    const queue = [...states];
    const workers = Array.from({ length: Math.min(this.config.snapshot.parallelism, queue.length) }, async () => {
      for (let s = queue.shift(); s; s = queue.shift()) await this.copyTable(src, exported, s);
    });
    await Promise.all(workers);
  }

  /**
   * Locks the table against DDL for the copy, and refuses a snapshot older than a rewrite of the
   * table (ALTER … TYPE, a volatile default, VACUUM FULL, TRUNCATE after the snapshot): a rewritten
   * table reads as empty at a snapshot taken before the rewrite. The writer restarts and copies at
   * a new snapshot.
   */
  private async lockUnrewritten(client: Client, state: TableState): Promise<void> {
    const rel = quoteTable(state.source);
    await client.query(`LOCK TABLE ${rel} IN ACCESS SHARE MODE`);
    // pg_class as of the snapshot, against the relation's file now (pg_relation_filenode reads the current catalog).
    const r = await client.query(`SELECT c.relfilenode::text AS then, pg_relation_filenode(c.oid)::text AS now FROM pg_class c WHERE c.oid = $1::regclass`, [rel]);
    const row = r.rows[0];
    if (row && row.then !== "0" && row.then !== row.now) {
      throw new Error(`${state.key} was rewritten (or truncated) after the snapshot of its copy was taken; the copy is retried at a new snapshot`);
    }
  }

  private async copyTable(src: ReplicationSource, exported: ExportedSnapshot, state: TableState): Promise<void> {
    const started = Date.now();
    const client = new Client({ ...src.clientConfig(), types: { getTypeParser: () => ident } } as never);
    // A connection lost while idle (during the Iceberg commit below) is an 'error' event: without a
    // listener it would end the process. A query in flight gets the error anyway.
    client.on("error", (e) => this.log.warn("copy connection error", { source: src.name, table: state.key, error: e.message }));
    await withOrigin(src.origin, () => client.connect());
    let rows = 0;
    let tx: WriteTransaction | undefined;
    try {
      // (Errors of the source's own statements name the source: runtime/cdc/errors.ts.)
      await withOrigin(src.origin, async () => {
        await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        await client.query(`SET TRANSACTION SNAPSHOT '${exported.snapshotName}'`);
        await this.lockUnrewritten(client, state);
      });
      // The table's columns at the snapshot (DDL may have run since the table was described): the
      // Iceberg table follows them before the copy, and the stream goes on from this layout.
      const { columns } = await withOrigin(src.origin, () => describeWith(client, state.source));
      if (!sameLayout(columns, this.tables.layout(state, src))) await this.tables.evolve(src, state, columns, { backfill: false }); // the copy brings every row's values
      else state.layouts.set(src.key, columns);
      // Spills to data files past commit.spillBytes: memory stays bounded, the commit is still one snapshot.
      const write = (tx = state.table.newWrite({ spillBytes: this.config.commit.spillBytes }));
      const socket = (client as unknown as { connection: { stream: { pause(): void; resume(): void } } }).connection.stream;
      let paused = false;
      const meta: Record<string, unknown> = { _op: "R", _lsn: exported.consistentPoint, _commit_time: BigInt(Date.now()) * 1000n, _xid: 0n, _source: src.name };
      const names = columns.map((c) => c.pg.name);
      const metaNames = Object.keys(meta);
      const copyCols = copyColumnsOf(columns);
      const normalized = normalizedTypes(copyCols);
      // Binary COPY streams the rows straight into columns of normalized values.
      rows = await withOrigin(src.origin, () => copyColumnsBinary(client, quoteTable(state.source), copyCols, ({ columns: cols, rowCount }) => {
        if (state.mode === "mirror") write.upsertColumns({ names, columns: cols, rowCount, normalized });
        else write.appendColumns({ names: [...names, ...metaNames], columns: [...cols, ...metaNames.map((k) => new Array(rowCount).fill(meta[k]))], rowCount, normalized: [...normalized, ...metaNames.map(() => undefined)] });
        if (write.pendingSpills > 1 && !paused) {
          // Backpressure: the server waits while more than one spill is queued (else rows pile up in memory).
          paused = true;
          socket.pause();
          const resume = () => {
            paused = false;
            socket.resume();
          };
          write.ready().then(resume, resume); // a spill error comes back from commit()
        }
      }));
      await client.query("COMMIT");
      state.lsn.set(src.key, exported.consistentPoint);
      write.setSummary({ ...lsnSummary(state), "floe.snapshot": src.name });
      tx = undefined; // commit() deletes its files itself when it fails
      await write.commit();
      cdcMetrics.rows.inc({ table: state.key, op: "snapshot" }, rows);
      const secs = (Date.now() - started) / 1000;
      this.log.info("copied table", { table: state.key, rows, seconds: secs, rowsPerSecond: Math.round(rows / Math.max(secs, 0.001)), lsn: formatLsn(exported.consistentPoint) });
    } catch (e) {
      await tx?.abort().catch(() => undefined); // the copy failed before its commit: drop the files it spilled
      throw e;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
