/**
 * Parquet for Iceberg: the schema with Iceberg field ids, page compression, position delete files
 * (hyparquet-writer), and reading key columns / delete files back (hyparquet) for the PK index.
 * Data files are written by parquet-write.ts.
 */
import * as zlib from "node:zlib";
import { CorruptMetadataError } from "./catalog";
import type { Primitive } from "./types";
import { decimalBytes } from "./avro";
import { uuidToBytes, type FieldCodec } from "./values";

// hyparquet(-writer) are ESM-only. Node 20.19+ can require() them natively; Module._load
// bypasses test runners' module registries that cannot (jest without VM modules).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Module._load is not on the typed import
const NodeModule = require("module");
export function loadEsm(id: string): any {
  return NodeModule._load(require.resolve(id), null, false);
}
let writerLib: any;
let readerLib: any;
export const writer = () => (writerLib ??= loadEsm("hyparquet-writer"));
const reader = () => (readerLib ??= loadEsm("hyparquet"));

/** Iceberg's reserved field ids of position delete files. */
export const DELETE_FILE_PATH_ID = 2147483546;
export const DELETE_POS_ID = 2147483545;

export interface SchemaElement {
  name: string;
  type?: string;
  type_length?: number;
  repetition_type?: string;
  num_children?: number;
  converted_type?: string;
  logical_type?: Record<string, unknown>;
  scale?: number;
  precision?: number;
  field_id?: number;
}

/**
 * The Parquet physical and logical type of one Iceberg primitive, as the spec's Parquet table
 * requires ("Appendix A: Format-specific Requirements"): time is INT64 TIME(MICROS, not adjusted to
 * UTC), timestamp INT64 TIMESTAMP(MICROS, not adjusted), timestamptz TIMESTAMP(MICROS, adjusted),
 * decimals in the smallest of INT32 / INT64 / minimal FIXED_LEN_BYTE_ARRAY, uuid FIXED[16] UUID.
 */
