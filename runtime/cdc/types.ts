/**
 * Postgres types -> Iceberg types, and Postgres text values -> the Iceberg writer's JS values.
 * Pure functions: table-tested in test/unit/cdc/types.test.ts.
 *
 * The text forms are the ones Postgres emits with the session settings in SESSION_OPTIONS
 * (ISO dates, UTC, hex bytea, shortest-exact floats), which the writer sets on every connection,
 * replication and snapshot alike, so both paths decode the same way.
 */
import { parse as parseArray } from "postgres-array";
import type { ColumnType } from "../iceberg/types";

export const SESSION_OPTIONS = "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex";

/** One column as read from pg_attribute/pg_type, with domains already resolved to their base. */
export interface PgColumn {
  name: string;
  /** Column number in pg_attribute: stable across renames, never reused after a drop. */
  attnum: number;
  /** Base type name in pg_catalog (int4, numeric, _text for text[] ...). */
  typeName: string;
  /** 'b' base, 'e' enum, 'c' composite, 'r' range, 'm' multirange, 'p' pseudo. */
  typType: string;
  typeMod: number;
  /** For arrays: the element's base type name and kind. */
  elemTypeName?: string;
  elemTypType?: string;
  notNull: boolean;
  /** format_type() of the declared type, for messages. */
  declared: string;
}

export type Converter = (text: string) => unknown;

export interface MappedType {
  /** Iceberg primitive type name, or a list of one. */
  iceberg: ColumnType;
  convert: Converter;
}

export class UnsupportedTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedTypeError";
  }
}

// ---- scalar converters ------------------------------------------------------------------------

const toInt: Converter = (t) => Number(t);
const toLong: Converter = (t) => BigInt(t);
const toText: Converter = (t) => t;
const toBool: Converter = (t) => t === "t" || t === "true";
const toFloat: Converter = (t) => (t === "NaN" ? NaN : t === "Infinity" ? Infinity : t === "-Infinity" ? -Infinity : Number(t));
/**
 * A real is a float4: its text (shortest-exact for float4) parsed as a double is not the float4
 * value. Rounded to float4 here, it widens exactly when the column later becomes double precision
 * (as Postgres widens it: -16856.154 is held as -16856.154296875).
 */
const toFloat4: Converter = (t) => Math.fround(toFloat(t) as number);
const toBytes: Converter = (t) => {
  if (!t.startsWith("\\x")) throw new Error(`bytea value is not in hex form (bytea_output=hex expected): ${t.slice(0, 20)}`);
  return new Uint8Array(Buffer.from(t.slice(2), "hex"));
};
const toDecimal: Converter = (t) => {
  if (!/^-?\d+(\.\d+)?$/.test(t)) throw new Error(`numeric value ${t} cannot be stored in an Iceberg decimal (NaN and infinities have no decimal form)`);
  return t;
};

