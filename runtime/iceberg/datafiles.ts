/**
 * Writing data files: rows or normalized columns of the current schema become Parquet files of the
 * default partition spec (grouped by partition tuple, sorted by the table's sort order, at most
 * `rowsPerFile` rows each) and their manifest records with Iceberg column stats. Also the column
 * batches of the bulk path (ColumnBatch) and their normalization. Nothing is committed here: the
 * caller records each path written in its `files` list and commits (or deletes) them.
 */
import { randomUUID } from "crypto";
import { CorruptMetadataError, ValidationError } from "./catalog";
import { decimalBytes } from "./avro";
import { CONTENT_DATA, type DataFileRecord } from "./manifests";
import { icebergMetrics } from "./metrics";
import { writeDataFile } from "./parquet-write";
import { isNumericKey, joinKey, keyPartFromNormalized, numericKey, type IndexKey } from "./pkindex";
import type { Row, TableOps } from "./table-ops";
import { parseTransform } from "./transforms";
import { parsePrimitive, type Primitive } from "./types";
import type { IcebergType, PartitionSpec, Schema, SortOrder } from "./spec";
import { bigIntToMinBytes, canonicalFromPhysical, columnStats, comparator, fieldCodec, toColumns, uuidToBytes, type FieldCodec } from "./values";

/** A data file written for a commit: its manifest record, the keys of its rows (primary-key tables) and its spec. */
export interface NewDataFile {
  record: DataFileRecord;
  keys: IndexKey[];
  specId: number;
}

/** Writes rows (already validated into columns) as data files of the default spec. */
export async function writeDataFiles(ops: TableOps, rows: Row[], keys: IndexKey[] | undefined, files: string[]): Promise<NewDataFile[]> {
  if (rows.length === 0) return [];
  const codecs = ops.schema().fields.map(fieldCodec);
  return writeColumns(ops, codecs, toColumns(codecs, rows), rows.length, keys, files);
}

/**
 * What encoding data files needs of a table: the schema written (its fields are the codecs'
 * order), the default partition spec and sort order, the location and the rows per file. Plain
 * data: a worker thread encodes files for it (runtime/cdc/copy-worker.ts).
 */
export interface FileLayout {
  schema: Schema;
  spec: PartitionSpec;
  sortOrder?: SortOrder;
  location: string;
  rowsPerFile: number;
}

/** The layout of `ops`' new data files, in `schema` (the current one unless a staged one is written). */
export function fileLayout(ops: TableOps, schema: Schema = ops.schema(), rowsPerFile = ops.options.rowsPerFile): FileLayout {
  const m = ops.metadata;
  return {
    schema,
    spec: ops.spec(),
    sortOrder: m["sort-orders"].find((o) => o["order-id"] === m["default-sort-order-id"]),
    location: ops.location,
    rowsPerFile,
  };
}

/** A data file encoded and not written yet: its path, its bytes, and what NewDataFile records. */
export interface EncodedFile extends NewDataFile {
  path: string;
  bytes: Uint8Array;
}

/** Writes normalized columns as data files (encodeColumns), one after another. */
export async function writeColumns(
  ops: TableOps,
  codecs: FieldCodec[],
  columns: (unknown[] | BigInt64Array)[],
  rowCount: number,
  keys: IndexKey[] | undefined,
  files: string[],
  rowsPerFile = ops.options.rowsPerFile,
): Promise<NewDataFile[]> {
  const out: NewDataFile[] = [];
  for (const f of encodeColumns(fileLayout(ops, ops.schema(), rowsPerFile), codecs, columns, rowCount, keys)) out.push(await writeEncoded(ops, f, files));
  return out;
}

/** Writes an encoded data file to the table's storage, recording its path in `files` first (deleted if the write does not commit). */
export async function writeEncoded(ops: TableOps, f: EncodedFile, files: string[]): Promise<NewDataFile> {
  files.push(f.path);
  await ops.io.write(f.path, f.bytes);
  icebergMetrics.filesWritten.inc({ table: ops.name, content: "data" });
  return { record: f.record, keys: f.keys, specId: f.specId };
}

/**
 * Encodes normalized columns (one per field of the layout's schema, `codecs` order) as Parquet
 * data files of the default spec: grouped by partition tuple, sorted by the sort order, at most
 * rowsPerFile rows each; one file at a time (the caller writes it before the next is encoded).
 * A column may be a BigInt64Array (int64-valued, no nulls): everything below only indexes and
 * iterates columns, so it is handled as an array.
 */