function leafElement(p: Primitive, name: string, required: boolean, fieldId: number): SchemaElement {
  const base = { name, repetition_type: required ? "REQUIRED" : "OPTIONAL", field_id: fieldId };
  switch (p.kind) {
    case "boolean":
      return { ...base, type: "BOOLEAN" };
    case "int":
      return { ...base, type: "INT32" };
    case "long":
      return { ...base, type: "INT64" };
    case "float":
      return { ...base, type: "FLOAT" };
    case "double":
      return { ...base, type: "DOUBLE" };
    case "decimal": {
      const dec = {
        converted_type: "DECIMAL",
        scale: p.scale,
        precision: p.precision,
        logical_type: { type: "DECIMAL", scale: p.scale, precision: p.precision },
      };
      if (p.precision <= 9) return { ...base, type: "INT32", ...dec };
      if (p.precision <= 18) return { ...base, type: "INT64", ...dec };
      return { ...base, type: "FIXED_LEN_BYTE_ARRAY", type_length: decimalBytes(p.precision), ...dec };
    }
    case "date":
      return { ...base, type: "INT32", converted_type: "DATE", logical_type: { type: "DATE" } };
    case "time":
      return { ...base, type: "INT64", converted_type: "TIME_MICROS", logical_type: { type: "TIME", isAdjustedToUTC: false, unit: "MICROS" } };
    case "timestamp":
      return { ...base, type: "INT64", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" } };
    case "timestamptz":
      return { ...base, type: "INT64", converted_type: "TIMESTAMP_MICROS", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" } };
    case "string":
      return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8", logical_type: { type: "STRING" } };
    case "uuid":
      return { ...base, type: "FIXED_LEN_BYTE_ARRAY", type_length: 16, logical_type: { type: "UUID" } };
    case "binary":
      return { ...base, type: "BYTE_ARRAY" };
    case "fixed":
      return { ...base, type: "FIXED_LEN_BYTE_ARRAY", type_length: p.length };
  }
}

/** Parquet schema elements (flattened, root first) for the given fields. */
export function parquetSchema(codecs: FieldCodec[]): SchemaElement[] {
  const out: SchemaElement[] = [{ name: "table", num_children: codecs.length }];
  for (const c of codecs) {
    if (!c.isList) {
      out.push(leafElement(c.primitive, c.field.name, c.field.required, c.field.id));
    } else {
      out.push({
        name: c.field.name,
        repetition_type: c.field.required ? "REQUIRED" : "OPTIONAL",
        num_children: 1,
        converted_type: "LIST",
        logical_type: { type: "LIST" },
        field_id: c.field.id,
      });
      out.push({ name: "list", repetition_type: "REPEATED", num_children: 1 });
      out.push(leafElement(c.primitive, "element", c.elementRequired, c.elementId!));
    }
  }
  return out;
}

/** Normalized value -> the value hyparquet-writer expects for the leaf. */
export function parquetValue(p: Primitive): ((v: any) => any) | undefined {
  if (p.kind === "uuid") return (v) => (v === null ? null : uuidToBytes(v));
  if (p.kind === "decimal" && p.precision <= 9) return (v) => v; // bigint -> INT32 by writer
  return undefined;
}

export interface WrittenFile {
  bytes: Uint8Array;
  rowCount: number;
  /** Compressed bytes per leaf column, by field id (a list's element id): the manifest's column_sizes. */
  columnSizes: { key: number; value: bigint }[];
  /** Where each row group starts: the manifest's split_offsets (engines split reads there). */
  splitOffsets: bigint[];
}

/** The column sizes and row-group offsets of a Parquet file, from its footer. */
export function fileLayout(bytes: Uint8Array): Pick<WrittenFile, "columnSizes" | "splitOffsets"> {
  const meta = reader().parquetMetadata(asyncBuffer(bytes));
  const schema = meta.schema as SchemaElement[];
  // path_in_schema -> field id of the leaf
  const ids = new Map<string, number>();
  const walk = (i: number, path: string[]): number => {
    const el = schema[i];
    const p = i === 0 ? [] : [...path, el.name];
    let next = i + 1;
    for (let c = 0; c < (el.num_children ?? 0); c++) next = walk(next, p);
    if (!el.num_children && el.field_id !== undefined && el.field_id !== null) ids.set(p.join("\u0000"), Number(el.field_id));
    return next;
  };
  walk(0, []);
  const sizes = new Map<number, bigint>();
  const splitOffsets: bigint[] = [];
  for (const rg of meta.row_groups as {
    columns: { meta_data: { path_in_schema: string[]; total_compressed_size: bigint; dictionary_page_offset?: bigint; data_page_offset: bigint } }[];
  }[]) {
    const first = rg.columns[0]?.meta_data;
    if (first) splitOffsets.push(BigInt(first.dictionary_page_offset ?? first.data_page_offset));
    for (const c of rg.columns) {
      const id = ids.get(c.meta_data.path_in_schema.join("\u0000"));
      if (id === undefined) continue;
      sizes.set(id, (sizes.get(id) ?? 0n) + BigInt(c.meta_data.total_compressed_size));
    }
  }
  return { columnSizes: [...sizes].map(([key, value]) => ({ key, value })), splitOffsets };
}

/**
 * The UTF-8 bytes of a column of strings (nulls stay null) as views into one buffer: one native
 * encode per column instead of an encoder call and an ArrayBuffer per value.
 */
export function encodeStrings(values: unknown[]): (Uint8Array | null)[] {
  const parts: string[] = [];
  for (const v of values) if (v !== null && v !== undefined) parts.push(v as string);
  const joined = parts.join("");
  const buf = Buffer.from(joined, "utf8");
  const ascii = buf.length === joined.length;
  if (!ascii) {
    // Lone surrogates at value boundaries would pair up in the joined string: encode one by one then.
    let total = 0;
    for (const p of parts) total += Buffer.byteLength(p, "utf8");
    if (total !== buf.length) return values.map((v) => (v === null || v === undefined ? null : new Uint8Array(Buffer.from(v as string, "utf8"))));
  }
  const out = new Array<Uint8Array | null>(values.length);
  let off = buf.byteOffset;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as string | null | undefined;
    if (v === null || v === undefined) {
      out[i] = null;
      continue;
    }
    const len = ascii ? v.length : Buffer.byteLength(v, "utf8");
    out[i] = new Uint8Array(buf.buffer, off, len);
    off += len;
  }
  return out;
}

/**
 * Whether a sample of the column is mostly distinct values: the writer then encodes it plain, every
 * value is converted to bytes, and encodeStrings pays off. Low-cardinality columns get a
 * dictionary, where only the distinct strings are converted: those stay strings.
 */
export function mostlyDistinct(values: unknown[]): boolean {
  const n = Math.min(values.length, 1000);
  if (n < 2) return false;
  const seen = new Set<unknown>();
  for (let i = 0; i < n; i++) seen.add(values[Math.floor((i * (values.length - 1)) / (n - 1))]);
  return seen.size / n > 0.9;
}

// ---- page compression (the flat encoder's and hyparquet-writer's) ------------------------------

/**
 * Page compression: ZSTD through Node's zlib (native; Iceberg's default Parquet codec) where this
 * Node has it (22.15+), else SNAPPY (hyparquet-writer's, in JS).
 */
type Compress = (bytes: Uint8Array) => Uint8Array;
const zstd = (zlib as { zstdCompressSync?: (b: Uint8Array, o?: object) => Buffer }).zstdCompressSync;
const ZSTD_LEVEL = 1;
function pageCodec(): { codec: "ZSTD" | "SNAPPY"; compress: Compress } {
  if (zstd) {
    const params = { [(zlib.constants as Record<string, number>).ZSTD_c_compressionLevel]: ZSTD_LEVEL };
    return { codec: "ZSTD", compress: (b) => zstd(b, { params }) };
  }
  return { codec: "SNAPPY", compress: (b) => loadEsm("hyparquet-writer/src/snappy.js").snappyCompress(b) };
}
let codecCache: ReturnType<typeof pageCodec> | undefined;
export const codec = () => (codecCache ??= pageCodec());

/**
 * Page decompressors for hyparquet beyond its built-in snappy: ZSTD (floe's own files, and other
 * engines' default), GZIP and BROTLI, all native zlib.
 */
type Decompress = (bytes: Uint8Array, size: number) => Uint8Array;
let decompressorCache: Record<string, Decompress> | undefined;
function decompressors(): Record<string, Decompress> {
  if (decompressorCache) return decompressorCache;
  const z = zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer };
  const out: Record<string, Decompress> = {
    GZIP: (b) => new Uint8Array(zlib.gunzipSync(b)),
    BROTLI: (b) => new Uint8Array(zlib.brotliDecompressSync(b)),
  };
  if (z.zstdDecompressSync) out.ZSTD = (b) => new Uint8Array(z.zstdDecompressSync!(b));
  return (decompressorCache = out);
}

