/**
 * The engine tier's client: asks the independent readers (test/helpers/engines.py: pyiceberg,
 * DuckDB, Spark, polars, one long-lived process started by engines-setup.ts) to read a floe table
 * and compare every row with Postgres, and adds chdb's read (ClickHouse's Iceberg reader, the npm
 * package floe uses) canonicalized in ClickHouse SQL. See engines.py for the canonical values.
 */
import { connect } from "node:net";
import { SqlCatalog, Table } from "../../runtime/iceberg";
import type { NestedField } from "../../runtime/iceberg/spec";
import type { CdcBed } from "./cdc";
import { chdbRows } from "./chdb";

export const ENGINES = ["pyiceberg", "duckdb", "spark", "polars", "chdb"] as const;
export type Engine = (typeof ENGINES)[number];

export interface EngineResult {
  checksum?: string;
  expected?: string;
  error?: string;
  seconds?: number;
  /** Rows present on both sides with different values: key -> column -> [Postgres, engine]. */
  differing?: Record<string, Record<string, [unknown, unknown]>>;
  rowsDiffering?: number;
  onlyPostgres?: string[];
  onlyEngine?: string[];
}

export interface Comparison {
  columns: string[];
  postgres: string;
  engines: Record<string, EngineResult>;
}

/** One request to the reader process; throws its error (with the Python trace) if it failed. */
export async function ask<T = unknown>(req: Record<string, unknown>): Promise<T> {
  const port = Number(process.env.FLOE_ENGINES_PORT);
  if (!port) throw new Error("FLOE_ENGINES_PORT is not set: the engine tier's globalSetup (test/helpers/engines-setup.ts) did not run");
  const text = await new Promise<string>((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (d) => (buf += d));
    sock.on("end", () => resolve(buf));
    sock.on("error", reject);
    sock.write(JSON.stringify(req, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
  });
  const res = JSON.parse(text) as { ok?: T; error?: string; trace?: string };
  if (res.error !== undefined) throw new Error(`engine reader: ${res.error}\n${res.trace ?? ""}`);
  return res.ok as T;
}

function kind(f: NestedField): string {
  if (typeof f.type !== "string") return f.type.type === "list" && typeof f.type.element === "string" ? `list:${f.type.element}` : "unsupported";
  return f.type;
}

/** ClickHouse SQL printing one value of an Iceberg type canonically (see engines.py). */
function chdbCanonExpr(t: string, x: string): string {
  if (t.startsWith("list:")) return `arrayMap(e -> ${chdbCanonExpr(t.slice(5), "e")}, ${x})`;
  if (t === "int" || t === "long") return `toString(${x})`;
  if (t === "float") return `if(isNaN(${x}), 'NaN', leftPad(lower(hex(reinterpretAsUInt32(${x}))), 8, '0'))`;
  if (t === "double") return `if(isNaN(${x}), 'NaN', leftPad(lower(hex(reinterpretAsUInt64(${x}))), 16, '0'))`;
  if (t.startsWith("decimal")) return `toString(${x})`;
  if (t === "date") return `toString(toInt32(${x}))`;
  if (t === "time") return `toString(toInt64(${x}))`;
  if (t === "timestamp" || t === "timestamptz") return `toString(toUnixTimestamp64Micro(${x}))`;
  if (t === "boolean") return `multiIf(isNull(${x}), NULL, ${x}, 'true', 'false')`;
  if (t === "uuid") return `lower(toString(${x}))`;
  if (t === "binary" || t.startsWith("fixed")) return `lower(hex(${x}))`;
  return `toString(${x})`;
}

/** An exact decimal without trailing zeros ("-0" -> "0"), as engines.py canon_decimal. */
function canonDecimal(s: string): string {
  let t = s;
  if (t.includes(".")) t = t.replace(/0+$/, "").replace(/\.$/, "");
  if (/^-?0*$/.test(t.replace(".", ""))) return "0";
  return t.replace(/^(-?)0+(?=\d)/, "$1");
}

/** chdb's read of the table as canonical rows (Iceberg schema order). */
export function chdbCanonicalRows(tableLocation: string, fields: NestedField[]): unknown[][] {
  const kinds = fields.map(kind);
  const select = fields.map((f, i) => `${chdbCanonExpr(kinds[i], `\`${f.name}\``)} AS \`c${i}\``).join(", ");
  return chdbRows(tableLocation, select).map((raw) =>
    fields.map((_f, i) => {
      const v = raw[`c${i}`] as unknown;
      if (v === null || v === undefined) return null;
      const k = kinds[i];
      if (k.startsWith("decimal")) return canonDecimal(String(v));
      if (k.startsWith("list:decimal")) return (v as (string | null)[]).map((e) => (e === null ? null : canonDecimal(e)));
      return v;
    }),
  );
}

