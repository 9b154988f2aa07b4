/**
 * The CDC writer: Postgres logical replication (pgoutput) straight into Iceberg tables.
 *
 * Exactly once: every Iceberg commit carries, in its snapshot summary, `floe.lsn.<source>` = the
 * commit LSN of the last source transaction it contains, for every source feeding the table. The
 * slot's confirmed position moves only after all tables of a flush have committed. On start each
 * table skips the transactions at or below its own LSN, so a crash anywhere replays nothing twice
 * and loses nothing. Flushes happen only at transaction boundaries: a source transaction is never
 * half-visible in a table.
 *
 * This file is the pipeline: start, stream, batch, commit. Its steps live in their own modules:
 * tables and schema following (tables.ts), the initial copy (snapshot.ts), applying committed
 * transactions (apply.ts), the state they share (state.ts).
 */
import type { Logger } from "../core/log";
import { applyTransaction } from "./apply";
import { NoSuchNamespaceError, TableIdentifier } from "../iceberg/catalog";
import { currentSnapshot } from "../iceberg/metadata";
import { CdcConfig, CdcSource } from "./config";
import { FollowRecord, followKey, generationKey, Handoff, HANDOFF_PREFIX, isNewer, parseFollowRecord, parseHandoff, retarget, serverId } from "./handoff";
import { formatLsn, parseLsn } from "./lsn";
import { cdcMetrics } from "./metrics";
import { Message, Tuple, UNCHANGED } from "./pgoutput";
import { qualified, ReplicationSource } from "./source";
import { ChangeSpool } from "./spool";
import { InitialCopy } from "./snapshot";
import { CdcStopError, Change, Column, lsnSummary, TableState, Txn, WriterDeps, WriterStatus } from "./state";
import { Tables } from "./tables";

export { CdcStopError, lsnKey } from "./state";
export type { WriterDeps, WriterStatus } from "./state";
export { CHANGELOG_COLUMNS } from "./tables";

/** Estimated heap bytes of a tuple (text values). */
function tupleBytes(t: Tuple): number {
  let n = 16 + 8 * t.length;
  for (const v of t) if (typeof v === "string") n += 24 + 2 * v.length;
  return n;
}

export class CdcWriter {
  private readonly tables: Tables;
  private readonly initialCopy: InitialCopy;
  /** The server each configured source is read from now (it changes when the source follows an upgrade). */
  private readonly sources: ReplicationSource[];
  /** Per source name: the last upgrade handoff it followed. */
  private readonly follows = new Map<string, FollowRecord>();
  readonly status: WriterStatus = { state: "starting", sources: {} };
  private stopped = false;
  private settleReady!: (error?: unknown) => void;
  /** Resolves once the initial copy is done and the writer streams; rejects if it failed before. */
  readonly ready = new Promise<void>((resolve, reject) => (this.settleReady = (e) => (e === undefined ? resolve() : reject(e))));

  constructor(private readonly config: CdcConfig, private readonly deps: WriterDeps) {
    this.ready.catch(() => undefined); // callers that never await it must not see an unhandled rejection
    this.sources = config.sources.map((s) => new ReplicationSource(s, deps.log.child({ source: s.name })));
    this.tables = new Tables(config, deps);
    this.initialCopy = new InitialCopy(config, deps.log, this.status);
  }

  private get log(): Logger {
    return this.deps.log;
  }

  /** A source transaction, its changes buffered in a spool (memory, then a temp file). */
  private newTxn(xid: number, finalLsn: bigint, commitTime: bigint): Txn {
    const changes = new ChangeSpool<Change>({ spillBytes: this.config.commit.changeSpillBytes, dir: this.config.commit.spillDir, special: UNCHANGED });
    return { xid, finalLsn, commitTime, changes };
  }

  // ---- start ------------------------------------------------------------------------------------

