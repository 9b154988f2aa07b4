/**
 * The initial copy's binary path: `COPY (SELECT …) TO STDOUT (FORMAT binary)` decoded straight
 * into columns of *normalized* values (the Iceberg writer's form, runtime/iceberg/values.ts), with
 * no text in between: int8, timestamps and decimal(p <= 18) land in BigInt64Arrays byte by byte
 * (no bigint per value), ints and floats as numbers, strings as one UTF-8 slice each.
 *
 * Each column is decoded by its Postgres type's binary form (the type's send function); a column
 * of a type without a decoder here is selected as its output function's text
 * (`typoutput(col)`, a cstring, sent as its bytes: exactly what text COPY and pgoutput carry) and
 * goes through the text converter of runtime/cdc/types.ts.
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */
import type { Converter } from "./types";

/** Microseconds and days between the Unix epoch and the Postgres epoch (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000;
const PG_EPOCH_DAYS = 10_957;
const TWO32 = 4294967296;
const EPOCH_HI = Math.floor(PG_EPOCH_US / TWO32);
const EPOCH_LO = PG_EPOCH_US - EPOCH_HI * TWO32;

/** What the binary decoder needs to know of a column. */
export interface BinaryColumnType {
  /** Base type name in pg_catalog (int4, numeric ...). */
  typeName: string;
  /** 'b' base, 'e' enum ... */
  typType: string;
  /** Set for arrays: they take the text path. */
  elemTypeName?: string;
  /** The Iceberg type the column maps to ("decimal(12,2)", "string" ...). */
  iceberg: unknown;
  /** The text converter (runtime/cdc/types.ts) for the text path. */
  convert: Converter;
}

/** How a column is decoded: its binary form, or text through its output function. */
export type ColumnPlan = { kind: Exclude<Kind, "text"> } | { kind: "text"; convert: Converter };

type Kind =
  | "bool"
  | "int2"
  | "int4"
  | "int8"
  | "oid"
  | "float4"
  | "float8"
  | "string"
  | "jsonb"
  | "uuid"
  | "date"
  | "time"
  | "timestamp"
  | "bytea"
  | "decimal"
  | "numeric-text"
  | "text";

const STRING_TYPES = new Set(["text", "varchar", "bpchar", "name", "citext", "json"]);

/** The decoding of one column: its binary form when floe has a decoder for it, else its text. */
export function columnPlan(t: BinaryColumnType): ColumnPlan & { scale?: number } {
  if (t.elemTypeName) return { kind: "text", convert: t.convert };
  if (t.typType === "e") return { kind: "string" };
  if (t.typType !== "b") return { kind: "text", convert: t.convert };
  switch (t.typeName) {
    case "bool":
    case "int2":
    case "int4":
    case "int8":
    case "oid":
    case "float4":
    case "float8":
    case "uuid":
    case "date":
    case "time":
    case "bytea":
    case "jsonb":
      return { kind: t.typeName };
    case "timestamp":
    case "timestamptz":
      return { kind: "timestamp" };
    case "numeric": {
      const m = typeof t.iceberg === "string" ? /^decimal\((\d+),\s*(\d+)\)$/.exec(t.iceberg) : null;
      if (m) return { kind: "decimal", scale: Number(m[2]) };
      return t.iceberg === "string" ? { kind: "numeric-text" } : { kind: "text", convert: t.convert };
    }
    default:
      return STRING_TYPES.has(t.typeName) ? { kind: "string" } : { kind: "text", convert: t.convert };
  }
}

const INT64_KINDS = new Set<string>(["int8", "oid", "time", "timestamp", "decimal"]);

