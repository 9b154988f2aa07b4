/**
 * A decoder for the pgoutput logical replication protocol (versions 1 and 2, including streamed
 * in-progress transactions). Column values stay in Postgres text form; runtime/cdc/types.ts turns
 * them into Iceberg values, so no precision is lost to JS Date or float parsing on the way.
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 */

/** A column whose TOASTed value did not change: pgoutput sends no value for it. */
export const UNCHANGED = Symbol("unchanged-toast");
export type ColumnValue = string | null | typeof UNCHANGED;
export type Tuple = ColumnValue[];
/** A tuple as pgoutput sends it (TupleData: Int16 count, then per column a kind byte and, for a value, Int32 length and bytes), copied out of the message. */
export type RawTuple = Buffer;

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeMod: number;
  isKey: boolean;
}

/** A pgoutput message; row messages carry decoded tuples (`Tuple`), or raw ones (`RawTuple`) from PgoutputDecoder.raw(). */
export type Message<T extends Tuple | RawTuple = Tuple> =
  | { tag: "begin"; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: "commit"; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: "origin"; lsn: bigint; name: string }
  | { tag: "relation"; xid?: number; oid: number; schema: string; name: string; replicaIdentity: string; columns: RelationColumn[] }
  | { tag: "type"; xid?: number; oid: number; schema: string; name: string }
  | { tag: "insert"; xid?: number; oid: number; newTuple: T }
  | { tag: "update"; xid?: number; oid: number; keyTuple?: T; oldTuple?: T; newTuple: T }
  | { tag: "delete"; xid?: number; oid: number; keyTuple?: T; oldTuple?: T }
  | { tag: "truncate"; xid?: number; oids: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: "message"; xid?: number; transactional: boolean; lsn: bigint; prefix: string; content: Buffer }
  | { tag: "stream_start"; xid: number; firstSegment: boolean }
  | { tag: "stream_stop" }
  | { tag: "stream_commit"; xid: number; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: "stream_abort"; xid: number; subXid: number };

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

export class PgoutputDecoder<T extends Tuple | RawTuple = Tuple> {
  private inStream = false;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  /** A decoder whose row messages carry decoded tuples (`raw` is for PgoutputDecoder.raw()). */
  constructor(private readonly raw = false) {}

  /**
   * A decoder whose row messages keep their tuples as pgoutput's bytes (a copy), decoded later with
   * decodeTuple(): a change buffered until its commit then holds one buffer, not a string per value.
   */
  static raw(): PgoutputDecoder<RawTuple> {
    return new PgoutputDecoder<RawTuple>(true);
  }

