/**
 * Compares a Postgres table with its Iceberg copy read by an engine nobody here wrote (chdb's
 * icebergLocal), value by value (time columns to the second: chdb reads no finer; the engine tier,
 * test/engines/, compares every value exactly in pyiceberg, DuckDB, Spark and polars). Both sides are brought to one canonical text per value:
 * Postgres through the CDC writer's own text -> value converters, chdb through SQL that prints
 * each Iceberg type exactly (micros for timestamps, days for dates, hex for binary).
 */
import { Client } from "pg";
import { COLUMNS_SQL, mapColumn, PgColumn, SESSION_OPTIONS } from "../../runtime/cdc/types";
import type { NestedField } from "../../runtime/iceberg/spec";

import { chdbRows } from "./chdb";

function canon(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return v.map(canon);
  return String(v);
}

function decimalCanon(s: string): string {
  if (!s.includes(".")) return s === "-0" ? "0" : s;
  const t = s.replace(/0+$/, "").replace(/\.$/, "");
  return t === "-0" ? "0" : t;
}

/** chdb SQL for one Iceberg field that prints its value canonically. */
function chdbExpr(f: NestedField): string {
  const c = `\`${f.name}\``;
  const t = typeof f.type === "string" ? f.type : "list";
  if (t === "timestamp" || t === "timestamptz") return `toString(toUnixTimestamp64Micro(${c}))`;
  if (t === "date") return `toString(toInt32(${c}))`;
  if (t === "binary" || t.startsWith("fixed")) return `lower(hex(${c}))`;
  if (t === "list") return `toJSONString(${c})`;
  if (t === "time") return `toString(toInt64(${c}))`;
  return `toString(${c})`;
}

function chdbCanon(f: NestedField, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const t = typeof f.type === "string" ? f.type : "list";
  if (t.startsWith("decimal")) return decimalCanon(String(v));
  if (t === "double" || t === "float") {
    const s = String(v);
    const n = s === "nan" || s === "-nan" ? NaN : s === "inf" ? Infinity : s === "-inf" ? -Infinity : Number(s);
    return canon(t === "float" ? Math.fround(n) : n);
  }
  if (t === "list") return JSON.parse(String(v)).map((x: unknown) => (x === null ? null : String(x)));
  return String(v);
}

export function readIceberg(location: string, fields: NestedField[]): Record<string, unknown>[] {
  const cols = fields.map((f) => `${chdbExpr(f)} AS \`${f.name}\``).join(", ");
  return chdbRows(location, cols).map((raw) => {
    const row: Record<string, unknown> = {};
    for (const f of fields) row[f.name] = chdbCanon(f, raw[f.name]);
    return row;
  });
}

export async function readPostgres(url: string, table: string): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: url, options: SESSION_OPTIONS, types: { getTypeParser: () => (v: string) => v } } as never);
  await c.connect();
  try {
    const cols = (await c.query(COLUMNS_SQL, [table])).rows as PgColumn[];
    const mapped = cols.map((col) => ({ col, m: mapColumn(col, table) }));
    const r = await c.query({ text: `SELECT ${cols.map((x) => `"${x.name}"`).join(", ")} FROM ${table}`, rowMode: "array" });
    return r.rows.map((values: (string | null)[]) => {
      const row: Record<string, unknown> = {};
      mapped.forEach(({ col, m }, i) => {
        const v = values[i] === null ? null : m.convert(values[i] as string);
        const t = typeof m.iceberg === "string" ? m.iceberg : "list";
        if (v !== null && t.startsWith("decimal")) row[col.name] = decimalCanon(String(v));
        else if (Array.isArray(v)) row[col.name] = v.map((x) => (x === null ? null : String(canon(x))));
        // ClickHouse has no Nullable(Array): chdb reads a null list as []. A reader limit, not the writer's.
        else if (v === null && t === "list") row[col.name] = [];
        // chdb's Iceberg reader casts Parquet TIME(MICROS) to whole seconds (docs/engines.md); the engine tier checks the micros.
        else if (typeof v === "bigint" && t === "time") row[col.name] = (v / 1_000_000n).toString();
        else row[col.name] = t === "float" && typeof v === "number" ? canon(Math.fround(v)) : canon(v);
      });
      return row;
    });
  } finally {
    await c.end();
  }
}

/** Sorted canonical lines, for order-independent comparison with readable diffs. */
export const lines = (rows: Record<string, unknown>[]): string[] => rows.map((r) => JSON.stringify(r)).sort();