  /** Publication, tables, slot and initial copy for one source; returns where streaming starts. */
  private async prepareSource(src: ReplicationSource): Promise<bigint> {
    const states = await this.tables.open(src);
    let position = await this.initialCopy.start(src, states);
    // Back on a server this source left before (a rollback): never before its handoff there.
    const floor = this.follows.get(src.name)?.left[serverId(src.config.connectionString, src.slot)];
    if (src.key !== src.name && floor !== undefined && BigInt(floor) > position) position = BigInt(floor);
    return position;
  }

  // ---- streaming --------------------------------------------------------------------------------

  private relations = new Map<string, Map<number, { state?: TableState; columns: Column[] }>>();
  private current = new Map<string, Txn>();
  private streamed = new Map<string, Map<number, Txn>>();
  private batch = { sources: new Map<string, { commitLsn: bigint; endLsn: bigint; commitTime: bigint }>(), rows: 0, bytes: 0, since: 0 };
  private chain: Promise<void> = Promise.resolve();
  private failure?: Error;

  /** Serialises message handling and timed flushes. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn);
    this.chain = next.catch((e) => this.fail(e));
    return next;
  }

  private fail(e: Error): void {
    if (!this.failure) {
      this.failure = e;
      this.status.state = "failed";
      this.status.error = e.message;
      cdcMetrics.errors.inc({ kind: e instanceof CdcStopError ? "stop" : "fault" });
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
      await this.resolveFollows();
      for (const src of this.sources) starts.push(await this.prepareSource(src));
      await this.recordFollows();
      await this.releaseLeftSlots();
    } catch (e) {
      this.settleReady(e);
      throw e;
    }
    this.status.state = "streaming";
    this.settleReady();
    const timer = setInterval(() => {
      if (this.batch.rows > 0 && Date.now() - this.batch.since >= this.config.commit.intervalMs) {
        this.serial(() => this.flush()).catch(() => undefined);
      }
    }, Math.max(10, Math.min(200, this.config.commit.intervalMs / 4)));
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
      for (const s of this.sources) await s.stop();
      for (const s of this.sources) await this.dropInFlight(s.name);
    }
    if (this.failure) throw this.failure;
  }

  private async startStream(src: ReplicationSource, from: bigint): Promise<void> {
    src.confirm(from);
    await src.stream(
      from,
      (msg) => this.serial(() => this.onMessage(src, msg)),
      (e) => this.sources.includes(src) && this.fail(e), // a stream left behind at a handoff may still report its socket closing
      (walEnd, drained) => this.onKeepalive(src, walEnd, drained),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.status.state = "stopped";
    this.wake?.();
  }

  private async onMessage(src: ReplicationSource, msg: Message): Promise<void> {
    if (this.failure || !this.sources.includes(src)) return; // a server this writer has moved away from
    const rels = this.relations.get(src.name) ?? new Map();
    this.relations.set(src.name, rels);
    switch (msg.tag) {
      case "begin":
        this.current.set(src.name, this.newTxn(msg.xid, msg.finalLsn, msg.commitTime));
        return;
      case "stream_start": {
        const txns = this.streamed.get(src.name) ?? new Map<number, Txn>();
        this.streamed.set(src.name, txns);
        if (!txns.has(msg.xid)) txns.set(msg.xid, this.newTxn(msg.xid, 0n, 0n));
        this.current.set(src.name, txns.get(msg.xid)!);
        return;
      }
      case "stream_stop":
        this.current.delete(src.name);
        return;
      case "stream_abort": {
        const txn = this.streamed.get(src.name)?.get(msg.xid);
        if (!txn) return;
        if (msg.subXid === msg.xid) {
          this.streamed.get(src.name)!.delete(msg.xid);
          await txn.changes.close();
        } else txn.changes.abortSub(msg.subXid);
        return;
      }
      case "relation": {
        await this.onRelation(src, rels, msg);
        return;
      }
      case "insert":
      case "update":
      case "delete":
      case "truncate": {
        const txn = this.current.get(src.name);
        if (!txn) throw new Error(`pgoutput: ${msg.tag} outside a transaction`);
        const subXid = msg.xid ?? txn.xid;
        if (msg.tag === "truncate") {
          for (const oid of msg.oids) {
            const rel = rels.get(oid);
            if (rel?.state) await txn.changes.add({ kind: "T", state: rel.state }, subXid, 0);
          }
          return;
        }
        const rel = rels.get(msg.oid);
        if (!rel) throw new Error(`pgoutput: change for unknown relation ${msg.oid}`);
        if (!rel.state) return; // not a table this writer replicates
        let c: Change;
        if (msg.tag === "insert") c = { kind: "I", state: rel.state, columns: rel.columns, tuple: msg.newTuple };
        else if (msg.tag === "update") c = { kind: "U", state: rel.state, columns: rel.columns, tuple: msg.newTuple, oldKey: msg.keyTuple ?? msg.oldTuple };
        else c = { kind: "D", state: rel.state, columns: rel.columns, tuple: (msg.keyTuple ?? msg.oldTuple)! };
        const spilling = txn.changes.add(c, subXid, tupleBytes(c.tuple) + (c.kind === "U" && c.oldKey ? tupleBytes(c.oldKey) : 0));
        if (spilling) await spilling;
        return;
      }
      case "commit": {
        const txn = this.current.get(src.name);
        this.current.delete(src.name);
        if (!txn) return;
        try {
          await this.onCommit(src, txn, msg.commitLsn, msg.endLsn, msg.commitTime);
        } finally {
          await txn.changes.close();
        }
        return;
      }
      case "message": {
        if (msg.prefix !== HANDOFF_PREFIX) return;
        const txn = this.current.get(src.name);
        if (!msg.transactional || !txn) throw new Error(`pgoutput: a ${HANDOFF_PREFIX} message must be transactional`);
        txn.handoff = parseHandoff(msg.content);
        return;
      }
      case "stream_commit": {
        const txn = this.streamed.get(src.name)?.get(msg.xid);
        this.streamed.get(src.name)?.delete(msg.xid);
        if (txn) {
          txn.finalLsn = msg.commitLsn;
          txn.commitTime = msg.commitTime;
          try {
            await this.onCommit(src, txn, msg.commitLsn, msg.endLsn, msg.commitTime);
          } finally {
            await txn.changes.close();
          }
        }
        return;
      }
      default:
        return;
    }
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
    const inFlight = this.current.has(src.name) || (this.streamed.get(src.name)?.size ?? 0) > 0 || this.batch.sources.has(src.name);
    if (!drained || inFlight || this.failure) return;
    src.confirm(walEnd);
    this.status.sources[src.name] = { ...this.status.sources[src.name], confirmedLsn: formatLsn(walEnd) };
  }

  private async onCommit(src: ReplicationSource, txn: Txn, commitLsn: bigint, endLsn: bigint, commitTime: bigint): Promise<void> {
    if (txn.changes.has("T")) await this.flush(); // a truncate of a mirror table commits alone
    const applied = await applyTransaction(src, txn, commitLsn);
    cdcMetrics.transactions.inc({ source: src.name });
    if (this.batch.sources.size === 0 && this.batch.rows === 0) this.batch.since = Date.now();
    this.batch.sources.set(src.name, { commitLsn, endLsn, commitTime });
    this.batch.rows += applied.rows;
    this.batch.bytes += applied.bytes;
    cdcMetrics.bufferedRows.set(this.batch.rows);
    cdcMetrics.lagSeconds.set({ source: src.name }, Math.max(0, Date.now() / 1000 - Number(commitTime / 1000n) / 1000));
    if (txn.handoff) await this.follow(src, txn.handoff, endLsn);
    else if (this.batch.rows >= this.config.commit.maxRows || this.batch.bytes >= this.config.commit.maxBytes) await this.flush();
    else if (this.batch.rows === 0 && applied.rows === 0 && !this.tables.hasPending()) await this.flush();
  }

  // ---- following a blue/green upgrade -----------------------------------------------------------

  /** The configured source a server belongs to. */
  private configOf(src: ReplicationSource): CdcSource {
    return this.config.sources.find((s) => s.name === src.name)!;
  }

