/**
 * Default values of fields (Iceberg v3 `initial-default` / `write-default`): the canonical JS
 * value of a type (see index.ts) to and from the spec's JSON single-value serialization
 * (https://iceberg.apache.org/spec/#json-single-value-serialization): booleans and numbers as
 * JSON, decimals as strings ("14.20"), dates "2017-11-16", times "22:31:08.123456", timestamps
 * "2017-11-16T22:31:08.123456" (with "+00:00" for timestamptz), uuids as strings, binary as hex,
 * lists as arrays. A reader fills a field's initial-default into rows of data files written before
 * the field existed (readers in this package: the previous-version lookup of the CDC writer and
 * compaction).
 */
import { ValidationError } from "./catalog";
import type { IcebergType, NestedField } from "./spec";
import { parsePrimitive, type Primitive } from "./types";
import { fieldCodec, formatDecimal } from "./values";

const DAY_US = 86_400_000_000n;

const pad = (n: number | bigint, w: number) => String(n).padStart(w, "0");

/** Days since 1970-01-01 of a proleptic Gregorian date. */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** "YYYY-MM-DD" of a day number (proleptic Gregorian, as Iceberg's date). */
function isoDate(days: number): string {
  const d = new Date(days * 86_400_000);
  const y = d.getUTCFullYear();
  return `${y < 0 ? "-" + pad(-y, 4) : pad(y, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

/** "HH:MM:SS.ffffff" of microseconds since midnight. */
function isoTime(us: bigint): string {
  const s = us / 1_000_000n;
  return `${pad(s / 3600n, 2)}:${pad((s / 60n) % 60n, 2)}:${pad(s % 60n, 2)}.${pad(us % 1_000_000n, 6)}`;
}

function micros(p: Primitive, text: string, where: string): bigint {
  const m = /^(-?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!m) throw new ValidationError(`${where}: "${text}" is not an ISO-8601 ${p.kind}`);
  const secs = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3])) * 86400 + Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]);
  let us = BigInt(secs) * 1_000_000n + BigInt(((m[7] ?? "") + "000000").slice(0, 6));
  if (m[8] && m[8] !== "Z") {
    const sign = m[8][0] === "-" ? -1n : 1n;
    us -= sign * BigInt(Number(m[8].slice(1, 3)) * 3600 + Number(m[8].slice(4, 6)) * 60) * 1_000_000n;
  }
  return us;
}

function primitiveToJson(p: Primitive, v: unknown): unknown {
  switch (p.kind) {
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz": {
      const n = v as bigint;
      if (p.kind === "long") return Number.isSafeInteger(Number(n)) ? Number(n) : n; // a bigint is written as a bare JSON integer
      if (p.kind === "time") return isoTime(n);
      const day = ((n % DAY_US) + DAY_US) % DAY_US;
      const text = `${isoDate(Number((n - day) / DAY_US))}T${isoTime(day)}`;
      return p.kind === "timestamptz" ? `${text}+00:00` : text;
    }
    case "decimal":
      return formatDecimal(v as bigint, p.scale);
    case "date":
      return isoDate(v as number);
    case "binary":
    case "fixed":
      return Buffer.from(v as Uint8Array)
        .toString("hex")
        .toUpperCase();
    default:
      return v; // boolean, int, float, double, string, uuid
  }
}

/** A canonical value of `type` in JSON single-value form (null stays null). */
export function defaultToJson(field: NestedField, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const codec = fieldCodec(field);
  const v = codec.normalize(value, `default of column "${field.name}"`);
  if (codec.isList) return (v as unknown[]).map((x) => (x === null ? null : primitiveToJson(codec.primitive, x)));
  return primitiveToJson(codec.primitive, v);
}

function primitiveFromJson(p: Primitive, j: unknown, where: string): unknown {
  const bad = (): never => {
    throw new ValidationError(`${where}: ${JSON.stringify(j)} is not a JSON single value of type ${p.kind}`);
  };
  switch (p.kind) {
    case "boolean":
      return typeof j === "boolean" ? j : bad();
    case "int":
    case "float":
    case "double":
      return typeof j === "number" ? j : bad();
    case "long":
      return typeof j === "number" || typeof j === "bigint" ? BigInt(j) : typeof j === "string" && /^-?\d+$/.test(j) ? BigInt(j) : bad();
    case "decimal":
    case "string":
    case "uuid":
      return typeof j === "string" ? j : bad();
    case "date":
      return typeof j === "string" && /^-?\d{4,}-\d{2}-\d{2}$/.test(j) ? Number(micros(p, `${j}T00:00:00`, where) / DAY_US) : bad();
    case "time": {
      const m = typeof j === "string" ? /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(j) : null;
      if (!m) return bad();
      return BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n + BigInt(((m[4] ?? "") + "000000").slice(0, 6));
    }
    case "timestamp":
    case "timestamptz":
      return typeof j === "string" ? micros(p, j, where) : bad();
    case "binary":
    case "fixed":
      return typeof j === "string" && /^([0-9a-fA-F]{2})*$/.test(j) ? new Uint8Array(Buffer.from(j, "hex")) : bad();
  }
}

/** A JSON single value of `type` as its canonical JS value. */
export function defaultFromJson(type: IcebergType, json: unknown, where = "default value"): unknown {
  if (json === null || json === undefined) return null;
  if (typeof type !== "string") {
    if (type.type !== "list" || typeof type.element !== "string" || !Array.isArray(json))
      throw new ValidationError(`${where}: ${JSON.stringify(json)} is not a default of type ${JSON.stringify(type)}`);
    const p = parsePrimitive(type.element);
    return json.map((x) => (x === null ? null : primitiveFromJson(p, x, where)));
  }
  return primitiveFromJson(parsePrimitive(type), json, where);
}

/** The canonical value rows of data files written before the field existed hold (null without an initial-default). */
export function initialDefault(field: NestedField): unknown {
  return defaultFromJson(field.type, field["initial-default"], `initial-default of column "${field.name}"`);
}