export function* encodeColumns(
  layout: FileLayout,
  codecs: FieldCodec[],
  typedColumns: (unknown[] | BigInt64Array)[],
  rowCount: number,
  keys: IndexKey[] | undefined,
): Generator<EncodedFile> {
  if (rowCount === 0) return;
  const columns = typedColumns as unknown[][];
  const { spec, sortOrder: order, rowsPerFile } = layout;
  // Group row indexes by partition tuple. Columns are found by field id among `codecs` (the schema
  // written, which may be a staged one: see WriteOptions.schema).
  const parts = spec.fields.map((pf) => {
    const c = codecs.findIndex((x) => x.field.id === pf["source-id"]);
    if (c < 0) throw new CorruptMetadataError(`partition field ${pf.name}: source column ${pf["source-id"]} is not in the current schema`);
    const source = codecs[c].primitive;
    const transform = parseTransform(pf.transform, source, `partition field ${pf.name}`);
    return { c, source, transform, result: parsePrimitive(transform.resultType(codecs[c].field.type as string)) };
  });
  // partition value of each row, per partition field
  const pvals = parts.map((p) => Array.from(columns[p.c], (v) => (v === null ? null : p.transform.apply(p.source, v))));
  const groups = new Map<string, number[]>();
  if (parts.length === 0) {
    const all = new Array<number>(rowCount);
    for (let r = 0; r < rowCount; r++) all[r] = r;
    groups.set("", all);
  }
  for (let r = 0; parts.length > 0 && r < rowCount; r++) {
    const g = parts.map((p, i) => (pvals[i][r] === null ? "\u0000" : keyPartFromNormalized(p.result, pvals[i][r]))).join("\u0001");
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(r);
  }
  // Sort rows by the table's default sort order (identity fields), so files get tight bounds.
  const sortCols = (order?.fields ?? [])
    .filter((f) => f.transform === "identity")
    .map((f) => ({ c: codecs.findIndex((x) => x.field.id === f["source-id"]), desc: f.direction === "desc", nullsFirst: f["null-order"] === "nulls-first" }))
    .filter((x) => x.c >= 0 && !codecs[x.c].isList);
  const sortOrderId = order && sortCols.length === order.fields.length && sortCols.length > 0 ? order["order-id"] : null;
  if (sortCols.length > 0) {
    const cmps = sortCols.map((x) => ({ ...x, cmp: comparator(codecs[x.c].primitive) }));
    for (const idxs of groups.values()) {
      idxs.sort((a, b) => {
        for (const x of cmps) {
          const va = columns[x.c][a];
          const vb = columns[x.c][b];
          if (va === vb) continue;
          if (va === null) return x.nullsFirst ? -1 : 1;
          if (vb === null) return x.nullsFirst ? 1 : -1;
          const d = x.cmp(va, vb);
          if (d !== 0) return x.desc ? -d : d;
        }
        return a - b;
      });
    }
  }
  for (const idxs of groups.values()) {
    for (let start = 0; start < idxs.length; start += rowsPerFile) {
      const chunk = idxs.slice(start, start + rowsPerFile);
      const all = chunk.length === rowCount && sortCols.length === 0;
      const cols = all ? columns : columns.map((c) => chunk.map((r) => c[r]));
      const partition: Record<string, unknown> = {};
      const dirs: string[] = [];
      spec.fields.forEach((pf, i) => {
        const p = parts[i];
        const v = pvals[i][chunk[0]];
        partition[pf.name] = v === null ? null : partitionAvroValue(p.result, v);
        dirs.push(`${encodeURIComponent(pf.name)}=${v === null ? "null" : encodeURIComponent(p.transform.toPath(p.result, v))}`);
      });
      const path = `${layout.location}/data/${dirs.map((d) => d + "/").join("")}${randomUUID()}.parquet`;
      const written = writeDataFile(codecs, cols, chunk.length);
      const record = dataFileRecord(CONTENT_DATA, path, partition, chunk.length, written.bytes.length, codecs, cols);
      record.sort_order_id = sortOrderId;
      record.column_sizes = written.columnSizes;
      record.split_offsets = written.splitOffsets;
      yield { path, bytes: written.bytes, record, keys: keys ? (all ? keys : chunk.map((r) => keys[r])) : [], specId: spec["spec-id"] };
    }
  }
}

