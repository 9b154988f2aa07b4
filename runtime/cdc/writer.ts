/**
 * The CDC writer: Postgres logical replication (pgoutput) straight into Iceberg tables.
 *
 * Exactly once: every Iceberg commit carries, in its snapshot summary, `floe.lsn.<source>` = the
 * commit LSN of the last source transaction it contains (after an initial copy: the LSN right before
 * the copy's consistent point, snapshot.ts copiedThrough), for every source feeding the table. The
 * slot's confirmed position moves only after all tables of a flush have committed. On start each
 * table skips the transactions at or below its own LSN, so a crash anywhere replays nothing twice
 * and loses nothing. Flushes happen only at transaction boundaries: a source transaction is never
 * half-visible in a table.
 *
 * This file is the pipeline: start each source, read its stream, batch committed transactions,
 * flush (commit every table, then confirm the slots). Its steps live in their own modules:
 *   tables.ts        the tables replicated, their Iceberg tables, following schema changes
 *   snapshot.ts      where a stream starts: the slot and the initial copy
 *   transactions.ts  one source's stream between commits: relations and uncommitted transactions
 *   apply.ts         a committed transaction into its tables' pending writes
 *   follow.ts        following a blue/green upgrade to the new primary
 *   maintenance.ts   compaction, manifest rewriting, snapshot expiry and orphan removal between commits
 *   state.ts         what they share (TableState, Txn, Change, WriterStatus, CdcStopError)
 */
import { logs, type Logger } from "../core/log";
import { applyTransaction } from "./apply";
import type { CdcConfig } from "./config";
import { FollowPipeline, Upgrades } from "./follow";
import { WriterMaintenance } from "./maintenance";
import { formatLsn, parseLsn } from "./lsn";
import { cdcMetrics } from "./metrics";
import type { Message, RawTuple } from "./pgoutput";
import { InitialCopy } from "./snapshot";
import { qualified, ReplicationSource } from "./source";
import { lsnSummary, Txn, WriterDeps, WriterStatus } from "./state";
import { Tables } from "./tables";
import { SourceStream } from "./transactions";

export { CdcStopError, lsnKey } from "./state";
export type { WriterDeps, WriterStatus } from "./state";
export { CHANGELOG_COLUMNS } from "./tables";

/** Committed source transactions not yet flushed: per source, the last one's position; and the batch's size. */
interface Batch {
  sources: Map<string, { commitLsn: bigint; endLsn: bigint; commitTime: bigint }>;
  rows: number;
  bytes: number;
  /** When the batch's first transaction came (ms since the epoch): commit.intervalMs counts from here. */
  since: number;
}

export class CdcWriter {
  /** The server each configured source is read from now (it changes when the source follows an upgrade). */
  private readonly sources: ReplicationSource[];
  readonly status: WriterStatus = { state: "starting", sources: {} };
  private readonly tables: Tables;
  private readonly initialCopy: InitialCopy;
  private readonly upgrades: Upgrades;
  private readonly maintenance: WriterMaintenance;
  /** Per source name: its stream between commits. */
  private readonly streams = new Map<string, SourceStream>();
  private batch: Batch = { sources: new Map(), rows: 0, bytes: 0, since: 0 };
  private stopped = false;
  /** Aborted by stop(): a commit waiting to learn its outcome from an unreachable catalog gives up waiting (its files are kept). */
  private readonly stopping = new AbortController();
  private settleReady!: (error?: unknown) => void;
  /** Resolves once the initial copy is done and the writer streams; rejects if it failed before. */
  readonly ready = new Promise<void>((resolve, reject) => (this.settleReady = (e) => (e === undefined ? resolve() : reject(e))));

  constructor(
    private readonly config: CdcConfig,
    private readonly deps: WriterDeps,
  ) {
    this.ready.catch(() => undefined); // callers that never await it must not see an unhandled rejection
    this.sources = config.sources.map((s) => new ReplicationSource(s, deps.log.child({ source: s.name })));
    this.tables = new Tables(config, deps, this.stopping.signal);
    this.initialCopy = new InitialCopy(config, deps.log, this.status, this.tables);
    this.upgrades = new Upgrades(config, deps, this.tables, this.status);
    this.maintenance = new WriterMaintenance(config, deps.log);
  }

