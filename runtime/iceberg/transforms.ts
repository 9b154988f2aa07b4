/**
 * Partition transforms (Iceberg spec "Partition Transforms"): identity, bucket[N], truncate[W],
 * year, month, day, hour, void. Pure functions over normalized values (see values.ts).
 */
import { ValidationError } from "./catalog";
import { bigIntToMinBytes, uuidToBytes } from "./values";
import { parsePrimitive, type Primitive } from "./types";

const DAY_US = 86_400_000_000n;
const HOUR_US = 3_600_000_000n;

function imul32(a: number, b: number): number {
  return Math.imul(a, b);
}
function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** Murmur3 x86 32-bit hash, seed 0 (the hash Iceberg's bucket transform uses). */
export function murmur3(bytes: Uint8Array): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const n = bytes.length;
  const blocks = n >>> 2;
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    let k = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
    k = imul32(k, c1);
    k = rotl32(k, 15);
    k = imul32(k, c2);
    h ^= k;
    h = rotl32(h, 13);
    h = (imul32(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = blocks * 4;
  switch (n & 3) {
    case 3:
      k ^= bytes[tail + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[tail + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[tail];
      k = imul32(k, c1);
      k = rotl32(k, 15);
      k = imul32(k, c2);
      h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = imul32(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul32(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function longBytes(v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt.asIntN(64, v));
  return new Uint8Array(b);
}

/** The bucket hash of a normalized value (spec appendix B). */
export function bucketHash(p: Primitive, v: unknown): number {
  switch (p.kind) {
    case "int":
    case "date":
      return murmur3(longBytes(BigInt(v as number)));
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      return murmur3(longBytes(v as bigint));
    case "decimal":
      return murmur3(bigIntToMinBytes(v as bigint));
    case "string":
      return murmur3(new Uint8Array(Buffer.from(v as string, "utf8")));
    case "uuid":
      return murmur3(uuidToBytes(v as string));
    case "binary":
    case "fixed":
      return murmur3(v as Uint8Array);
    default:
      throw new ValidationError(`bucket does not apply to ${p.kind}`);
  }
}

export interface Transform {
  name: string;
  /** The result type name (for the partition struct). */
  resultType(source: string): string;
  apply(p: Primitive, v: unknown): unknown;
  /** Human-readable partition path value. */
  toPath(p: Primitive, v: unknown): string;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}
function floorDivN(a: number, b: number): number {
  return Math.floor(a / b);
}

function daysOf(p: Primitive, v: unknown): number {
  return p.kind === "date" ? (v as number) : Number(floorDiv(v as bigint, DAY_US));
}

function ymd(days: number): [number, number, number] {
  const d = new Date(days * 86_400_000);
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Parses "identity", "bucket[16]", "truncate[4]", "year", "month", "day", "hour", "void". */
export function parseTransform(text: string, source: Primitive, where: string): Transform {
  const t = text.trim().toLowerCase();
  const timeish = ["date", "timestamp", "timestamptz"].includes(source.kind);
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new ValidationError(`${where}: transform ${text} does not apply to ${source.kind}; it needs ${what}`);
  };
  if (t === "identity") return { name: "identity", resultType: (s) => s, apply: (_p, v) => v, toPath: (p, v) => pathValue(p, v) };
  if (t === "void") return { name: "void", resultType: (s) => s, apply: () => null, toPath: () => "null" };
  if (t === "year") {
    need(timeish, "a date or timestamp");
    return { name: t, resultType: () => "int", apply: (p, v) => ymd(daysOf(p, v))[0] - 1970, toPath: (_p, v) => String(1970 + (v as number)) };
  }
  if (t === "month") {
    need(timeish, "a date or timestamp");
    return {
      name: t,
      resultType: () => "int",
      apply: (p, v) => {
        const [y, m] = ymd(daysOf(p, v));
        return (y - 1970) * 12 + (m - 1);
      },
      toPath: (_p, v) => `${1970 + floorDivN(v as number, 12)}-${pad(((((v as number) % 12) + 12) % 12) + 1)}`,
    };
  }
  if (t === "day") {
    need(timeish, "a date or timestamp");
    return {
      name: t,
      resultType: () => "date",
      apply: (p, v) => daysOf(p, v),
      toPath: (_p, v) => new Date((v as number) * 86_400_000).toISOString().slice(0, 10),
    };
  }
  if (t === "hour") {
    need(source.kind === "timestamp" || source.kind === "timestamptz", "a timestamp");
    return {
      name: t,
      resultType: () => "int",
      apply: (_p, v) => Number(floorDiv(v as bigint, HOUR_US)),
      toPath: (_p, v) => new Date((v as number) * 3_600_000).toISOString().slice(0, 13).replace("T", "-"),
    };
  }
  let m = /^bucket\[(\d+)\]$/.exec(t);
  if (m) {
    const n = Number(m[1]);
    need(n > 0 && !["boolean", "float", "double"].includes(source.kind), "a non-floating, non-boolean type and N > 0");
    return { name: t, resultType: () => "int", apply: (p, v) => (bucketHash(p, v) & 0x7fffffff) % n, toPath: (_p, v) => String(v) };
  }
  m = /^truncate\[(\d+)\]$/.exec(t);
  if (m) {
    const w = Number(m[1]);
    need(w > 0 && ["int", "long", "decimal", "string", "binary"].includes(source.kind), "int, long, decimal, string or binary and W > 0");
    return {
      name: t,
      resultType: (s) => s,
      apply: (p, v) => {
        switch (p.kind) {
          case "int":
            return (v as number) - ((((v as number) % w) + w) % w);
          case "long":
          case "decimal": {
            const W = BigInt(w);
            return (v as bigint) - ((((v as bigint) % W) + W) % W);
          }
          case "string":
            return Array.from(v as string)
              .slice(0, w)
              .join("");
          default:
            return (v as Uint8Array).subarray(0, w);
        }
      },
      toPath: (p, v) => pathValue(p, v),
    };
  }
  throw new ValidationError(`${where}: unsupported partition transform "${text}"; supported: identity, bucket[N], truncate[W], year, month, day, hour, void`);
}

function pathValue(p: Primitive, v: unknown): string {
  if (v === null || v === undefined) return "null";
  switch (p.kind) {
    case "date":
      return new Date((v as number) * 86_400_000).toISOString().slice(0, 10);
    case "binary":
    case "fixed":
      return Buffer.from(v as Uint8Array).toString("base64url");
    default:
      return String(v);
  }
}

/** Parses a user partition expression: "col", "day(col)", "bucket(16, col)", "truncate(4, col)". */
export function parsePartitionExpr(expr: string): { column: string; transform: string } {
  const m = /^\s*(\w+)\s*\(\s*(?:(\d+)\s*,\s*)?([^()]+?)\s*\)\s*$/.exec(expr);
  if (!m) return { column: expr.trim(), transform: "identity" };
  const [, fn, arg, column] = m;
  return { column, transform: arg !== undefined ? `${fn.toLowerCase()}[${arg}]` : fn.toLowerCase() };
}

/** Java Iceberg's default partition field name for a transform of a column. */
export function partitionFieldName(column: string, transform: string): string {
  if (transform === "identity") return column;
  const base = transform.replace(/\[.*$/, "");
  const suffix = base === "truncate" ? "trunc" : base === "void" ? "null" : base;
  return `${column}_${suffix}`;
}

export function sourcePrimitive(type: string): Primitive {
  return parsePrimitive(type);
}