  /** The server a source follows to: same user and password, the new primary's host, port, database, slot. */
  private followedSource(base: CdcSource, rec: FollowRecord): ReplicationSource {
    const config: CdcSource = {
      ...base,
      connectionString: retarget(base.connectionString, rec.to),
      slot: rec.slot,
      publication: rec.publication,
      origin: "none",
      initialCopy: false,
    };
    return new ReplicationSource(config, this.deps.log.child({ source: base.name, follows: `${rec.to.host}:${rec.to.port}/${rec.to.dbname}` }), generationKey(base.name, rec.generation));
  }

  /** On start: a source that followed an upgrade before goes on from where it followed to. */
  private async resolveFollows(): Promise<void> {
    let ids: TableIdentifier[] = [];
    try {
      ids = await this.deps.catalog.listTables([this.config.namespace]);
    } catch (e) {
      if (!(e instanceof NoSuchNamespaceError)) throw e;
    }
    const summaries = await Promise.all(
      ids.map(async (id): Promise<Record<string, string>> => currentSnapshot((await this.deps.catalog.loadTable(id)).metadata)?.summary ?? {}),
    );
    this.config.sources.forEach((base, i) => {
      let last: FollowRecord | undefined;
      for (const summary of summaries) {
        const rec = parseFollowRecord(summary[followKey(base.name)]);
        if (rec && (!last || rec.generation > last.generation)) last = rec;
      }
      if (!last) return;
      this.follows.set(base.name, last);
      this.sources[i] = this.followedSource(base, last);
      this.status.sources[base.name] = { ...this.status.sources[base.name], server: `${last.to.host}:${last.to.port}/${last.to.dbname}`, generation: last.generation };
      this.log.info("source follows an earlier upgrade handoff", { source: base.name, to: last.to, slot: last.slot, generation: last.generation });
    });
  }

