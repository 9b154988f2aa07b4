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

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeMod: number;
  isKey: boolean;
}

export type Message =
  | { tag: "begin"; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: "commit"; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: "origin"; lsn: bigint; name: string }
  | { tag: "relation"; xid?: number; oid: number; schema: string; name: string; replicaIdentity: string; columns: RelationColumn[] }
  | { tag: "type"; xid?: number; oid: number; schema: string; name: string }
  | { tag: "insert"; xid?: number; oid: number; newTuple: Tuple }
  | { tag: "update"; xid?: number; oid: number; keyTuple?: Tuple; oldTuple?: Tuple; newTuple: Tuple }
  | { tag: "delete"; xid?: number; oid: number; keyTuple?: Tuple; oldTuple?: Tuple }
  | { tag: "truncate"; xid?: number; oids: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: "message"; xid?: number; transactional: boolean; lsn: bigint; prefix: string; content: Buffer }
  | { tag: "stream_start"; xid: number; firstSegment: boolean }
  | { tag: "stream_stop" }
  | { tag: "stream_commit"; xid: number; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: "stream_abort"; xid: number; subXid: number };

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

export class PgoutputDecoder {
  private inStream = false;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  decode(buf: Buffer): Message {
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
        let keyTuple: Tuple | undefined;
        let oldTuple: Tuple | undefined;
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
        const content = this.buf.subarray(this.pos, this.pos + len);
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
  private tuple(): Tuple {
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