  decode(buf: Buffer): Message<T> {
    this.buf = buf;
    this.pos = 0;
    const tag = String.fromCharCode(this.u8());
    switch (tag) {
      case "B":
        return { tag: "begin", finalLsn: this.i64(), commitTime: this.i64() + PG_EPOCH_MICROS, xid: this.u32() };
      case "C": {
        this.u8();
        return { tag: "commit", commitLsn: this.i64(), endLsn: this.i64(), commitTime: this.i64() + PG_EPOCH_MICROS };
      }
      case "O":
        return { tag: "origin", lsn: this.i64(), name: this.str() };
      case "R": {
        const xid = this.xid();
        const oid = this.u32();
        const schema = this.str();
        const name = this.str();
        const replicaIdentity = String.fromCharCode(this.u8());
        const n = this.i16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < n; i++) {
          const flags = this.u8();
          columns.push({ name: this.str(), typeOid: this.u32(), typeMod: this.i32(), isKey: (flags & 1) === 1 });
        }
        return { tag: "relation", xid, oid, schema, name, replicaIdentity, columns };
      }
      case "Y": {
        const xid = this.xid();
        return { tag: "type", xid, oid: this.u32(), schema: this.str(), name: this.str() };
      }
      case "I": {
        const xid = this.xid();
        const oid = this.u32();
        this.expect("N");
        return { tag: "insert", xid, oid, newTuple: this.tuple() };
      }
      case "U": {
        const xid = this.xid();
        const oid = this.u32();
        let kind = String.fromCharCode(this.u8());
        let keyTuple: T | undefined;
        let oldTuple: T | undefined;
        if (kind === "K") keyTuple = this.tuple();
        if (kind === "O") oldTuple = this.tuple();
        if (kind !== "N") kind = String.fromCharCode(this.u8());
        if (kind !== "N") throw new Error(`pgoutput: malformed update message (sub-message ${kind})`);
        return { tag: "update", xid, oid, keyTuple, oldTuple, newTuple: this.tuple() };
      }
      case "D": {
        const xid = this.xid();
        const oid = this.u32();
        const kind = String.fromCharCode(this.u8());
        const t = this.tuple();
        return kind === "K" ? { tag: "delete", xid, oid, keyTuple: t } : { tag: "delete", xid, oid, oldTuple: t };
      }
      case "T": {
        const xid = this.xid();
        const n = this.u32();
        const flags = this.u8();
        const oids: number[] = [];
        for (let i = 0; i < n; i++) oids.push(this.u32());
        return { tag: "truncate", xid, oids, cascade: (flags & 1) === 1, restartIdentity: (flags & 2) === 2 };
      }
      case "M": {
        const xid = this.xid();
        const flags = this.u8();
        const lsn = this.i64();
        const prefix = this.str();
        const len = this.u32();
        const content = Buffer.from(this.buf.subarray(this.pos, this.pos + len)); // a copy: the protocol parser reuses its buffer
        this.pos += len;
        return { tag: "message", xid, transactional: (flags & 1) === 1, lsn, prefix, content };
      }
      case "S": {
        this.inStream = true;
        return { tag: "stream_start", xid: this.u32(), firstSegment: this.u8() === 1 };
      }
      case "E":
        this.inStream = false;
        return { tag: "stream_stop" };
      case "c": {
        const xid = this.u32();
        this.u8();
        return { tag: "stream_commit", xid, commitLsn: this.i64(), endLsn: this.i64(), commitTime: this.i64() + PG_EPOCH_MICROS };
      }
      case "A":
        return { tag: "stream_abort", xid: this.u32(), subXid: this.u32() };
      default:
        throw new Error(`pgoutput: unknown message type "${tag}" (0x${this.buf[0].toString(16)})`);
    }
  }

  private xid(): number | undefined {
    return this.inStream ? this.u32() : undefined;
  }
  private expect(ch: string): void {
    const got = String.fromCharCode(this.u8());
    if (got !== ch) throw new Error(`pgoutput: expected "${ch}", got "${got}"`);
  }
  private u8(): number {
    return this.buf[this.pos++];
  }
  private i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  private i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private i64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  private str(): string {
    const end = this.buf.indexOf(0, this.pos);
    const s = this.buf.toString("utf8", this.pos, end);
    this.pos = end + 1;
    return s;
  }
  private tuple(): T {
    if (!this.raw) return this.values() as T;
    const start = this.pos;
    const n = this.i16();
    for (let i = 0; i < n; i++) {
      const kind = this.buf[this.pos++];
      if (kind === undefined) break; // past the end: reported below
      if (kind === 0x74 /* t */ || kind === 0x62 /* b */) this.pos += 4 + (this.pos + 4 <= this.buf.length ? this.buf.readUInt32BE(this.pos) : 0);
      else if (kind !== 0x6e /* n */ && kind !== 0x75 /* u */) throw new Error(`pgoutput: unknown tuple column kind 0x${kind.toString(16)}`);
    }
    if (this.pos > this.buf.length || n < 0) throw new Error("pgoutput: a tuple runs past the end of its message");
    return Buffer.from(this.buf.subarray(start, this.pos)) as T; // a copy: the protocol parser reuses its buffer
  }

  /** Decodes the TupleData at `pos` of `buf` (see decodeTuple). */
  tupleAt(buf: Buffer, pos: number): Tuple {
    this.buf = buf;
    this.pos = pos;
    return this.values();
  }

  private values(): Tuple {
    const n = this.i16();
    const out: Tuple = new Array(n);
    for (let i = 0; i < n; i++) {
      const kind = this.buf[this.pos++];
      if (kind === 0x6e /* n */) out[i] = null;
      else if (kind === 0x75 /* u */) out[i] = UNCHANGED;
      else if (kind === 0x74 /* t */ || kind === 0x62 /* b */) {
        const len = this.u32();
        out[i] = this.buf.toString("utf8", this.pos, this.pos + len);
        this.pos += len;
      } else throw new Error(`pgoutput: unknown tuple column kind 0x${kind.toString(16)}`);
    }
    return out;
  }
}

const tupleReader = new PgoutputDecoder();

/** The values of a tuple in pgoutput's TupleData form (a RawTuple, or one at `pos` of a larger buffer). */
export function decodeTuple(buf: Buffer, pos = 0): Tuple {
  return tupleReader.tupleAt(buf, pos);
}

/** Bytes of a tuple in TupleData form. */
export function encodedTupleLength(t: Tuple): number {
  let n = 2;
  for (const v of t) n += typeof v === "string" ? 5 + Buffer.byteLength(v, "utf8") : 1;
  return n;
}

/** Writes a tuple in TupleData form at `pos` of `buf` (which has encodedTupleLength(t) bytes there); returns the position after it. */
export function encodeTuple(t: Tuple, buf: Buffer, pos: number): number {
  pos = buf.writeInt16BE(t.length, pos);
  for (const v of t) {
    if (v === null) buf[pos++] = 0x6e;
    else if (v === UNCHANGED) buf[pos++] = 0x75;
    else {
      buf[pos] = 0x74;
      const len = buf.write(v, pos + 5, "utf8");
      buf.writeUInt32BE(len, pos + 1);
      pos += 5 + len;
    }
  }
  return pos;
}
