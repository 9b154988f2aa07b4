/**
 * The CDC writer's initial copy: where a source's stream starts, and the rows that exist before it.
 *
 * A new slot exports a snapshot consistent with its start; each table without data from the source
 * is copied at that snapshot (runtime/cdc/copy.ts decodes the COPY stream) and lands in one commit
 * whose `floe.lsn.<source>` is the LSN right before the slot's consistent point (copiedThrough), so
 * the stream goes on exactly after it.
 * A table added while streaming is copied the same way at a temporary slot's snapshot. A slot lost
 * while tables hold data from it means re-copying those tables (the changes in between are gone).
 */
import { availableParallelism } from "node:os";
import { Client } from "pg";
import type { Logger } from "../core/log";
import type { WriteTransaction } from "../iceberg/table";
import type { CdcConfig } from "./config";
import { copyBatch, copyColumnsBinary, copyColumnsOf, joinSnapshot, normalizedTypes, UNAVAILABLE } from "./copy";
import { CopyProgress } from "./copy-progress";
import { COPY_WORKER, copyInThreads } from "./copy-threads";
import { lineageOf } from "./handoff";
import { formatLsn } from "./lsn";
import { withOrigin } from "./errors";
import { cdcMetrics } from "./metrics";
import { ExportedSnapshot, quoteTable, ReplicationSource } from "./source";
import { CdcStopError, lsnSummary, TableState, WriterStatus } from "./state";
import { describeWith, sameLayout, type Tables } from "./tables";

const ident = (s: string) => s;

/** A table copied on threads is cut into at least this many ranges per thread (the last ones even out their finish). */
const RANGES_PER_THREAD = 4;

/**
 * The `floe.lsn.<source>` of a table copied at a snapshot exported with consistent point `point`:
 * the table then holds every source transaction whose commit LSN is at or below it. The snapshot
 * holds exactly the transactions whose commit record starts before the consistent point; one whose
 * commit record starts at it (the first WAL record after the slot's last xl_running_xacts, common
 * under load) is not in the snapshot and is streamed with commit LSN = `point`, so it must apply
 * (Postgres' own table sync applies changes whose final LSN is >= the copy's LSN). Recording
 * `point` itself made the skip rule (commit LSN <= the table's) drop that transaction.
 */
export const copiedThrough = (point: bigint): bigint => point - 1n;

export class InitialCopy {
  constructor(
    private readonly config: CdcConfig,
    private readonly log: Logger,
    private readonly status: WriterStatus,
    private readonly tables: Tables,
  ) {}

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
        this.log.warn(
          "replication slot is missing although tables hold data from it: re-copying those tables (changes in between cannot be read from WAL any more)",
          {
            slot: src.slot,
            tables: resync.map((s) => s.key),
          },
        );
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

  /**
   * Copies tables at an exported snapshot; each table lands in one commit with the snapshot's LSN.
   * snapshot.parallelism connections in all: tables are copied side by side, and the connections
   * no table is using (fewer tables than connections, or tables done) copy ctid ranges of the
   * large tables, largest first.
   */
  private async copyTables(src: ReplicationSource, exported: ExportedSnapshot, states: TableState[]): Promise<void> {
    this.status.state = "snapshotting";
    const queue = await this.largestFirst(src, states);
    const lanes = Math.min(this.config.snapshot.parallelism, queue.length);
    const pool = { free: this.config.snapshot.parallelism - lanes };
    const workers = Array.from({ length: lanes }, async () => {
      for (let s = queue.shift(); s; s = queue.shift()) await this.copyTable(src, exported, s, pool);
      pool.free++; // this lane's connection, for another table's ranges
    });
    await Promise.all(workers);
  }

  /** The tables by their size on disk, largest first (the longest copies start first). */
  private async largestFirst(src: ReplicationSource, states: TableState[]): Promise<TableState[]> {
    if (states.length < 2) return [...states];
    const client = new Client(src.clientConfig());
    client.on("error", (e) => this.log.warn("copy connection error", { source: src.name, error: e.message })); // reset while idle: not a process crash
    try {
      await withOrigin(src.origin, () => client.connect());
      const r = await withOrigin(src.origin, () =>
        client.query(`SELECT coalesce(pg_relation_size(to_regclass(t)), 0)::float8 AS bytes FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i`, [
          states.map((s) => quoteTable(s.source)),
        ]),
      );
      const size = new Map(states.map((s, i) => [s, Number(r.rows[i].bytes)]));
      return [...states].sort((a, b) => size.get(b)! - size.get(a)!);
    } finally {
      await client.end().catch(() => undefined);
    }
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
    const r = await client.query(`SELECT c.relfilenode::text AS then, pg_relation_filenode(c.oid)::text AS now FROM pg_class c WHERE c.oid = $1::regclass`, [
      rel,
    ]);
    const row = r.rows[0];
    if (row && row.then !== "0" && row.then !== row.now) {
      throw new Error(`${state.key} was rewritten (or truncated) after the snapshot of its copy was taken; the copy is retried at a new snapshot`);
    }
  }