/** The index keys of normalized columns (`codecs` order: the current schema's fields first), row by row. */
export function columnKeys(keyCodecs: FieldCodec[], codecs: FieldCodec[], columns: ArrayLike<unknown>[], rowCount: number): IndexKey[] {
  const keyCols = keyCodecs.map((k) => ({ primitive: k.primitive, values: columns[codecs.findIndex((c) => c.field.id === k.field.id)] }));
  const keys = new Array<IndexKey>(rowCount);
  if (keyCols.length === 1 && isNumericKey(keyCols[0].primitive)) for (let r = 0; r < rowCount; r++) keys[r] = numericKey(keyCols[0].values[r]);
  else if (keyCols.length === 1) for (let r = 0; r < rowCount; r++) keys[r] = keyPartFromNormalized(keyCols[0].primitive, keyCols[0].values[r]);
  else for (let r = 0; r < rowCount; r++) keys[r] = joinKey(keyCols.map((k) => keyPartFromNormalized(k.primitive, k.values[r])));
  return keys;
}

/** A data_file record without column stats. */
export function emptyDataFile(content: number, path: string, partition: Record<string, unknown>, rows: number, size: number): DataFileRecord {
  return {
    content,
    file_path: path,
    file_format: "PARQUET",
    partition,
    record_count: BigInt(rows),
    file_size_in_bytes: BigInt(size),
    column_sizes: null,
    value_counts: null,
    null_value_counts: null,
    nan_value_counts: null,
    lower_bounds: null,
    upper_bounds: null,
    key_metadata: null,
    split_offsets: null,
    equality_ids: null,
    sort_order_id: null,
    referenced_data_file: null,
  };
}

/** A data_file record with Iceberg column stats computed from the normalized columns. */
export function dataFileRecord(
  content: number,
  path: string,
  partition: Record<string, unknown>,
  rows: number,
  size: number,
  codecs: FieldCodec[],
  columns: unknown[][],
): DataFileRecord {
  const rec = emptyDataFile(content, path, partition, rows, size);
  const vc: { key: number; value: bigint }[] = [];
  const nc: { key: number; value: bigint }[] = [];
  const nan: { key: number; value: bigint }[] = [];
  const lo: { key: number; value: Buffer }[] = [];
  const hi: { key: number; value: Buffer }[] = [];
  codecs.forEach((c, i) => {
    if (c.isList) {
      let nulls = 0;
      for (const v of columns[i]) if (v === null) nulls++;
      vc.push({ key: c.field.id, value: BigInt(rows) });
      nc.push({ key: c.field.id, value: BigInt(nulls) });
      return;
    }
    const s = columnStats(c.primitive, columns[i]);
    vc.push({ key: c.field.id, value: BigInt(s.valueCount) });
    nc.push({ key: c.field.id, value: BigInt(s.nullCount) });
    if (s.nanCount !== undefined) nan.push({ key: c.field.id, value: BigInt(s.nanCount) });
    if (s.lower) lo.push({ key: c.field.id, value: Buffer.from(s.lower) });
    if (s.upper) hi.push({ key: c.field.id, value: Buffer.from(s.upper) });
  });
  rec.value_counts = vc;
  rec.null_value_counts = nc;
  rec.nan_value_counts = nan;
  rec.lower_bounds = lo;
  rec.upper_bounds = hi;
  return rec;
}

/** A normalized value as it is stored in the Avro partition tuple. */
export function partitionAvroValue(p: Primitive, v: unknown): unknown {
  switch (p.kind) {
    case "uuid":
      return Buffer.from(uuidToBytes(v as string));
    case "binary":
    case "fixed":
      return Buffer.from(v as Uint8Array);
    case "decimal": {
      const size = decimalBytes(p.precision);
      const min = bigIntToMinBytes(v as bigint);
      const out = Buffer.alloc(size, (v as bigint) < 0n ? 0xff : 0);
      Buffer.from(min).copy(out, size - min.length);
      return out;
    }
    default:
      return v;
  }
}

/**
 * Rows by column: `columns[i][r]` is the canonical value (see index.ts) of column `names[i]` in row
 * r, for r < rowCount. Columns of the table missing from `names` are null. Cheaper than row
 * objects for bulk loads (an initial copy): no object per row, normalized a column at a time.
 */
export interface ColumnBatch {
  names: string[];
  /** Plain arrays, or typed arrays (e.g. a BigInt64Array of a long column without nulls). */
  columns: ArrayLike<unknown>[];
  rowCount: number;
  /**
   * Set when the values are already *normalized* (values.ts: decimals as unscaled bigints, dates
   * as days ...) rather than canonical: per column, the Iceberg type they are normalized for
   * (undefined: that column is canonical). A column whose type is the table's passes through
   * without a per-value conversion.
   */
  normalized?: (IcebergType | undefined)[];
}

