/**
 * One source's stream between commits, as the CDC writer reads it: the relations it announced, the
 * transaction being read, and the streamed (in-progress) transactions Postgres sends before they
 * commit. pgoutput's row messages (their tuples as sent: RawTuple) become Changes in their
 * transaction's spool (memory, then a temp file: runtime/cdc/spool.ts); a transaction leaves here
 * at its commit (runtime/cdc/apply.ts applies it) or its abort. Uncommitted transactions are
 * dropped when the stream goes away: the slot sends them again.
 */
import type { CdcConfig } from "./config";
import { HANDOFF_PREFIX, parseHandoff } from "./handoff";
import type { Message, RawTuple } from "./pgoutput";
import { ChangeSpool } from "./spool";
import type { Change, Column, TableState, Txn } from "./state";

/** What a relation message told about a table: the table (none when not replicated) and the column layout of its next changes. */
export interface Relation {
  state?: TableState;
  columns: Column[];
}

type RowMessage = Extract<Message<RawTuple>, { tag: "insert" | "update" | "delete" | "truncate" }>;

export class SourceStream {
  /** Relation messages seen on this stream, by relation oid (those of streamed transactions once they commit). */
  private readonly relations = new Map<number, Relation>();
  /** The transaction whose changes arrive now: a plain one, or a streamed one between stream_start and stream_stop. */
  private current?: Txn;
  /** Whether `current` is a streamed transaction. */
  private inStream = false;
  /** Streamed transactions by xid, until their stream_commit or stream_abort. */
  private readonly streamed = new Map<number, Txn>();
  /**
   * Relation messages read inside a streamed transaction: they hold for its own changes now and
   * for every transaction once it commits (pgoutput sends a streamed transaction its own relation
   * messages and counts them as sent to everyone only at its commit).
   */
  private readonly streamedRelations = new Map<Txn, Map<number, Relation>>();

  constructor(private readonly spool: Pick<CdcConfig["commit"], "changeSpillBytes" | "spillDir">) {}

  /** A source transaction, its changes buffered in a spool (memory, then a temp file). */
  private newTxn(xid: number, finalLsn: bigint, commitTime: bigint): Txn {
    const changes = new ChangeSpool<Change>({ spillBytes: this.spool.changeSpillBytes, dir: this.spool.spillDir });
    return { xid, finalLsn, commitTime, changes, layouts: new Map() };
  }

  /** Records a relation message: for the streamed transaction being read, or for the stream. */
  setRelation(oid: number, rel: Relation): void {
    const txn = this.current;
    if (txn && this.inStream) {
      let own = this.streamedRelations.get(txn);
      if (!own) this.streamedRelations.set(txn, (own = new Map()));
      own.set(oid, rel);
    } else this.relations.set(oid, rel);
  }

  /** The relation a change of the transaction being read refers to. */
  relation(oid: number): Relation | undefined {
    const txn = this.current;
    return (txn && this.streamedRelations.get(txn)?.get(oid)) ?? this.relations.get(oid);
  }

  begin(xid: number, finalLsn: bigint, commitTime: bigint): void {
    this.current = this.newTxn(xid, finalLsn, commitTime);
  }

  streamStart(xid: number): void {
    if (!this.streamed.has(xid)) this.streamed.set(xid, this.newTxn(xid, 0n, 0n));
    this.current = this.streamed.get(xid)!;
    this.inStream = true;
  }

  streamStop(): void {
    this.current = undefined;
    this.inStream = false;
  }

  /** A streamed transaction rolled back (its spool closes), or one of its subtransactions (its changes go). */
  async streamAbort(xid: number, subXid: number): Promise<void> {
    const txn = this.streamed.get(xid);
    if (!txn) return;
    if (subXid === xid) {
      this.streamed.delete(xid);
      this.streamedRelations.delete(txn);
      await txn.changes.close();
    } else txn.changes.abortSub(subXid);
  }

  /**
   * An insert, update, delete or truncate of the current transaction, for the tables the writer
   * replicates. Returns a promise (await it) only when the spool goes to its file.
   */
  add(msg: RowMessage): Promise<void> | undefined {
    const txn = this.current;
    if (!txn) throw new Error(`pgoutput: ${msg.tag} outside a transaction`);
    const subXid = msg.xid ?? txn.xid;
    if (msg.tag === "truncate") return this.truncate(txn, msg.oids, subXid);
    const rel = this.relation(msg.oid);
    if (!rel) throw new Error(`pgoutput: change for unknown relation ${msg.oid}`);
    if (!rel.state) return; // not a table this writer replicates
    txn.layouts.set(rel.state, rel.columns);
    const { state, columns } = rel;
    if (msg.tag === "insert") return txn.changes.add({ kind: "I", state, columns, tuple: msg.newTuple }, subXid);
    if (msg.tag === "update") return txn.changes.add({ kind: "U", state, columns, tuple: msg.newTuple, oldKey: msg.keyTuple ?? msg.oldTuple }, subXid);
    return txn.changes.add({ kind: "D", state, columns, tuple: (msg.keyTuple ?? msg.oldTuple)! }, subXid);
  }

  private async truncate(txn: Txn, oids: number[], subXid: number): Promise<void> {
    for (const oid of oids) {
      const rel = this.relation(oid);
      if (rel?.state) await txn.changes.add({ kind: "T", state: rel.state }, subXid);
    }
  }

  /** A logical decoding message: an upgrade handoff (runtime/cdc/handoff.ts) joins the current transaction; others are ignored. */
  message(msg: Extract<Message, { tag: "message" }>): void {
    if (msg.prefix !== HANDOFF_PREFIX) return;
    const txn = this.current;
    if (!msg.transactional || !txn) throw new Error(`pgoutput: a ${HANDOFF_PREFIX} message must be transactional`);
    txn.handoff = parseHandoff(msg.content);
  }

  /** The plain transaction that commits now (none when its begin was not read). */
  commit(): Txn | undefined {
    const txn = this.current;
    this.current = undefined;
    return txn;
  }

  /** The streamed transaction that commits now, with its commit LSN and time. */
  streamCommit(xid: number, commitLsn: bigint, commitTime: bigint): Txn | undefined {
    const txn = this.streamed.get(xid);
    this.streamed.delete(xid);
    if (!txn) return undefined;
    for (const [oid, rel] of this.streamedRelations.get(txn) ?? []) this.relations.set(oid, rel);
    this.streamedRelations.delete(txn);
    txn.finalLsn = commitLsn;
    txn.commitTime = commitTime;
    return txn;
  }

  /** Whether a transaction is being read or waits for its commit. */
  inFlight(): boolean {
    return this.current !== undefined || this.streamed.size > 0;
  }

  /** Forgets the uncommitted transactions (their spool files go with them): the stream will send them again. */
  async drop(): Promise<void> {
    const txns = new Set([this.current, ...this.streamed.values()]);
    this.current = undefined;
    this.inStream = false;
    this.streamed.clear();
    this.streamedRelations.clear();
    for (const txn of txns) await txn?.changes.close().catch(() => undefined);
  }
}
