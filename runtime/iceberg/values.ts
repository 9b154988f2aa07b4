/**
 * Canonical JS values -> normalized values, Parquet column values, and Iceberg column stats
 * (value/null/NaN counts and lower/upper bounds in Iceberg's single-value binary serialization).
 * Pure functions: the planning half of data-file writing.
 */
import { ValidationError } from "./catalog";
import type { IcebergType, NestedField } from "./spec";
import { parsePrimitive, type Primitive } from "./types";

const MAX_BOUND_CHARS = 16;
const MAX_BOUND_BYTES = 16;
const DAY_MS = 86_400_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** Normalizes one canonical JS value of a primitive type. `where` names the column for errors. */
export type Normalizer = (v: unknown, where: string) => unknown;

function fail(where: string, expected: string, v: unknown): never {
  const shown = typeof v === "bigint" ? `${v}n` : typeof v === "object" && v !== null ? Object.prototype.toString.call(v) : JSON.stringify(v);
  throw new ValidationError(`${where}: expected ${expected}, got ${shown}`);
}

/** Parses an exact decimal string into its unscaled bigint at `scale`. */
export function parseDecimal(text: string, precision: number, scale: number, where = "decimal"): bigint {
  const fast = parseDecimalFast(text, precision, scale);
  if (fast !== undefined) return fast;
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) fail(where, `a decimal string like "-12.34"`, text);
  let frac = m[3] ?? "";
  if (frac.length > scale) {
    if (/[^0]/.test(frac.slice(scale))) throw new ValidationError(`${where}: ${text} has more than ${scale} fraction digits (decimal(${precision},${scale}))`);
    frac = frac.slice(0, scale);
  }
  const digits = (m[2] + frac.padEnd(scale, "0")).replace(/^0+(?=\d)/, "") || "0";
  if (digits.replace(/^0+/, "").length > precision) throw new ValidationError(`${where}: ${text} does not fit decimal(${precision},${scale})`);
  const unscaled = BigInt(digits);
  return m[1] === "-" ? -unscaled : unscaled;
}

/**
 * parseDecimal for the common input "[-]digits[.digits]" whose fraction fits the scale and whose
 * unscaled value is a safe integer: no regex, one number, one bigint. Undefined otherwise (the
 * general path decides, with its errors).
 */
function parseDecimalFast(text: string, precision: number, scale: number): bigint | undefined {
  const n = text.length;
  let i = 0;
  const neg = n > 0 && text.charCodeAt(0) === 45;
  if (neg) i = 1;
  let v = 0;
  let digits = 0; // significant digits (leading zeros skipped)
  let intDigits = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    intDigits++;
    if (v !== 0 || c !== 0) digits++;
    v = v * 10 + c;
  }
  let frac = 0;
  if (i < n) {
    if (text.charCodeAt(i) !== 46) return undefined;
    for (i++; i < n; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9 || frac === scale) return undefined;
      if (v !== 0 || c !== 0) digits++;
      v = v * 10 + c;
      frac++;
    }
  }
  if (intDigits === 0 || digits > 15) return undefined;
  for (; frac < scale; frac++) {
    v *= 10;
    if (v !== 0) digits++;
  }
  if (digits > precision || !Number.isSafeInteger(v)) return undefined;
  return BigInt(neg ? -v : v);
}

/** Formats an unscaled decimal back to its canonical string ("-12.340"). */
export function formatDecimal(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  const s = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, "0");
  const body = scale > 0 ? `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}` : s;
  return neg ? `-${body}` : body;
}