  /**
   * A connection in the exported snapshot holding the table's lock (copy.ts joinSnapshot);
   * undefined when the lock is not free at once or the server takes no more connections. The copy
   * then goes on with the connections it has.
   */
  private async helperConnection(src: ReplicationSource, exported: ExportedSnapshot, state: TableState): Promise<Client | undefined> {
    const client = new Client({ ...src.clientConfig(), types: { getTypeParser: () => ident } } as never);
    // Lost while idle (the range copy waits its turn, or the Iceberg commit runs): an 'error' event that
    // would end the process without a listener. A query in flight gets the error anyway.
    client.on("error", (e) => this.log.warn("copy connection error", { source: src.name, table: state.key, error: e.message }));
    try {
      await withOrigin(src.origin, async () => {
        await client.connect();
        await joinSnapshot(client, exported.snapshotName, quoteTable(state.source));
      });
      return client;
    } catch (e) {
      await client.end().catch(() => undefined);
      const code = (e as { code?: string }).code;
      if (code && UNAVAILABLE.has(code)) {
        this.log.info("the copy goes on with fewer connections", { table: state.key, reason: (e as Error).message });
        return undefined;
      }
      throw e;
    }
  }

  /**
   * ctid ranges covering the table, of at most snapshot.chunkBytes and at least `perSession` per
   * connection (the last one open-ended: rows the snapshot sees lie in pages that existed when it
   * was taken, and the table only grows while its lock is held); one range (undefined: the whole
   * table) for a table of at most chunkBytes, a single connection, or a server before 14 (no TID
   * range scans: every range would read the whole table).
   */
  private async ranges(src: ReplicationSource, client: Client, state: TableState, sessions: number, perSession: number): Promise<(string | undefined)[]> {
    if (sessions < 2) return [undefined];
    const r = await withOrigin(src.origin, () =>
      client.query(
        `SELECT pg_relation_size($1::regclass)::text AS bytes, current_setting('block_size')::int AS block, current_setting('server_version_num')::int AS version`,
        [quoteTable(state.source)],
      ),
    );
    const { bytes, block, version } = r.rows[0] as { bytes: string; block: number; version: number };
    const chunk = this.config.snapshot.chunkBytes;
    if (version < 140000 || Number(bytes) <= chunk) return [undefined];
    const pages = Math.ceil(Number(bytes) / block);
    const per = Math.max(1, Math.floor(Math.min(chunk, Number(bytes) / (sessions * perSession)) / block));
    const out: string[] = [];
    for (let from = 0; from < pages; from += per) {
      out.push(from + per >= pages ? `ctid >= '(${from},0)'::tid` : `ctid >= '(${from},0)'::tid AND ctid < '(${from + per},0)'::tid`);
    }
    return out;
  }