/** A column being filled: a BigInt64Array (int64 kinds until a null or an out-of-range value) or a plain array. */
class Sink {
  typed?: BigInt64Array;
  halves?: Int32Array;
  plain?: unknown[];
  constructor(
    readonly int64: boolean,
    private readonly size: number,
  ) {
    this.reset();
  }
  reset(): void {
    if (this.int64) {
      this.typed = new BigInt64Array(this.size);
      this.halves = new Int32Array(this.typed.buffer);
      this.plain = undefined;
    } else this.plain = new Array(this.size);
  }
  /** Leaves the typed array for a plain one (keeping rows before r). */
  untype(r: number): unknown[] {
    const plain: unknown[] = Array.from(this.typed!.subarray(0, r));
    plain.length = this.size;
    this.plain = plain;
    this.typed = undefined;
    this.halves = undefined;
    return plain;
  }
  take(n: number): unknown[] | BigInt64Array {
    const out = this.typed ? this.typed.subarray(0, n) : this.plain!.slice(0, n);
    this.reset();
    return out;
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function uuidText(b: Buffer, o: number): string {
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[o + i]];
  }
  return s;
}

/**
 * A numeric's binary form (ndigits, weight, sign, dscale, base-10000 digits) as the unscaled
 * integer at `scale`: a number while it is a safe integer, else a bigint. Throws on NaN and
 * infinities (no Iceberg decimal form), like the text converter.
 */
export function numericUnscaled(b: Buffer, o: number, scale: number): number | bigint {
  const ndigits = b.readInt16BE(o);
  const weight = b.readInt16BE(o + 2);
  const sign = b.readUInt16BE(o + 4);
  if (sign === 0xc000 || sign === 0xd000 || sign === 0xf000) {
    const text = sign === 0xc000 ? "NaN" : sign === 0xd000 ? "Infinity" : "-Infinity";
    throw new Error(`numeric value ${text} cannot be stored in an Iceberg decimal (NaN and infinities have no decimal form)`);
  }
  let acc = 0;
  let big: bigint | undefined;
  for (let i = 0; i < ndigits; i++) {
    const d = b.readInt16BE(o + 8 + 2 * i);
    if (big === undefined) {
      acc = acc * 10000 + d;
      if (acc > Number.MAX_SAFE_INTEGER / 10000) big = BigInt(acc);
    } else big = big * 10000n + BigInt(d);
  }
  // the last digit's place: 10000^(weight - ndigits + 1), times 10^scale
  const exp = 4 * (weight - ndigits + 1) + scale;
  if (exp >= 0) {
    if (big === undefined && acc * 10 ** exp <= Number.MAX_SAFE_INTEGER) acc *= 10 ** exp;
    else big = (big ?? BigInt(acc)) * 10n ** BigInt(exp);
  } else {
    const div = 10 ** -exp;
    if (big === undefined) {
      if (acc % div !== 0) throw new Error(`numeric value has more than ${scale} fraction digits`);
      acc /= div;
    } else {
      const d = 10n ** BigInt(-exp);
      if (big % d !== 0n) throw new Error(`numeric value has more than ${scale} fraction digits`);
      big /= d;
    }
  }
  const neg = sign === 0x4000;
  if (big !== undefined) return neg ? -big : big;
  return neg ? -acc : acc;
}

/** A numeric's binary form in Postgres's text output (numeric_out): exact, dscale fraction digits. */
export function numericText(b: Buffer, o: number): string {
  const ndigits = b.readInt16BE(o);
  const weight = b.readInt16BE(o + 2);
  const sign = b.readUInt16BE(o + 4);
  const dscale = b.readInt16BE(o + 6);
  if (sign === 0xc000) return "NaN";
  if (sign === 0xd000) return "Infinity";
  if (sign === 0xf000) return "-Infinity";
  const digit = (i: number) => (i >= 0 && i < ndigits ? b.readInt16BE(o + 8 + 2 * i) : 0);
  let s = sign === 0x4000 ? "-" : "";
  if (weight < 0) s += "0";
  else {
    s += String(digit(0));
    for (let i = 1; i <= weight; i++) s += String(digit(i)).padStart(4, "0");
  }
  if (dscale > 0) {
    let frac = "";
    for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, "0");
    s += "." + frac.slice(0, dscale);
  }
  return s;
}