/** Whether two types are the same ("decimal(12,2)" is "decimal(12, 2)"). */
function sameType(a: IcebergType, b: IcebergType): boolean {
  if (a === b) return true;
  if (typeof a !== "string" || typeof b !== "string") return JSON.stringify(a) === JSON.stringify(b);
  try {
    return JSON.stringify(parsePrimitive(a)) === JSON.stringify(parsePrimitive(b));
  } catch {
    return false;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Normalized values of this field are int64 bigints (so a column of them fits a BigInt64Array). */
function int64Valued(c: FieldCodec): boolean {
  const k = c.primitive.kind;
  return !c.isList && (k === "long" || k === "time" || k === "timestamp" || k === "timestamptz" || (k === "decimal" && c.primitive.precision <= 18));
}

/** Normalized values of a type back to canonical ones (values.ts canonicalFromPhysical, which takes normalized values too). */
function canonicalOf(t: IcebergType): (v: unknown) => unknown {
  return (v) => canonicalFromPhysical(t, v);
}

/** The rows of column batches as row objects (canonical values). */
export function batchRows(batch: ColumnBatch): Row[] {
  const rows: Row[] = new Array(batch.rowCount);
  const types = batch.normalized;
  for (let r = 0; r < batch.rowCount; r++) {
    const row: Row = {};
    for (let c = 0; c < batch.names.length; c++) {
      const v = batch.columns[c][r];
      const t = types?.[c];
      row[batch.names[c]] = t === undefined ? v : canonicalFromPhysical(t, v);
    }
    rows[r] = row;
  }
  return rows;
}

/**
 * Normalizes column batches into one array per codec (field), validating names and nulls like
 * toColumns. With `typed`, int64-valued columns without nulls come out as BigInt64Arrays (fewer
 * live heap objects while the data files are written).
 */
export function normalizeBatches(codecs: FieldCodec[], batches: ColumnBatch[], typed = false): { columns: (unknown[] | BigInt64Array)[]; rowCount: number } {
  const names = new Set(codecs.map((c) => c.field.name));
  let total = 0;
  for (const b of batches) {
    if (b.names.length !== b.columns.length) throw new ValidationError(`column batch has ${b.names.length} names and ${b.columns.length} columns`);
    for (let i = 0; i < b.names.length; i++) {
      if (!names.has(b.names[i])) {
        throw new ValidationError(
          `column batch has column "${b.names[i]}", which is not in the table schema (columns: ${[...names].join(", ")}); evolve the schema first`,
        );
      }
      if (b.columns[i].length < b.rowCount)
        throw new ValidationError(`column batch column "${b.names[i]}" has ${b.columns[i].length} values for ${b.rowCount} rows`);
    }
    total += b.rowCount;
  }
  const columns = codecs.map((codec) => {
    const name = codec.field.name;
    const where = `column "${name}"`;
    let big: BigInt64Array | undefined = typed && int64Valued(codec) ? new BigInt64Array(total) : undefined;
    let out: unknown[] = big ? [] : new Array<unknown>(total);
    let at = 0;
    for (const b of batches) {
      const i = b.names.indexOf(name);
      const col = i < 0 ? undefined : b.columns[i];
      const from = i < 0 ? undefined : b.normalized?.[i];
      // already normalized for this very type: no per-value conversion
      const pass = from !== undefined && sameType(from, codec.field.type);
      if (pass && big && col instanceof BigInt64Array) {
        big.set(col.subarray(0, b.rowCount), at);
        at += b.rowCount;
        continue;
      }
      const canonical = from === undefined || pass ? undefined : canonicalOf(from);
      for (let r = 0; r < b.rowCount; r++, at++) {
        const v = col ? col[r] : null;
        let nv: unknown = null;
        if (v === null || v === undefined) {
          if (codec.field.required) throw new ValidationError(`column "${name}" is required but row ${at} has no value`);
        } else if (pass) nv = v;
        else nv = codec.normalize(canonical ? canonical(v) : v, where);
        if (big) {
          if (typeof nv === "bigint" && nv >= INT64_MIN && nv <= INT64_MAX) {
            big[at] = nv;
            continue;
          }
          out = Array.from(big.subarray(0, at)); // a null (or a value the writer will reject): plain from here on
          big = undefined;
        }
        out[at] = nv;
      }
    }
    return big ?? out;
  });
  return { columns, rowCount: total };
}