  /** Copies one table in one commit; with ranges, also on connections taken from `pool` (given back when done). */
  private async copyTable(src: ReplicationSource, exported: ExportedSnapshot, state: TableState, pool: { free: number }): Promise<void> {
    const started = Date.now();
    const client = new Client({ ...src.clientConfig(), types: { getTypeParser: () => ident } } as never);
    // A connection lost while idle (during the Iceberg commit below) is an 'error' event: without a
    // listener it would end the process. A query in flight gets the error anyway.
    client.on("error", (e) => this.log.warn("copy connection error", { source: src.name, table: state.key, error: e.message }));
    await withOrigin(src.origin, () => client.connect());
    const helpers: Client[] = [];
    let taken = 0;
    let rows = 0;
    let tx: WriteTransaction | undefined;
    let progress: CopyProgress | undefined;
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
      if (!sameLayout(columns, this.tables.layout(state, src)))
        await this.tables.evolve(src, state, columns, { backfill: false }); // the copy brings every row's values
      else state.layouts.set(src.key, columns);
      // Ranges go to worker threads (snapshot.threads), one connection each, while this connection
      // holds the lock; without the compiled worker (floe run from its sources) the connections
      // copy on this thread. Threads get several ranges each so that they finish together.
      const threadable = COPY_WORKER !== undefined && (this.config.snapshot.threads ?? availableParallelism() > 2);
      const ranges = await this.ranges(src, client, state, 1 + pool.free, threadable ? RANGES_PER_THREAD : 1);
      const chunks = ranges.length;
      // More connections in the same snapshot for a table copied in ranges.
      taken = Math.min(pool.free, ranges.length - 1);
      pool.free -= taken;
      const threaded = threadable && chunks > 1;
      if (!threaded)
        for (const c of await Promise.all(Array.from({ length: taken }, () => this.helperConnection(src, exported, state)))) if (c) helpers.push(c);
      // Spills to data files past commit.spillBytes: memory stays bounded, the commit is still one snapshot.
      const write = (tx = state.table.newWrite({ spillBytes: this.config.commit.spillBytes }));
      // a changelog table's rows also get their metadata columns
      const meta: Record<string, unknown> =
        state.mode === "mirror" ? {} : { _op: "R", _lsn: exported.consistentPoint, _commit_time: BigInt(Date.now()) * 1000n, _xid: 0n, _source: src.name };
      const names = columns.map((c) => c.pg.name);
      const copyCols = copyColumnsOf(columns);
      const normalized = normalizedTypes(copyCols);
      const rel = quoteTable(state.source);
      const estimate = await withOrigin(src.origin, () => client.query(`SELECT reltuples::float8 AS n FROM pg_class WHERE oid = $1::regclass`, [rel]));
      const estimated = Number(estimate.rows[0]?.n);
      progress = new CopyProgress(state.key, estimated > 0 ? Math.round(estimated) : undefined, this.status, this.log);
      const shown = progress;
      let threads = 0;
      if (threaded) {
        const lanes = 1 + taken;
        const r = await withOrigin(src.origin, () =>
          copyInThreads({
            init: {
              ...src.connectionSettings(),
              snapshotName: exported.snapshotName,
              rel,
              table: state.key,
              columns: columns.map((c) => c.pg),
              mode: state.mode,
              meta,
              layout: write.fileLayout(),
              flushBytes: Math.max(1 << 20, Math.floor(this.config.commit.spillBytes / lanes)),
            },
            lanes,
            ranges,
            write,
            log: this.log,
            progress: (r, b) => shown.add(r, b),
          }),
        );
        rows += r.rows;
        threads = r.joined;
      }
      // Ranges left (no thread could join) are copied here.
      const connections = threaded ? [client] : [client, ...helpers];
      let failed = false;
      // Each connection takes the next range until none is left; every chunk goes to the one write.
      const lanes = connections.map(async (conn) => {
        const socket = (conn as unknown as { connection: { stream: { pause(): void; resume(): void; destroy(): void } } }).connection.stream;
        let paused = false;
        try {
          while (ranges.length && !failed) {
            const range = ranges.shift();
            const seen = { rows: 0, bytes: 0 };
            // Binary COPY streams the rows straight into columns of normalized values.
            const n = await withOrigin(src.origin, () =>
              copyColumnsBinary(
                conn,
                rel,
                copyCols,
                (chunk) => {
                  const batch = copyBatch(chunk, names, normalized, meta);
                  if (state.mode === "mirror") write.upsertColumns(batch);
                  else write.appendColumns(batch);
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
                },
                {
                  where: range,
                  onProgress: (r, b) => {
                    shown.add(r - seen.rows, b - seen.bytes);
                    seen.rows = r;
                    seen.bytes = b;
                  },
                },
              ),
            );
            rows += n;
          }
        } catch (e) {
          // the other connections stop copying into a write that is about to be aborted
          failed = true;
          for (const other of connections)
            if (other !== conn) (other as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
          throw e;
        }
      });
      const settled = await Promise.allSettled(lanes);
      const failure = settled.find((x): x is PromiseRejectedResult => x.status === "rejected");
      if (failure) throw failure.reason;
      for (const c of connections) await withOrigin(src.origin, () => c.query("COMMIT"));
      state.lsn.set(src.key, copiedThrough(exported.consistentPoint));
      write.setSummary({ ...lsnSummary(state), "floe.snapshot": src.name });
      tx = undefined; // commit() deletes its files itself when it fails
      await write.commit();
      cdcMetrics.rows.inc({ table: state.key, op: "snapshot" }, rows);
      const secs = (Date.now() - started) / 1000;
      this.log.info("copied table", {
        table: state.key,
        rows,
        seconds: secs,
        rowsPerSecond: Math.round(rows / Math.max(secs, 0.001)),
        connections: threaded ? 1 + threads : connections.length,
        ...(threaded ? { threads } : {}),
        chunks,
        lsn: formatLsn(exported.consistentPoint),
      });
    } catch (e) {
      await tx?.abort().catch(() => undefined); // the copy failed before its commit: drop the files it spilled
      throw e;
    } finally {
      progress?.end();
      pool.free += taken;
      for (const c of [client, ...helpers]) await c.end().catch(() => undefined);
    }
  }
}