  private get log(): Logger {
    return this.deps.log;
  }

  // ---- start ------------------------------------------------------------------------------------

  /** Publication, tables, slot and initial copy for one source; returns where streaming starts. */
  private async prepareSource(src: ReplicationSource): Promise<bigint> {
    const states = await this.tables.open(src);
    const position = await this.initialCopy.start(src, states);
    return this.upgrades.notBeforeHandoff(src, position);
  }

  // ---- streaming --------------------------------------------------------------------------------

  private chain: Promise<void> = Promise.resolve();
  private failure?: Error;

  /** Work queued on the chain and not yet settled. */
  private queued = 0;

  /** Serialises message handling and timed flushes. */
  private serial(fn: () => Promise<void> | void): Promise<void> {
    this.queued++;
    const next = this.chain.then(fn);
    this.chain = next.catch((e) => this.fail(e)).finally(() => this.queued--);
    return next;
  }

  /**
   * Handles one message in its turn: synchronously when nothing is queued (most messages: a row
   * into its transaction's spool), so a stream of them costs no promise each; through the chain
   * when a flush or a commit is under way, or when handling it turns asynchronous.
   */
  private inTurn(fn: () => Promise<void> | void): Promise<void> | void {
    if (this.queued > 0) return this.serial(fn);
    let pending: Promise<void> | void;
    try {
      pending = fn();
    } catch (e) {
      this.fail(e as Error);
      return Promise.reject(e);
    }
    return pending ? this.serial(() => pending) : undefined;
  }

  private fail(e: Error): void {
    if (!this.failure) {
      this.failure = e;
      this.status.state = "failed";
      this.status.error = e.message;
      this.log.error("writer failed", { error: e.message });
    }
    this.wake?.();
  }

  private wake?: () => void;