/** Stores an integer-valued number (|v| <= 2^53) as int64 row r of a BigInt64Array's Int32Array view. */
function setInt64(halves: Int32Array, r: number, v: number): void {
  const neg = v < 0;
  const a = neg ? -v : v;
  let hi = Math.floor(a / TWO32);
  let lo = a - hi * TWO32;
  if (neg) {
    lo = (~lo >>> 0) + 1;
    hi = ~hi >>> 0;
    if (lo === TWO32) {
      lo = 0;
      hi = (hi + 1) >>> 0;
    }
  }
  halves[2 * r] = lo | 0;
  halves[2 * r + 1] = hi | 0;
}

/** The columns decoded so far; see CopyTextDecoder's ColumnChunk (runtime/cdc/copy.ts). */
export interface BinaryChunk {
  columns: (unknown[] | BigInt64Array)[];
  rowCount: number;
}

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/**
 * Decodes a binary COPY stream (header, tuples, trailer) into chunks of normalized columns. Feed
 * it the CopyData payloads in order (rows may span payloads); `emit` gets every `chunkRows` rows
 * and the rest at flush().
 */
export class CopyBinaryDecoder {
  private readonly plans: (ColumnPlan & { scale?: number })[];
  private readonly sinks: Sink[];
  private rows = 0;
  private rest?: Buffer;
  private header = false;
  private ended = false;
  /** Rows decoded so far. */
  total = 0;
  /** Bytes of tuple data decoded so far. */
  bytes = 0;

  constructor(
    types: BinaryColumnType[],
    private readonly emit: (chunk: BinaryChunk) => void,
    private readonly chunkRows = 65536,
  ) {
    this.plans = types.map(columnPlan);
    this.sinks = this.plans.map((p) => new Sink(INT64_KINDS.has(p.kind), chunkRows));
  }

  /** Decodes `data` from `start` to `end` (a view: nothing of it is kept after the call). */
  push(data: Buffer, start = 0, end = data.length): void {
    let buf = data;
    let pos = start;
    let len = end;
    if (this.rest) {
      buf = Buffer.concat([this.rest, data.subarray(start, end)]);
      this.rest = undefined;
      pos = 0;
      len = buf.length;
    }
    if (!this.header) {
      if (len - pos < 19) {
        this.rest = Buffer.from(buf.subarray(pos, len));
        return;
      }
      if (!buf.subarray(pos, pos + 11).equals(SIGNATURE)) throw new Error("COPY binary: the stream does not start with the PGCOPY signature");
      const ext = buf.readInt32BE(pos + 15);
      if (len - pos < 19 + ext) {
        this.rest = Buffer.from(buf.subarray(pos, len));
        return;
      }
      pos += 19 + ext;
      this.header = true;
    }
    const n = this.plans.length;
    while (pos + 2 <= len) {
      const fields = buf.readInt16BE(pos);
      if (fields === -1) {
        this.ended = true;
        pos += 2;
        break;
      }
      if (fields !== n) throw new Error(`COPY binary: row ${this.total + 1} has ${fields} fields, expected ${n}`);
      // the whole row must be here before any of it is stored
      let p = pos + 2;
      let complete = true;
      for (let c = 0; c < n; c++) {
        if (p + 4 > len) {
          complete = false;
          break;
        }
        const l = buf.readInt32BE(p);
        p += 4 + (l > 0 ? l : 0);
        if (p > len) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      this.row(buf, pos + 2);
      this.bytes += p - pos;
      pos = p;
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos, len));
  }

  private row(buf: Buffer, p: number): void {
    const r = this.rows;
    const plans = this.plans;
    const sinks = this.sinks;
    for (let c = 0; c < plans.length; c++) {
      const l = buf.readInt32BE(p);
      p += 4;
      const sink = sinks[c];
      if (l < 0) {
        if (sink.typed) sink.untype(r);
        sink.plain![r] = null;
        continue;
      }
      this.value(plans[c], sink, buf, p, l, r);
      p += l;
    }
    this.rows = r + 1;
    this.total++;
    if (this.rows >= this.chunkRows) this.flush();
  }