export function normalizer(p: Primitive): Normalizer {
  switch (p.kind) {
    case "boolean":
      return (v, w) => (typeof v === "boolean" ? v : fail(w, "a boolean", v));
    case "int":
      return (v, w) => {
        if (typeof v === "number" && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) return v;
        if (typeof v === "bigint" && v >= INT32_MIN && v <= INT32_MAX) return Number(v);
        return fail(w, "an int32 number", v);
      };
    case "long":
      return (v, w) => {
        if (typeof v === "bigint" && v >= LONG_MIN && v <= LONG_MAX) return v;
        if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
        if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
        return fail(w, "a bigint (int64)", v);
      };
    case "float":
    case "double":
      return (v, w) => (typeof v === "number" ? v : fail(w, "a number", v));
    case "decimal":
      return (v, w) => {
        if (typeof v === "string") return parseDecimal(v, p.precision, p.scale, w);
        if (typeof v === "bigint") return parseDecimal(v.toString(), p.precision, p.scale, w);
        if (typeof v === "number" && Number.isSafeInteger(v)) return parseDecimal(String(v), p.precision, p.scale, w);
        return fail(w, `a decimal string (exact), e.g. "12.30"`, v);
      };
    case "date":
      return (v, w) => {
        if (typeof v === "number" && Number.isInteger(v)) return v;
        if (typeof v === "string" && /^-?\d{4,}-\d{2}-\d{2}$/.test(v)) {
          const ms = Date.parse(`${v}T00:00:00Z`);
          if (!Number.isNaN(ms)) return Math.floor(ms / DAY_MS);
        }
        if (v instanceof Date) return Math.floor(v.getTime() / DAY_MS);
        return fail(w, `days since epoch or "YYYY-MM-DD"`, v);
      };
    case "time":
    case "timestamp":
    case "timestamptz":
      return (v, w) => {
        if (typeof v === "bigint") return v;
        if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
        if (v instanceof Date && p.kind !== "time") return BigInt(v.getTime()) * 1000n;
        return fail(w, "bigint microseconds", v);
      };
    case "string":
      return (v, w) => (typeof v === "string" ? v : fail(w, "a string", v));
    case "uuid":
      return (v, w) => {
        if (typeof v === "string") {
          const s = v.toLowerCase();
          if (UUID_RE.test(s)) return s;
        }
        return fail(w, "a uuid string", v);
      };
    case "binary":
      return (v, w) => (v instanceof Uint8Array ? v : fail(w, "a Uint8Array", v));
    case "fixed":
      return (v, w) => (v instanceof Uint8Array && v.length === p.length ? v : fail(w, `a Uint8Array of ${p.length} bytes`, v));
  }
}

// ---- ordering (Iceberg's: signed numbers, unsigned bytes, strings by UTF-8 bytes) -----------

/** Compares two strings by Unicode code point (= UTF-8 byte order). */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1; // a surrogate pair encodes a code point above any BMP char
    return x - y;
  }
  return a.length - b.length;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function comparator(p: Primitive): (a: any, b: any) => number {
  switch (p.kind) {
    case "string":
      return compareUtf8;
    case "binary":
    case "fixed":
      return compareBytes;
    case "boolean":
      return (a: boolean, b: boolean) => Number(a) - Number(b);
    case "float":
    case "double":
      // Iceberg orders -0.0 before 0.0.
      return (a: number, b: number) => (a < b ? -1 : a > b ? 1 : Object.is(a, b) ? 0 : Object.is(a, -0) ? -1 : 1);
    default:
      return (a: any, b: any) => (a < b ? -1 : a > b ? 1 : 0);
  }
}

// ---- single-value binary serialization --------------------------------------------------------

/** Two's-complement big-endian with the minimum number of bytes. */
export function bigIntToMinBytes(v: bigint): Uint8Array {
  const bytes: number[] = [];
  for (;;) {
    const byte = Number(v & 0xffn);
    bytes.unshift(byte);
    v >>= 8n;
    if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
  }
  return new Uint8Array(bytes);
}