  /**
   * Runs until stop() or an error. Throws the error (CdcStopError = cannot continue without
   * losing data; anything else = a fault worth retrying from the committed state).
   */
  async run(): Promise<void> {
    this.failure = undefined;
    this.status.state = "starting";
    const starts: bigint[] = [];
    try {
      await this.upgrades.resolve(this.sources);
      for (const src of this.sources) starts.push(await this.prepareSource(src));
      await this.upgrades.record();
      await this.upgrades.releaseLeftSlots(this.sources);
    } catch (e) {
      this.settleReady(e);
      throw e;
    }
    this.status.state = "streaming";
    this.settleReady();
    const timer = setInterval(
      () => {
        if (this.batch.rows > 0 && Date.now() - this.batch.since >= this.config.commit.intervalMs) {
          this.serial(() => this.flush()).catch(() => undefined);
        }
      },
      Math.max(10, Math.min(200, this.config.commit.intervalMs / 4)),
    );
    try {
      await Promise.all(this.sources.map((src, i) => this.startStream(src, starts[i])));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        if (this.failure || this.stopped) resolve();
      });
      // The last flush goes through the same queue as the timer's: two flushes must never overlap.
      clearInterval(timer);
      await this.chain;
      if (!this.failure) await this.serial(() => this.flush());
    } finally {
      clearInterval(timer);
      await this.maintenance.stop();
      for (const s of this.sources) await s.stop();
      for (const s of this.sources) await this.streams.get(s.name)?.drop();
    }
    if (this.failure) throw this.failure;
  }

  private async startStream(src: ReplicationSource, from: bigint): Promise<void> {
    if (logs("debug")) {
      const tables = Object.fromEntries(
        [...this.tables.values()].map((s) => [
          s.key,
          { lsn: s.lsn.get(src.key)?.toString(), snapshot: s.table.currentSnapshot()?.["snapshot-id"]?.toString() },
        ]),
      );
      this.log.debug("stream starts", { source: src.name, from: from.toString(), tables });
    }
    src.confirm(from);
    await src.stream(
      from,
      (msg) => this.inTurn(() => this.onMessage(src, msg)),
      (e) => this.sources.includes(src) && this.fail(e), // a stream left behind at a handoff may still report its socket closing
      (walEnd, drained) => this.onKeepalive(src, walEnd, drained),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.status.state = "stopped";
    this.wake?.();
  }

  private streamOf(name: string): SourceStream {
    let stream = this.streams.get(name);
    if (!stream) this.streams.set(name, (stream = new SourceStream(this.config.commit)));
    return stream;
  }

  private onMessage(src: ReplicationSource, msg: Message<RawTuple>): Promise<void> | void {
    if (this.failure || !this.sources.includes(src)) return; // a server this writer has moved away from
    const stream = this.streamOf(src.name);
    switch (msg.tag) {
      case "begin":
        return stream.begin(msg.xid, msg.finalLsn, msg.commitTime);
      case "stream_start":
        return stream.streamStart(msg.xid);
      case "stream_stop":
        return stream.streamStop();
      case "stream_abort":
        return stream.streamAbort(msg.xid, msg.subXid);
      case "relation":
        return this.onRelation(src, stream, msg);
      case "insert":
      case "update":
      case "delete":
      case "truncate":
        return stream.add(msg);
      case "message":
        return stream.message(msg);
      case "commit":
        return this.commit(src, stream.commit(), msg.commitLsn, msg.endLsn, msg.commitTime);
      case "stream_commit":
        return this.commit(src, stream.streamCommit(msg.xid, msg.commitLsn, msg.commitTime), msg.commitLsn, msg.endLsn, msg.commitTime);
      default:
        return;
    }
  }

  /**
   * A relation message: a table new to the writer is set up (and copied); the message's layout
   * (attnums placed, types as sent) holds for the changes after it. Its tables follow it when a
   * transaction using it applies (onCommit), in commit order.
   */
  private async onRelation(src: ReplicationSource, stream: SourceStream, msg: Extract<Message<RawTuple>, { tag: "relation" }>): Promise<void> {
    const t = { schema: msg.schema, name: msg.name };
    if (!this.tables.wanted(t)) {
      stream.setRelation(msg.oid, { columns: [] });
      return;
    }
    let state = this.tables.get(qualified(t));
    if (!state) {
      // A table new to this writer (e.g. just added to the publication): copy it at a fresh snapshot.
      await this.flush();
      state = await this.tables.ensure(src, t);
      await this.initialCopy.copyNew(src, state);
    } else if (!state.layouts.has(src.key)) await this.tables.ensure(src, t);
    const reference = stream.relation(msg.oid)?.columns ?? this.tables.layout(state, src);
    stream.setRelation(msg.oid, { state, columns: await this.tables.relationLayout(src, state, msg, reference) });
  }

  /**
   * The server has sent everything up to walEnd. With nothing of this source in flight, that
   * position is safe to confirm: without it an idle slot holds WAL forever and a fast shutdown
   * of the server waits for us.
   */
  private onKeepalive(src: ReplicationSource, walEnd: bigint, drained: boolean): void {
    if (!this.sources.includes(src)) return;
    const confirmed = this.status.sources[src.name]?.confirmedLsn;
    cdcMetrics.lagBytes.set({ source: src.name }, confirmed ? Math.max(0, Number(walEnd - parseLsn(confirmed))) : 0);
    const inFlight = this.streams.get(src.name)?.inFlight() || this.batch.sources.has(src.name);
    if (!drained || inFlight || this.failure) return;
    if (logs("debug") && walEnd > parseLsn(confirmed ?? "0/0")) this.log.debug("confirmed", { source: src.name, lsn: walEnd.toString(), by: "keepalive" });
    src.confirm(walEnd);
    this.status.sources[src.name] = { ...this.status.sources[src.name], confirmedLsn: formatLsn(walEnd) };
  }

  /** A committed transaction (none when its begin was not read) joins the batch; its spool closes whatever happens. */
  private async commit(src: ReplicationSource, txn: Txn | undefined, commitLsn: bigint, endLsn: bigint, commitTime: bigint): Promise<void> {
    if (!txn) return;
    try {
      await this.onCommit(src, txn, commitLsn, endLsn, commitTime);
    } finally {
      await txn.changes.close();
    }
  }

  private async onCommit(src: ReplicationSource, txn: Txn, commitLsn: bigint, endLsn: bigint, commitTime: bigint): Promise<void> {
    if (txn.changes.has("T")) await this.flush(); // a truncate of a mirror table commits alone
    await this.tables.follow(src, txn, commitLsn, () => this.flush());
    if (logs("debug")) {
      // per table it changes, the LSN it holds: the transaction is skipped there when commitLsn <= it
      const tables = Object.fromEntries([...txn.changes.tables()].map((s) => [s.key, s.lsn.get(src.key)?.toString() ?? null]));
      this.log.debug("transaction", { source: src.name, xid: txn.xid, commitLsn: commitLsn.toString(), endLsn: endLsn.toString(), tables });
    }
    const applied = await applyTransaction(src, txn, commitLsn);
    cdcMetrics.transactions.inc({ source: src.name });
    if (this.batch.sources.size === 0 && this.batch.rows === 0) this.batch.since = Date.now();
    this.batch.sources.set(src.name, { commitLsn, endLsn, commitTime });
    this.batch.rows += applied.rows;
    this.batch.bytes += applied.bytes;
    cdcMetrics.bufferedRows.set(this.batch.rows);
    cdcMetrics.lagSeconds.set({ source: src.name }, Math.max(0, Date.now() / 1000 - Number(commitTime / 1000n) / 1000));
    if (txn.handoff) await this.upgrades.follow(this.pipeline, src, txn.handoff, endLsn);
    else if (this.batch.rows >= this.config.commit.maxRows || this.batch.bytes >= this.config.commit.maxBytes) await this.flush();
    else if (this.batch.rows === 0 && applied.rows === 0 && !this.tables.hasPending()) await this.flush();
  }

  /** The steps following an upgrade takes from the pipeline (runtime/cdc/follow.ts). */
  private readonly pipeline: FollowPipeline = {
    flush: () => this.flush(),
    unbatch: (source) => void this.batch.sources.delete(source),
    switchSource: async (old, next) => {
      this.sources[this.sources.indexOf(old)] = next;
      await this.streams.get(old.name)?.drop();
      this.streams.delete(old.name);
    },
    prepareSource: (src) => this.prepareSource(src),
    startStream: (src, from) => this.startStream(src, from),
  };

  // ---- flush ------------------------------------------------------------------------------------

  /** Commits every pending table (each with its LSNs), then confirms the slots. */
  async flush(): Promise<void> {
    for (const state of this.tables.values()) {
      if (!state.pending) continue;
      const tx = state.pending;
      tx.setSummary(lsnSummary(state));
      const started = process.hrtime.bigint();
      // A failed commit leaves nothing behind (the table writer deletes its files) and the slot
      // unconfirmed: the error goes to the supervisor, which restarts from what Iceberg holds.
      await tx.commit();
      cdcMetrics.commitSeconds.observe({ table: state.key }, Number(process.hrtime.bigint() - started) / 1e9);
      state.pending = undefined;
      state.latest.clear();
      state.previous.clear();
      this.maintenance.afterCommit(state.table, state.id.name);
    }
    const now = Date.now();
    for (const [name, pos] of this.batch.sources) {
      const src = this.sources.find((s) => s.name === name)!;
      if (logs("debug")) this.log.debug("confirmed", { source: name, lsn: pos.endLsn.toString(), by: "flush" });
      src.confirm(pos.endLsn);
      cdcMetrics.freshness.set({ source: name }, Math.max(0, now / 1000 - Number(pos.commitTime / 1000n) / 1000));
      this.status.sources[name] = {
        ...this.status.sources[name],
        confirmedLsn: formatLsn(pos.endLsn),
        lastCommitTime: new Date(Number(pos.commitTime / 1000n)).toISOString(),
      };
    }
    this.batch = { sources: new Map(), rows: 0, bytes: 0, since: Date.now() };
    cdcMetrics.bufferedRows.set(0);
  }
}