  private value(plan: ColumnPlan & { scale?: number }, sink: Sink, b: Buffer, o: number, l: number, r: number): void {
    switch (plan.kind) {
      case "int8":
        if (sink.halves) {
          sink.halves[2 * r] = b.readInt32BE(o + 4);
          sink.halves[2 * r + 1] = b.readInt32BE(o);
        } else sink.plain![r] = b.readBigInt64BE(o);
        return;
      case "timestamp": {
        const hi = b.readInt32BE(o);
        const lo = b.readUInt32BE(o + 4);
        if ((hi === 0x7fffffff && lo === 0xffffffff) || (hi === -0x80000000 && lo === 0)) {
          throw new Error(`timestamp value ${hi > 0 ? "infinity" : "-infinity"} cannot be stored in Iceberg (infinite timestamps have no Iceberg form)`);
        }
        const sum = lo + EPOCH_LO;
        const carry = sum >= TWO32 ? 1 : 0;
        if (sink.halves) {
          sink.halves[2 * r] = sum | 0;
          sink.halves[2 * r + 1] = (hi + EPOCH_HI + carry) | 0;
        } else sink.plain![r] = b.readBigInt64BE(o) + BigInt(PG_EPOCH_US);
        return;
      }
      case "time":
        if (sink.halves) {
          sink.halves[2 * r] = b.readInt32BE(o + 4);
          sink.halves[2 * r + 1] = b.readInt32BE(o);
        } else sink.plain![r] = b.readBigInt64BE(o);
        return;
      case "oid": {
        const v = b.readUInt32BE(o);
        if (sink.halves) {
          sink.halves[2 * r] = v | 0;
          sink.halves[2 * r + 1] = 0;
        } else sink.plain![r] = BigInt(v);
        return;
      }
      case "decimal": {
        const v = numericUnscaled(b, o, plan.scale!);
        if (typeof v === "number") {
          if (sink.halves) setInt64(sink.halves, r, v);
          else sink.plain![r] = BigInt(v);
        } else if (sink.typed && v >= -(2n ** 63n) && v < 2n ** 63n) sink.typed[r] = v;
        else (sink.typed ? sink.untype(r) : sink.plain!)[r] = v;
        return;
      }
      case "int4":
        sink.plain![r] = b.readInt32BE(o);
        return;
      case "int2":
        sink.plain![r] = b.readInt16BE(o);
        return;
      case "float4":
        sink.plain![r] = b.readFloatBE(o);
        return;
      case "float8":
        sink.plain![r] = b.readDoubleBE(o);
        return;
      case "bool":
        sink.plain![r] = b[o] !== 0;
        return;
      case "string":
        sink.plain![r] = b.toString("utf8", o, o + l);
        return;
      case "jsonb":
        if (b[o] !== 1) throw new Error(`COPY binary: jsonb version ${b[o]} is not supported`);
        sink.plain![r] = b.toString("utf8", o + 1, o + l);
        return;
      case "uuid":
        sink.plain![r] = uuidText(b, o);
        return;
      case "date": {
        const d = b.readInt32BE(o);
        if (d === 0x7fffffff || d === -0x80000000)
          throw new Error(`date value ${d > 0 ? "infinity" : "-infinity"} cannot be stored in Iceberg (infinite dates have no Iceberg form)`);
        sink.plain![r] = d + PG_EPOCH_DAYS;
        return;
      }
      case "bytea":
        sink.plain![r] = new Uint8Array(b.subarray(o, o + l));
        return;
      case "numeric-text":
        sink.plain![r] = numericText(b, o);
        return;
      case "text":
        sink.plain![r] = plan.convert(b.toString("utf8", o, o + l));
        return;
    }
  }

  /** Emits the buffered rows (if any). */
  flush(): void {
    if (this.rest) throw new Error("COPY binary: data ends in the middle of a row");
    if (this.rows === 0) return;
    const n = this.rows;
    this.rows = 0;
    this.emit({ columns: this.sinks.map((s) => s.take(n)), rowCount: n });
  }

  /** Whether the trailer (end of data) was read. */
  get complete(): boolean {
    return this.ended;
  }
}
