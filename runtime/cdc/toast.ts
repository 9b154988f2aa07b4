/**
 * The previous version of a row, for the columns pgoutput leaves out of an update (unchanged
 * TOAST values). The table's primary-key index says which data file and position hold the live
 * version; that one row's columns are read back from the Parquet file by field id. Files read are
 * cached (a few, most recent first) because TOAST updates tend to come in runs.
 */
import { readColumnsById } from "../iceberg/parquet";
import type { Table } from "../iceberg/table";
import { parsePrimitive, Primitive } from "../iceberg/types";
import { formatDecimal } from "../iceberg/values";
import type { IcebergType, NestedField } from "../iceberg/spec";

const CACHE_FILES = 4;

function bytesToBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return b.length && b[0] & 0x80 ? v - (1n << BigInt(b.length * 8)) : v;
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A Parquet physical value back to the writer's canonical JS value. */
export function canonicalFromPhysical(type: IcebergType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof type !== "string") {
    if (type.type !== "list") throw new Error(`cannot read back a ${type.type} column`);
    return (v as unknown[]).map((x) => canonicalFromPhysical(type.element, x));
  }
  const p: Primitive = parsePrimitive(type);
  switch (p.kind) {
    case "decimal": {
      const unscaled = typeof v === "bigint" ? v : typeof v === "number" ? BigInt(v) : bytesToBigInt(v as Uint8Array);
      return formatDecimal(unscaled, p.scale);
    }
    case "uuid":
      return typeof v === "string" ? v : uuidString(v as Uint8Array);
    case "string":
      return typeof v === "string" ? v : Buffer.from(v as Uint8Array).toString("utf8");
    case "boolean":
      return Boolean(v);
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      return typeof v === "bigint" ? v : BigInt(v as number);
    default:
      return v;
  }
}

export class PreviousVersions {
  private cache = new Map<string, Map<number, unknown[] | undefined>>();

  constructor(private readonly table: Table) {}

  /** Forget cached files (after the table changed underneath, e.g. a truncate). */
  clear(): void {
    this.cache.clear();
  }

  /** The live row with this key as canonical values by column name, or null when there is none. */
  async lookup(key: Record<string, unknown>): Promise<Record<string, unknown> | null> {
    const index = this.table.pkIndex;
    if (!index) return null;
    const loc = index.get(this.table.keyOf(key));
    if (!loc) return null;
    const fields: NestedField[] = this.table.schema().fields;
    let columns = this.cache.get(loc.path);
    if (!columns) {
      const io = this.table.catalog.fileIO({ "metadata-location": this.table.metadataLocation, metadata: this.table.metadata });
      const bytes = await io.read(loc.path);
      const ids = fields.map((f) => f.id);
      const read = await readColumnsByIdLenient(bytes, ids, loc.path);
      columns = new Map<number, unknown[] | undefined>(ids.map((id, i) => [id, read[i]]));
      this.cache.set(loc.path, columns);
      if (this.cache.size > CACHE_FILES) this.cache.delete(this.cache.keys().next().value as string);
    }
    const row: Record<string, unknown> = {};
    for (const f of fields) {
      const col = columns.get(f.id);
      // A column added after this file was written reads as null, as Iceberg defines.
      row[f.name] = col ? canonicalFromPhysical(f.type, col[loc.pos]) : null;
    }
    return row;
  }
}

/** Like readColumnsById, but a field missing from an older file yields no column instead of an error. */
async function readColumnsByIdLenient(bytes: Uint8Array, ids: number[], what: string): Promise<(unknown[] | undefined)[]> {
  const out: (unknown[] | undefined)[] = [];
  for (const id of ids) {
    try {
      out.push((await readColumnsById(bytes, [id], what))[0]);
    } catch (e) {
      if (/no column with field id/.test((e as Error).message)) out.push(undefined);
      else throw e;
    }
  }
  return out;
}