/** Days since 1970-01-01 for a proleptic Gregorian date (astronomical year numbering). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const DATE_RE = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/;
export function parseDate(t: string): number {
  if (t.length === 10 && t.charCodeAt(4) === 45 && t.charCodeAt(7) === 45) {
    const y1 = digits2(t, 0);
    const y2 = digits2(t, 2);
    const mo = digits2(t, 5);
    const d = digits2(t, 8);
    if (y1 >= 0 && y2 >= 0 && mo >= 0 && d >= 0) return daysFromCivil(y1 * 100 + y2, mo, d);
  }
  const m = DATE_RE.exec(t);
  if (!m) throw new Error(`date value ${t} cannot be stored in Iceberg (infinite dates have no Iceberg form)`);
  const year = m[4] ? 1 - Number(m[1]) : Number(m[1]);
  return daysFromCivil(year, Number(m[2]), Number(m[3]));
}

function fractionMicros(frac: string | undefined): bigint {
  return frac ? BigInt((frac + "000000").slice(0, 6)) : 0n;
}

const TIME_RE = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
export function parseTime(t: string): bigint {
  const m = TIME_RE.exec(t);
  if (!m) throw new Error(`time value ${t} is not in HH:MM:SS[.ffffff] form`);
  return BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n + fractionMicros(m[4]);
}

const TS_RE = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::(\d{2}))?)?( BC)?$/;

/** The two decimal digits at t[i], t[i+1] as a number, or -1. */
function digits2(t: string, i: number): number {
  const a = t.charCodeAt(i) - 48;
  const b = t.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The common form of parseTimestamp's input without a regex or intermediate bigints: a
 * four-digit year AD, "YYYY-MM-DD HH:MM:SS[.f{1,6}][±HH[[:]MM][:SS]]", within ±285 years of
 * 1970 (the microseconds fit a double exactly). Undefined for anything else: the regex decides.
 */
function parseTimestampFast(t: string): bigint | undefined {
  const n = t.length;
  if (n < 19 || t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(10) !== 32 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58)
    return undefined;
  const y1 = digits2(t, 0);
  const y2 = digits2(t, 2);
  const mo = digits2(t, 5);
  const d = digits2(t, 8);
  const h = digits2(t, 11);
  const mi = digits2(t, 14);
  const s = digits2(t, 17);
  if (y1 < 0 || y2 < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return undefined;
  let i = 19;
  let frac = 0;
  if (i < n && t.charCodeAt(i) === 46) {
    let k = 0;
    for (i++; i < n && k < 7; i++, k++) {
      const c = t.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      frac = frac * 10 + c;
    }
    if (k === 0 || k > 6) return undefined;
    for (; k < 6; k++) frac *= 10;
  }
  let off = 0;
  if (i < n) {
    const sign = t.charCodeAt(i);
    if (sign !== 43 && sign !== 45) return undefined;
    const oh = digits2(t, i + 1);
    if (oh < 0) return undefined;
    i += 3;
    let om = 0;
    let os = 0;
    if (i < n) {
      if (t.charCodeAt(i) === 58) i++;
      om = digits2(t, i);
      if (om < 0) return undefined;
      i += 2;
      if (i < n) {
        if (t.charCodeAt(i) !== 58) return undefined;
        os = digits2(t, i + 1);
        if (os < 0) return undefined;
        i += 3;
      }
    }
    if (i !== n) return undefined;
    off = oh * 3600 + om * 60 + os;
    if (sign === 45) off = -off;
  }
  const secs = daysFromCivil(y1 * 100 + y2, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
  const micros = secs * 1_000_000 + frac;
  return Number.isSafeInteger(micros) ? BigInt(micros) : undefined;
}

/** Microseconds since the Unix epoch; an explicit offset (timestamptz) is folded into UTC. */
export function parseTimestamp(t: string): bigint {
  const fast = parseTimestampFast(t);
  if (fast !== undefined) return fast;
  const m = TS_RE.exec(t);
  if (!m) throw new Error(`timestamp value ${t} cannot be stored in Iceberg (infinite timestamps have no Iceberg form)`);
  const year = m[12] ? 1 - Number(m[1]) : Number(m[1]);
  const days = BigInt(daysFromCivil(year, Number(m[2]), Number(m[3])));
  let secs = days * 86400n + BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]));
  if (m[8]) {
    const off = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
    secs -= BigInt(m[8] === "-" ? -off : off);
  }
  return secs * 1_000_000n + fractionMicros(m[7]);
}

const SCALARS: Record<string, MappedType> = {
  int2: { iceberg: "int", convert: toInt },
  int4: { iceberg: "int", convert: toInt },
  int8: { iceberg: "long", convert: toLong },
  oid: { iceberg: "long", convert: toLong },
  float4: { iceberg: "float", convert: toFloat4 },
  float8: { iceberg: "double", convert: toFloat },
  bool: { iceberg: "boolean", convert: toBool },
  text: { iceberg: "string", convert: toText },
  varchar: { iceberg: "string", convert: toText },
  bpchar: { iceberg: "string", convert: toText },
  char: { iceberg: "string", convert: toText },
  name: { iceberg: "string", convert: toText },
  citext: { iceberg: "string", convert: toText },
  uuid: { iceberg: "uuid", convert: toText },
  date: { iceberg: "date", convert: parseDate },
  time: { iceberg: "time", convert: parseTime },
  timestamp: { iceberg: "timestamp", convert: parseTimestamp },
  timestamptz: { iceberg: "timestamptz", convert: parseTimestamp },
  bytea: { iceberg: "binary", convert: toBytes },
  // Types with no Iceberg counterpart keep their exact, canonical Postgres text form.
  json: { iceberg: "string", convert: toText },
  jsonb: { iceberg: "string", convert: toText },
  interval: { iceberg: "string", convert: toText },
  timetz: { iceberg: "string", convert: toText },
  inet: { iceberg: "string", convert: toText },
  cidr: { iceberg: "string", convert: toText },
  macaddr: { iceberg: "string", convert: toText },
  macaddr8: { iceberg: "string", convert: toText },
  money: { iceberg: "string", convert: toText },
  xml: { iceberg: "string", convert: toText },
  bit: { iceberg: "string", convert: toText },
  varbit: { iceberg: "string", convert: toText },
  tsvector: { iceberg: "string", convert: toText },
  tsquery: { iceberg: "string", convert: toText },
  point: { iceberg: "string", convert: toText },
  line: { iceberg: "string", convert: toText },
  lseg: { iceberg: "string", convert: toText },
  box: { iceberg: "string", convert: toText },
  path: { iceberg: "string", convert: toText },
  polygon: { iceberg: "string", convert: toText },
  circle: { iceberg: "string", convert: toText },
  pg_lsn: { iceberg: "string", convert: toText },
};