/**
 * What chdb reads instead of the exact value, each a ClickHouse limitation documented in
 * docs/engines.md: a NULL list reads as [] (no Nullable(Array)); a time column reads as whole
 * seconds (its Iceberg reader casts Parquet TIME(MICROS) to Int64 seconds).
 */
export const CHDB_QUIRKS = ["null-list-as-empty", "time-in-seconds"];

export interface CompareOptions {
  /** Iceberg table name in namespace floe; defaults to the last part of the Postgres table. */
  target?: string;
  /** Database of the Postgres table; defaults to app. */
  database?: string;
  engines?: Engine[];
  /**
   * DuckDB reads on a connection of its own with these settings (e.g. enable_external_file_cache
   * false), so nothing an earlier read cached changes this one; default: the tier's connection.
   */
  duckdbSettings?: Record<string, string | number | boolean>;
}

/** Reads `pgTable`'s Iceberg copy with every engine and compares each with Postgres. */
export async function compareEngines(bed: CdcBed, pgTable: string, o: CompareOptions = {}): Promise<Comparison> {
  const target = o.target ?? pgTable.split(".").pop()!;
  const catalog: SqlCatalog = await bed.catalog();
  const table = await Table.load(catalog, { namespace: ["floe"], name: target });
  const engines = o.engines ?? [...ENGINES];
  const given: Record<string, unknown[][]> = {};
  if (engines.includes("chdb")) given.chdb = chdbCanonicalRows(table.metadata.location, table.schema().fields);
  return ask<Comparison>({
    op: "compare",
    catalog: catalogOf(bed),
    table: `floe.${target}`,
    metadata: table.metadataLocation,
    postgres: { url: bed.pg.url(o.database ?? "app"), table: pgTable },
    engines: engines.filter((e) => e !== "chdb"),
    given,
    quirks: { chdb: CHDB_QUIRKS },
    duckdbSettings: o.duckdbSettings,
  });
}

export function catalogOf(bed: CdcBed): { name: string; uri: string; warehouse: string } {
  return { name: "floe", uri: bed.pg.url("lake"), warehouse: `file://${bed.warehouse}` };
}

/** Per engine: "identical", or why not (error, or the checksums and a few differing rows). */
export function verdicts(c: Comparison): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [engine, r] of Object.entries(c.engines)) {
    if (r.error) out[engine] = `error: ${r.error.split("\n")[0].slice(0, 400)}`;
    else if (r.checksum === r.expected) out[engine] = "identical";
    else {
      const parts = [`differs: ${r.checksum} vs Postgres ${r.expected}`];
      if (r.rowsDiffering) parts.push(`${r.rowsDiffering} rows differ, e.g. (key: column: [Postgres, ${engine}]) ${JSON.stringify(r.differing)}`);
      if (r.onlyPostgres?.length) parts.push(`only in Postgres: ${r.onlyPostgres.join(" ")}`);
      if (r.onlyEngine?.length) parts.push(`only in ${engine}: ${r.onlyEngine.join(" ")}`);
      out[engine] = parts.join("; ");
    }
  }
  return out;
}

/** Expects every engine to read exactly the Postgres rows (the verdicts show what differs). */
export function expectIdentical(c: Comparison, engines: readonly string[] = ENGINES): void {
  const v = verdicts(c);
  expect(Object.fromEntries(engines.map((e) => [e, v[e]]))).toEqual(Object.fromEntries(engines.map((e) => [e, "identical"])));
}