/** hyparquet-writer's options for the same codec (list columns, delete files). */
export function compression(): { codec: string; compressors?: Record<string, Compress> } {
  const c = codec();
  return c.codec === "ZSTD" ? { codec: "ZSTD", compressors: { ZSTD: c.compress } } : { codec: "SNAPPY" };
}

export const MAGIC = new Uint8Array(Buffer.from("PAR1", "latin1"));

/** UTF-8 bytes per distinct string, shared by every repeat (delete files repeat one path). */
function encodeRepeated(values: string[]): Uint8Array[] {
  const cache = new Map<string, Uint8Array>();
  return values.map((v) => {
    let b = cache.get(v);
    if (!b) cache.set(v, (b = new Uint8Array(Buffer.from(v, "utf8"))));
    return b;
  });
}

/** A position delete file: rows (file_path, pos) sorted by path then position. */
export function writePositionDeleteFile(entries: { path: string; pos: number }[], alreadySorted = false): WrittenFile {
  const sorted = alreadySorted ? entries : [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.pos - b.pos));
  const schema: SchemaElement[] = [
    { name: "table", num_children: 2 },
    {
      name: "file_path",
      type: "BYTE_ARRAY",
      converted_type: "UTF8",
      logical_type: { type: "STRING" },
      repetition_type: "REQUIRED",
      field_id: DELETE_FILE_PATH_ID,
    },
    { name: "pos", type: "INT64", repetition_type: "REQUIRED", field_id: DELETE_POS_ID },
  ];
  const buf: ArrayBuffer = writer().parquetWriteBuffer({
    ...compression(),
    columnData: [
      { name: "file_path", data: encodeRepeated(sorted.map((e) => e.path)) },
      { name: "pos", data: sorted.map((e) => BigInt(e.pos)) },
    ],
    schema,
    statistics: false,
    rowGroupSize: Math.max(sorted.length, 1),
    createdBy: "floe iceberg writer",
  });
  const bytes = new Uint8Array(buf);
  return { bytes, rowCount: sorted.length, ...fileLayout(bytes) };
}