  /** Writes each source's follow record into the tables that lack it (a crash cut the last switch short). */
  private async recordFollows(): Promise<void> {
    for (const [name, rec] of this.follows) {
      for (const state of this.tables.values()) {
        if (parseFollowRecord(state.table.summaryProperty(followKey(name)))?.generation === rec.generation) continue;
        await state.table.newWrite().setSummary({ ...lsnSummary(state), [followKey(name)]: JSON.stringify(rec) }).commit();
      }
    }
  }

  /** Forgets a source's uncommitted transactions (their spool files go with them): the stream will send them again. */
  private async dropInFlight(source: string): Promise<void> {
    const txns = new Set([this.current.get(source), ...(this.streamed.get(source)?.values() ?? [])]);
    this.current.delete(source);
    this.streamed.delete(source);
    for (const txn of txns) await txn?.changes.close().catch(() => undefined);
  }

  /**
   * A crash between recording a handoff and confirming the old slot past it leaves that slot
   * behind the handoff, holding WAL that nothing will read (and `floe upgrade cleanup` waiting).
   * On start, such a slot is advanced to where the source left it. Best effort: a server that is
   * gone or a slot in use is left alone.
   */
  private async releaseLeftSlots(): Promise<void> {
    for (const src of this.sources) {
      const rec = this.follows.get(src.name);
      if (!rec) continue;
      const here = serverId(src.config.connectionString, src.slot);
      for (const [id, lsn] of Object.entries(rec.left)) {
        if (id === here) continue;
        const m = /^(.*):(\d+)\/(.*)\/([^/]+)$/.exec(id);
        if (!m) continue;
        const old = new ReplicationSource({ ...src.config, connectionString: retarget(src.config.connectionString, { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]), dbname: m[3] }), slot: m[4] }, this.log);
        try {
          await old.withClient(async (c) => {
            const r = await c.query("SELECT active_pid, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [m[4]]);
            if (!r.rowCount || r.rows[0].active_pid || !r.rows[0].lsn || parseLsn(r.rows[0].lsn) >= BigInt(lsn)) return;
            await c.query("SELECT pg_replication_slot_advance($1, $2::pg_lsn)", [m[4], formatLsn(BigInt(lsn))]);
            this.log.info("advanced the slot a handoff left behind to the handoff", { source: src.name, server: id, lsn: formatLsn(BigInt(lsn)) });
          });
        } catch (e) {
          this.log.debug("could not check the slot a handoff left behind", { source: src.name, server: id, error: (e as Error).message });
        }
      }
    }
  }

  /**
   * A switchover moved the primary: everything read so far is committed, the switch is recorded in
   * every table, and the source goes on from the new primary's slot. The old server's stream stops;
   * its slot stays (a rollback may come back to it) until `floe upgrade cleanup`.
   */
  private async follow(src: ReplicationSource, h: Handoff, endLsn: bigint): Promise<void> {
    const base = this.configOf(src);
    const last = this.follows.get(base.name);
    if (!base.followUpgrades) {
      await this.flush();
      this.log.warn("upgrade handoff ignored (followUpgrades is false): this source's server is no longer the primary", { source: base.name, to: h.to, kind: h.kind });
      return;
    }
    if (!isNewer(h, last)) {
      await this.flush();
      this.log.info("upgrade handoff already followed: ignored", { source: base.name, upgrade: h.upgrade, seq: h.seq });
      return;
    }
    // Commit everything before the handoff, but confirm the old slot past it only once the switch
    // is recorded: a crash in between must leave either the record or the message to read again.
    this.batch.sources.delete(src.name);
    await this.flush();
    const left = { ...(last?.left ?? {}), [serverId(src.config.connectionString, src.slot)]: endLsn.toString() };
    const rec: FollowRecord = { ...h, generation: (last?.generation ?? 0) + 1, left };
    this.follows.set(base.name, rec);
    await this.recordFollows();
    src.confirm(endLsn);
    cdcMetrics.handoffs.inc({ source: base.name, kind: h.kind });
    const next = this.followedSource(base, rec);
    const i = this.sources.indexOf(src);
    this.sources[i] = next;
    await this.dropInFlight(base.name);
    this.relations.delete(base.name);
    void src.stop(); // not awaited: its stream is the one delivering this message
    const from = await this.prepareSource(next);
    // lastCommitTime stays: it is still the newest source commit in Iceberg. LSNs are the new server's from here on.
    this.status.sources[base.name] = { ...this.status.sources[base.name], confirmedLsn: formatLsn(from), server: `${h.to.host}:${h.to.port}/${h.to.dbname}`, generation: rec.generation };
    await this.startStream(next, from);
    this.log.info("followed the upgrade handoff: reading the new primary", { source: base.name, kind: h.kind, to: h.to, slot: h.slot, generation: rec.generation, from: formatLsn(from) });
  }

  private async onRelation(src: ReplicationSource, rels: Map<number, { state?: TableState; columns: Column[] }>, msg: Extract<Message, { tag: "relation" }>): Promise<void> {
    const t = { schema: msg.schema, name: msg.name };
    if (!this.tables.wanted(t)) {
      rels.set(msg.oid, { columns: [] });
      return;
    }
    let state = this.tables.get(qualified(t));
    if (!state) {
      // A table new to this writer (e.g. just added to the publication): copy it at a fresh snapshot.
      await this.flush();
      state = await this.tables.ensure(src, t);
      await this.initialCopy.copyNew(src, state);
    }
    const names = msg.columns.map((c) => c.name);
    if (await this.tables.relationChanged(src, state, names)) {
      await this.flush();
      await this.tables.evolve(src, state, names);
    }
    rels.set(msg.oid, { state, columns: state.columns });
  }

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
    }
    const now = Date.now();
    for (const [name, pos] of this.batch.sources) {
      const src = this.sources.find((s) => s.name === name)!;
      src.confirm(pos.endLsn);
      cdcMetrics.freshness.set({ source: name }, Math.max(0, now / 1000 - Number(pos.commitTime / 1000n) / 1000));
      this.status.sources[name] = { ...this.status.sources[name], confirmedLsn: formatLsn(pos.endLsn), lastCommitTime: new Date(Number(pos.commitTime / 1000n)).toISOString() };
    }
    this.batch = { sources: new Map(), rows: 0, bytes: 0, since: Date.now() };
    cdcMetrics.bufferedRows.set(0);
  }
}