export function uuidToBytes(u: string): Uint8Array {
  const hex = u.replace(/-/g, "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Serializes a normalized value as an Iceberg bound (spec: "Binary single-value serialization"). */
export function toBound(p: Primitive, v: unknown): Uint8Array {
  const b = Buffer.alloc(8);
  switch (p.kind) {
    case "boolean":
      return new Uint8Array([v ? 1 : 0]);
    case "int":
    case "date":
      b.writeInt32LE(v as number);
      return new Uint8Array(b.subarray(0, 4));
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      b.writeBigInt64LE(v as bigint);
      return new Uint8Array(b);
    case "float":
      b.writeFloatLE(v as number);
      return new Uint8Array(b.subarray(0, 4));
    case "double":
      b.writeDoubleLE(v as number);
      return new Uint8Array(b);
    case "decimal":
      return bigIntToMinBytes(v as bigint);
    case "string":
      return new Uint8Array(Buffer.from(v as string, "utf8"));
    case "uuid":
      return uuidToBytes(v as string);
    case "binary":
    case "fixed":
      return v as Uint8Array;
  }
}

/** Lower bound for a string: a prefix of at most 16 code points. */
export function truncateLower(s: string): string {
  const cps = Array.from(s);
  return cps.length <= MAX_BOUND_CHARS ? s : cps.slice(0, MAX_BOUND_CHARS).join("");
}

/** Upper bound for a string: a ≤16-code-point string ≥ s, or undefined if none exists. */
export function truncateUpper(s: string): string | undefined {
  const cps = Array.from(s);
  if (cps.length <= MAX_BOUND_CHARS) return s;
  const head = cps.slice(0, MAX_BOUND_CHARS).map((c) => c.codePointAt(0)!);
  for (let i = head.length - 1; i >= 0; i--) {
    let next = head[i] + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next <= 0x10ffff) return String.fromCodePoint(...head.slice(0, i), next);
  }
  return undefined;
}

export function truncateBinaryUpper(b: Uint8Array): Uint8Array | undefined {
  if (b.length <= MAX_BOUND_BYTES) return b;
  const head = Array.from(b.subarray(0, MAX_BOUND_BYTES));
  for (let i = head.length - 1; i >= 0; i--) {
    if (head[i] < 0xff) return new Uint8Array([...head.slice(0, i), head[i] + 1]);
  }
  return undefined;
}

// ---- per-column stats -------------------------------------------------------------------------

export interface ColumnStats {
  valueCount: number;
  nullCount: number;
  nanCount?: number;
  lower?: Uint8Array;
  upper?: Uint8Array;
}

/** Min and max of an int64 column held in a BigInt64Array, compared on its 32-bit halves (no bigint per value). */
function int64Bounds(a: BigInt64Array): [bigint, bigint] {
  const h = new Int32Array(a.buffer, a.byteOffset, a.length * 2);
  let minHi = h[1];
  let minLo = h[0] >>> 0;
  let maxHi = minHi;
  let maxLo = minLo;
  for (let i = 1; i < a.length; i++) {
    const hi = h[2 * i + 1];
    const lo = h[2 * i] >>> 0;
    if (hi < minHi || (hi === minHi && lo < minLo)) {
      minHi = hi;
      minLo = lo;
    }
    if (hi > maxHi || (hi === maxHi && lo > maxLo)) {
      maxHi = hi;
      maxLo = lo;
    }
  }
  return [BigInt(minHi) * 4294967296n + BigInt(minLo), BigInt(maxHi) * 4294967296n + BigInt(maxLo)];
}

/** Computes Iceberg stats of one primitive column from normalized values (null = null). */
export function columnStats(p: Primitive, values: readonly unknown[]): ColumnStats {
  if ((values as unknown) instanceof BigInt64Array && values.length > 0 && p.kind !== "int") {
    // int64 values without nulls (long, time, timestamps, decimals up to 18 digits)
    const [min, max] = int64Bounds(values as unknown as BigInt64Array);
    return { valueCount: values.length, nullCount: 0, lower: toBound(p, min), upper: toBound(p, max) };
  }
  const cmp = comparator(p);
  const isFloat = p.kind === "float" || p.kind === "double";
  let nulls = 0;
  let nans = 0;
  let min: unknown;
  let max: unknown;
  let has = false;
  for (const v of values) {
    if (v === null || v === undefined) {
      nulls++;
      continue;
    }
    if (isFloat && Number.isNaN(v)) {
      nans++;
      continue;
    }
    if (!has) {
      min = max = v;
      has = true;
    } else {
      if (cmp(v, min) < 0) min = v;
      if (cmp(v, max) > 0) max = v;
    }
  }
  const stats: ColumnStats = { valueCount: values.length, nullCount: nulls };
  if (isFloat) stats.nanCount = nans;
  if (has) {
    if (p.kind === "string") {
      stats.lower = toBound(p, truncateLower(min as string));
      const up = truncateUpper(max as string);
      if (up !== undefined) stats.upper = toBound(p, up);
    } else if (p.kind === "binary") {
      stats.lower = (min as Uint8Array).subarray(0, MAX_BOUND_BYTES);
      stats.upper = truncateBinaryUpper(max as Uint8Array);
    } else {
      // -0.0 and 0.0: Iceberg orders -0 < 0; a bound of 0 for a -0 min would be wrong.
      stats.lower = toBound(p, min);
      stats.upper = toBound(p, max);
    }
  }
  return stats;
}

// ---- fields ---------------------------------------------------------------------------------

/** How one top-level field is converted: normalizer for the value (lists: per element). */
export interface FieldCodec {
  field: NestedField;
  primitive: Primitive;
  isList: boolean;
  elementRequired: boolean;
  elementId?: number;
  normalize: Normalizer;
}

export function fieldCodec(field: NestedField): FieldCodec {
  const t: IcebergType = field.type;
  if (typeof t === "string") {
    const p = parsePrimitive(t, `column "${field.name}"`);
    return { field, primitive: p, isList: false, elementRequired: true, normalize: normalizer(p) };
  }
  if (t.type === "list" && typeof t.element === "string") {
    const p = parsePrimitive(t.element, `column "${field.name}" element`);
    const el = normalizer(p);
    const elementRequired = t["element-required"];
    return {
      field,
      primitive: p,
      isList: true,
      elementRequired,
      elementId: t["element-id"],
      normalize: (v, w) => {
        if (!Array.isArray(v)) return fail(w, "an array", v);
        return v.map((x, i) => {
          if (x === null || x === undefined) {
            if (elementRequired) throw new ValidationError(`${w}[${i}]: null element in a list with required elements`);
            return null;
          }
          return el(x, `${w}[${i}]`);
        });
      },
    };
  }
  throw new ValidationError(`column "${field.name}": unsupported type ${JSON.stringify(t)}`);
}

/** Normalizes rows into columns (one array of normalized values per field), validating nulls. */
export function toColumns(codecs: FieldCodec[], rows: readonly Record<string, unknown>[]): unknown[][] {
  const names = new Set(codecs.map((c) => c.field.name));
  for (let r = 0; r < rows.length; r++) {
    for (const k in rows[r]) {
      if (!names.has(k)) {
        throw new ValidationError(`row ${r} has column "${k}", which is not in the table schema (columns: ${[...names].join(", ")}); evolve the schema first`);
      }
    }
  }
  const cols = codecs.map(() => new Array<unknown>(rows.length));
  for (let c = 0; c < codecs.length; c++) {
    const codec = codecs[c];
    const name = codec.field.name;
    const col = cols[c];
    for (let r = 0; r < rows.length; r++) {
      const v = rows[r][name];
      if (v === null || v === undefined) {
        if (codec.field.required) throw new ValidationError(`column "${name}" is required but row ${r} has no value`);
        col[r] = null;
      } else col[r] = codec.normalize(v, `column "${name}"`);
    }
  }
  return cols;
}

// ---- physical Parquet values back to canonical JS values ------------------------------------

function signedBytes(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return b.length && b[0] & 0x80 ? v - (1n << BigInt(b.length * 8)) : v;
}

/**
 * A physical value as returned by parquet.ts readColumnsById (written by any Iceberg writer,
 * possibly with an older, narrower type) -> the canonical JS value of `type` (see index.ts).
 */
export function canonicalFromPhysical(type: IcebergType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof type !== "string") {
    if (type.type === "list") return (v as unknown[]).map((x) => canonicalFromPhysical(type.element, x));
    throw new ValidationError(`cannot convert a value of type ${JSON.stringify(type)}`);
  }
  const p = parsePrimitive(type);
  switch (p.kind) {
    case "int":
    case "date":
      return Number(v);
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      return BigInt(v as number | bigint);
    case "float":
    case "double":
      return Number(v);
    case "decimal":
      return formatDecimal(v instanceof Uint8Array ? signedBytes(v) : BigInt(v as number | bigint), p.scale);
    case "string":
      return typeof v === "string" ? v : Buffer.from(v as Uint8Array).toString("utf8");
    case "uuid": {
      if (typeof v === "string") return v.toLowerCase();
      const h = Buffer.from(v as Uint8Array).toString("hex");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case "binary":
    case "fixed":
      return v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer);
    case "boolean":
      return Boolean(v);
  }
}
