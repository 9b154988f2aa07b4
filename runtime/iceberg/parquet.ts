/**
 * Parquet data files and position delete files (hyparquet-writer, with Iceberg field ids in the
 * Parquet schema), and reading key columns / delete files back (hyparquet) for the PK index.
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
function loadEsm(id: string): any {
  return NodeModule._load(require.resolve(id), null, false);
}
let writerLib: any;
let readerLib: any;
const writer = () => (writerLib ??= loadEsm("hyparquet-writer"));
const reader = () => (readerLib ??= loadEsm("hyparquet"));

/** Iceberg's reserved field ids of position delete files. */
export const DELETE_FILE_PATH_ID = 2147483546;
export const DELETE_POS_ID = 2147483545;

interface SchemaElement {
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
function parquetValue(p: Primitive): ((v: any) => any) | undefined {
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
function mostlyDistinct(values: unknown[]): boolean {
  const n = Math.min(values.length, 1000);
  if (n < 2) return false;
  const seen = new Set<unknown>();
  for (let i = 0; i < n; i++) seen.add(values[Math.floor((i * (values.length - 1)) / (n - 1))]);
  return seen.size / n > 0.9;
}

/**
 * Encodes normalized columns as a Parquet file (one row group). Tables of primitive columns (the
 * CDC writer's) go through writeFlatFile; list columns through hyparquet-writer.
 */
export function writeDataFile(codecs: FieldCodec[], columns: unknown[][], rowCount: number): WrittenFile {
  if (codecs.every((c) => !c.isList)) return writeFlatFile(codecs, columns, rowCount);
  const schema = parquetSchema(codecs);
  const columnData = codecs.map((c, i) => {
    const conv = parquetValue(c.primitive);
    let data = columns[i];
    if (conv) data = c.isList ? data.map((l) => (l === null ? null : (l as unknown[]).map(conv))) : Array.from(data, conv);
    else if (c.primitive.kind === "string" && !c.isList && mostlyDistinct(data)) data = encodeStrings(data);
    // Booleans PLAIN (bit-packed): hyparquet-writer's default RLE is valid Parquet, but the
    // vectorized readers of Iceberg's Spark and Flink integrations refuse it.
    return c.primitive.kind === "boolean" ? { name: c.field.name, data, encoding: "PLAIN" } : { name: c.field.name, data };
  });
  const buf: ArrayBuffer = writer().parquetWriteBuffer({
    columnData,
    schema,
    statistics: false,
    rowGroupSize: Math.max(rowCount, 1),
    createdBy: "floe iceberg writer",
    ...compression(),
  });
  const bytes = new Uint8Array(buf);
  return { bytes, rowCount, ...fileLayout(bytes) };
}

// ---- the flat-column encoder ------------------------------------------------------------------

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
const codec = () => (codecCache ??= pageCodec());

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
function compression(): { codec: string; compressors?: Record<string, Compress> } {
  const c = codec();
  return c.codec === "ZSTD" ? { codec: "ZSTD", compressors: { ZSTD: c.compress } } : { codec: "SNAPPY" };
}

/** Uncompressed bytes of a data page's values before it is cut. */
const PAGE_BYTES = 1 << 20;

/** A growable little-endian byte buffer. */
class Bytes {
  buf = Buffer.allocUnsafe(1 << 16);
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  at = 0;
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  varint(v: number): void {
    this.ensure(5);
    while (v > 0x7f) {
      this.buf[this.at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.at++] = v;
  }
  /** A copy of the bytes written, and the buffer emptied for the next page. */
  take(): Uint8Array {
    const out = new Uint8Array(this.at);
    out.set(this.buf.subarray(0, this.at));
    this.at = 0;
    return out;
  }
}

/** Appends one non-null normalized value in PLAIN encoding; booleans are bit-packed by the caller. */
type PlainWriter = (out: Bytes, v: any) => void;

function plainWriter(p: Primitive, type: string): PlainWriter {
  switch (type) {
    case "INT32":
      return (out, v) => {
        out.ensure(4);
        out.view.setInt32(out.at, typeof v === "bigint" ? Number(v) : v, true);
        out.at += 4;
      };
    case "INT64":
      return (out, v) => {
        out.ensure(8);
        out.view.setBigInt64(out.at, v, true);
        out.at += 8;
      };
    case "FLOAT":
      return (out, v) => {
        out.ensure(4);
        out.view.setFloat32(out.at, v, true);
        out.at += 4;
      };
    case "DOUBLE":
      return (out, v) => {
        out.ensure(8);
        out.view.setFloat64(out.at, v, true);
        out.at += 8;
      };
    case "BYTE_ARRAY":
      if (p.kind === "string") {
        return (out, v: string) => {
          out.ensure(4 + v.length * 3);
          const n = out.buf.write(v, out.at + 4, "utf8");
          out.view.setUint32(out.at, n, true);
          out.at += 4 + n;
        };
      }
      return (out, v: Uint8Array) => {
        out.ensure(4 + v.length);
        out.view.setUint32(out.at, v.length, true);
        out.buf.set(v, out.at + 4);
        out.at += 4 + v.length;
      };
    case "FIXED_LEN_BYTE_ARRAY": {
      if (p.kind === "uuid") return (out, v: string) => fixed(out, uuidToBytes(v), 16);
      if (p.kind === "decimal") {
        const size = decimalBytes(p.precision);
        return (out, v: bigint) => {
          out.ensure(size);
          let x = v;
          for (let i = size - 1; i >= 0; i--) {
            out.buf[out.at + i] = Number(x & 0xffn);
            x >>= 8n;
          }
          out.at += size;
        };
      }
      const len = (p as { length: number }).length;
      return (out, v: Uint8Array) => fixed(out, v, len);
    }
    default:
      throw new Error(`parquet: no plain writer for ${type}`);
  }
}

function fixed(out: Bytes, v: Uint8Array, len: number): void {
  if (v.length !== len) throw new Error(`parquet: expected ${len} bytes, got ${v.length}`);
  out.ensure(len);
  out.buf.set(v, out.at);
  out.at += len;
}

/** Definition levels (0 null, 1 value) of rows [from, to) as an RLE / bit-packed hybrid of bit width 1. */
function defLevels(out: Bytes, col: ArrayLike<unknown>, from: number, to: number): number {
  const n = to - from;
  let nulls = 0;
  if (!(col instanceof BigInt64Array)) for (let r = from; r < to; r++) if (col[r] === null || col[r] === undefined) nulls++;
  if (nulls === 0 || nulls === n) {
    out.varint(n << 1); // one RLE run
    out.ensure(1);
    out.buf[out.at++] = nulls === 0 ? 1 : 0;
    return nulls;
  }
  const groups = Math.ceil(n / 8);
  out.varint((groups << 1) | 1); // one bit-packed run
  out.ensure(groups);
  out.buf.fill(0, out.at, out.at + groups);
  for (let i = 0; i < n; i++) {
    const v = col[from + i];
    if (v !== null && v !== undefined) out.buf[out.at + (i >> 3)] |= 1 << (i & 7);
  }
  out.at += groups;
  return nulls;
}

interface Chunk {
  pages: Uint8Array[];
  compressed: number;
  uncompressed: number;
}

/** One column chunk: data pages v2 of at most about PAGE_BYTES of values each, PLAIN, compressed. */
function writeColumnChunk(el: SchemaElement, p: Primitive, col: ArrayLike<unknown>, rowCount: number, optional: boolean): Chunk {
  const { compress } = codec();
  const type = el.type!;
  const values = new Bytes();
  const levels = new Bytes();
  const chunk: Chunk = { pages: [], compressed: 0, uncompressed: 0 };
  const plain = type === "BOOLEAN" ? undefined : plainWriter(p, type);
  const typed = col instanceof BigInt64Array && type === "INT64";
  let from = 0;
  do {
    let to: number;
    if (typed) {
      // int64 values without nulls: the typed array's bytes are the page (x86 and ARM are little-endian)
      to = Math.min(rowCount, from + PAGE_BYTES / 8);
      const src = col as BigInt64Array;
      values.ensure((to - from) * 8);
      values.buf.set(new Uint8Array(src.buffer, src.byteOffset + from * 8, (to - from) * 8), values.at);
      values.at += (to - from) * 8;
    } else if (type === "BOOLEAN") {
      to = Math.min(rowCount, from + PAGE_BYTES * 8);
      const bytes = Math.ceil((to - from) / 8);
      values.ensure(bytes);
      const start = values.at;
      values.buf.fill(0, start, start + bytes);
      let i = 0;
      for (let r = from; r < to; r++) {
        const v = col[r];
        if (v === null || v === undefined) continue;
        if (v) values.buf[start + (i >> 3)] |= 1 << (i & 7);
        i++;
      }
      values.at = start + Math.ceil(i / 8);
    } else {
      for (to = from; to < rowCount && values.at < PAGE_BYTES; to++) {
        const v = col[to];
        if (v !== null && v !== undefined) plain!(values, v);
      }
    }
    const nulls = optional ? defLevels(levels, col, from, to) : 0;
    const raw = values.take();
    const packed = compress(raw);
    const lv = levels.take();
    const header = pageHeader(raw.length + lv.length, packed.length + lv.length, to - from, nulls, lv.length);
    chunk.pages.push(header, lv, packed);
    chunk.compressed += header.length + lv.length + packed.length;
    chunk.uncompressed += header.length + lv.length + raw.length;
    from = to;
  } while (from < rowCount);
  return chunk;
}

/** A DATA_PAGE_V2 header (thrift compact), PLAIN values, levels uncompressed ahead of the values. */
function pageHeader(uncompressed: number, compressed: number, rows: number, nulls: number, levelBytes: number): Uint8Array {
  const w = new (writerModule("bytewriter").ByteWriter)();
  writerModule("datapage").writePageHeader(w, {
    type: "DATA_PAGE_V2",
    uncompressed_page_size: uncompressed,
    compressed_page_size: compressed,
    data_page_header_v2: {
      num_values: rows,
      num_nulls: nulls,
      num_rows: rows,
      encoding: "PLAIN",
      definition_levels_byte_length: levelBytes,
      repetition_levels_byte_length: 0,
      is_compressed: true,
    },
  });
  return new Uint8Array(w.getBuffer());
}

const writerModules = new Map<string, any>();
function writerModule(name: string): any {
  let m = writerModules.get(name);
  if (!m) writerModules.set(name, (m = loadEsm(`hyparquet-writer/src/${name}.js`)));
  return m;
}

/**
 * A Parquet file of primitive columns, one row group, without going through row-shaped or
 * per-value conversions: PLAIN data pages v2 (every reader's baseline encoding; booleans
 * bit-packed), definition levels for optional columns, pages compressed (ZSTD where Node has it),
 * int64 columns held in a BigInt64Array copied as they are. The footer is hyparquet-writer's.
 */
export function writeFlatFile(codecs: FieldCodec[], columns: ArrayLike<unknown>[], rowCount: number): WrittenFile {
  const schema = parquetSchema(codecs);
  const parts: Uint8Array[] = [MAGIC];
  let offset = MAGIC.length;
  const metaColumns: unknown[] = [];
  const columnSizes: { key: number; value: bigint }[] = [];
  let total = 0;
  codecs.forEach((c, i) => {
    const el = schema[i + 1];
    const optional = !c.field.required;
    if (!optional) {
      const col = columns[i];
      if (!(col instanceof BigInt64Array))
        for (let r = 0; r < rowCount; r++)
          if (col[r] === null || col[r] === undefined) throw new Error(`parquet: required column ${c.field.name} has a null in row ${r}`);
    }
    const chunk = writeColumnChunk(el, c.primitive, columns[i], rowCount, optional);
    const start = offset;
    for (const p of chunk.pages) {
      parts.push(p);
      offset += p.length;
    }
    total += chunk.uncompressed;
    columnSizes.push({ key: c.field.id, value: BigInt(chunk.compressed) });
    metaColumns.push({
      file_offset: BigInt(start),
      meta_data: {
        type: el.type,
        encodings: optional ? ["PLAIN", "RLE"] : ["PLAIN"],
        path_in_schema: [el.name],
        codec: codec().codec,
        num_values: BigInt(rowCount),
        total_uncompressed_size: BigInt(chunk.uncompressed),
        total_compressed_size: BigInt(chunk.compressed),
        data_page_offset: BigInt(start),
      },
    });
  });
  const footer = new (writerModule("bytewriter").ByteWriter)();
  writerModule("metadata").writeMetadata(footer, {
    version: 2,
    schema,
    num_rows: BigInt(rowCount),
    row_groups: [
      {
        columns: metaColumns,
        total_byte_size: BigInt(total),
        num_rows: BigInt(rowCount),
        file_offset: BigInt(MAGIC.length),
        total_compressed_size: BigInt(offset - MAGIC.length),
      },
    ],
    created_by: "floe iceberg writer",
  });
  parts.push(new Uint8Array(footer.getBuffer()), MAGIC);
  const bytes = new Uint8Array(Buffer.concat(parts));
  return { bytes, rowCount, columnSizes, splitOffsets: [BigInt(MAGIC.length)] };
}

const MAGIC = new Uint8Array(Buffer.from("PAR1", "latin1"));

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