function asyncBuffer(bytes: Uint8Array) {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return ab;
}

/**
 * Reads the given columns of a Parquet data file, resolving columns by Iceberg field id (so
 * renamed columns still resolve). Returns physical values (int32 number, int64 bigint, fixed /
 * binary Uint8Array, strings string), one array per requested field id, in file order.
 */
export async function readColumnsById(bytes: Uint8Array, fieldIds: number[], what: string): Promise<unknown[][]> {
  return (await readColumnsByIdOptional(bytes, fieldIds, what, false)) as unknown[][];
}

/**
 * Like readColumnsById; with `allowMissing`, a field id the file does not have (a column added
 * after the file was written) yields `undefined` instead of an error.
 */
export async function readColumnsByIdOptional(bytes: Uint8Array, fieldIds: number[], what: string, allowMissing = true): Promise<(unknown[] | undefined)[]> {
  try {
    const file = asyncBuffer(bytes);
    const meta = reader().parquetMetadata(file);
    const byId = new Map<number, string>();
    for (const el of meta.schema as SchemaElement[]) if (el.field_id !== undefined && el.field_id !== null) byId.set(Number(el.field_id), el.name);
    const names = fieldIds.map((id) => {
      const n = byId.get(id);
      if (!n && !allowMissing) throw new Error(`no column with field id ${id}`);
      return n;
    });
    const present = names.filter((n): n is string => n !== undefined);
    if (present.length === 0) return names.map(() => undefined);
    // Physical values only (no lossy DECIMAL -> float or TIMESTAMP -> Date conversion); strings stay strings.
    for (const el of meta.schema as SchemaElement[]) {
      if (!el.type || el.converted_type === "UTF8" || el.logical_type?.type === "STRING") continue; // leaves only: LIST groups keep their annotation
      delete el.converted_type;
      delete el.logical_type;
    }
    // Column chunks straight into one array per column (no row object per row).
    const numRows = Number(meta.num_rows);
    const out = new Map<string, unknown[]>(present.map((n) => [n, new Array<unknown>(numRows)]));
    await reader().parquetRead({
      file,
      compressors: decompressors(),
      metadata: meta,
      columns: present,
      utf8: false,
      onChunk: ({ columnName, columnData, rowStart }: { columnName: string; columnData: ArrayLike<unknown>; rowStart: number }) => {
        const col = out.get(columnName);
        if (!col) return;
        for (let i = 0; i < columnData.length; i++) col[rowStart + i] = columnData[i];
      },
    });
    return names.map((n) => (n === undefined ? undefined : out.get(n)));
  } catch (e) {
    throw new CorruptMetadataError(`${what}: cannot read Parquet: ${(e as Error).message}`);
  }
}

/** Reads a position delete file into (path, pos) pairs. */
export async function readPositionDeletes(bytes: Uint8Array, what: string): Promise<{ path: string; pos: number }[]> {
  const [paths, poss] = await readColumnsById(bytes, [DELETE_FILE_PATH_ID, DELETE_POS_ID], what);
  return paths.map((p, i) => ({ path: p as string, pos: Number(poss[i] as bigint) }));
}