/** numeric(p,s) with p <= 38 is an Iceberg decimal; unconstrained or wider numerics keep exact text. */
function numeric(typeMod: number): MappedType {
  if (typeMod < 4) return { iceberg: "string", convert: toText };
  const precision = ((typeMod - 4) >> 16) & 0xffff;
  const scale = (typeMod - 4) & 0xffff;
  if (precision > 38 || scale > precision) return { iceberg: "string", convert: toText };
  return { iceberg: `decimal(${precision},${scale})`, convert: toDecimal };
}

function scalar(typeName: string, typType: string, typeMod: number): MappedType | undefined {
  if (typType === "e") return { iceberg: "string", convert: toText };
  if (typType === "r" || typType === "m") return { iceberg: "string", convert: toText };
  if (typeName === "numeric") return numeric(typeMod);
  return SCALARS[typeName];
}

export function mapColumn(col: PgColumn, table: string): MappedType {
  const fail = () =>
    new UnsupportedTypeError(
      `${table}.${col.name} has type ${col.declared}, which floe cannot map to Iceberg; ` + `change the column type, or leave the table out of the publication`,
    );
  if (col.elemTypeName) {
    const elem = scalar(col.elemTypeName, col.elemTypType ?? "b", col.typeMod);
    if (!elem || typeof elem.iceberg !== "string") throw fail();
    const convertElem = elem.convert;
    return {
      iceberg: { list: elem.iceberg },
      convert: (t) => {
        const values = parseArray(t, (v) => (v === null ? null : convertElem(v)));
        if (values.some(Array.isArray)) throw new Error(`${table}.${col.name}: multi-dimensional arrays cannot be stored as an Iceberg list`);
        return values;
      },
    };
  }
  const mapped = scalar(col.typeName, col.typType, col.typeMod);
  if (!mapped) throw fail();
  return mapped;
}

/** Catalog query: the live columns of a table with domains resolved to base types. */
export const COLUMNS_SQL = `
WITH RECURSIVE cols AS (
  SELECT a.attnum, a.attname, a.attnotnull, a.atttypid AS typid, a.atttypmod AS typmod,
         format_type(a.atttypid, a.atttypmod) AS declared
  FROM pg_attribute a
  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
), base(attnum, typid, typmod, depth) AS (
  SELECT attnum, typid, typmod, 0 FROM cols
  UNION ALL
  SELECT b.attnum, t.typbasetype, CASE WHEN b.typmod = -1 THEN t.typtypmod ELSE b.typmod END, b.depth + 1
  FROM base b JOIN pg_type t ON t.oid = b.typid WHERE t.typtype = 'd'
)
SELECT c.attnum, c.attname AS name, c.attnotnull AS "notNull", c.declared,
       t.typname AS "typeName", t.typtype AS "typType", b.typmod AS "typeMod",
       e.typname AS "elemTypeName", e.typtype AS "elemTypType"
FROM cols c
JOIN LATERAL (SELECT * FROM base WHERE base.attnum = c.attnum ORDER BY depth DESC LIMIT 1) b ON true
JOIN pg_type t ON t.oid = b.typid
LEFT JOIN pg_type e ON t.typcategory = 'A' AND e.oid = t.typelem
ORDER BY c.attnum`;

/** Catalog query: primary key column names in key order. */
export const PRIMARY_KEY_SQL = `
SELECT a.attname AS name
FROM pg_index i
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::regclass AND i.indisprimary
ORDER BY k.ord`;
