/**
 * Parquet data files: writeDataFile, and the flat-column encoder it uses for tables of primitive
 * columns (the CDC writer's): PLAIN data pages v2, compressed, with Iceberg field ids in the schema
 * (parquet.ts). Tables with list columns go through hyparquet-writer.
 */
import { decimalBytes } from "./avro";
import {
  codec,
  compression,
  encodeStrings,
  fileLayout,
  loadEsm,
  MAGIC,
  mostlyDistinct,
  parquetSchema,
  parquetValue,
  writer,
  type SchemaElement,
  type WrittenFile,
} from "./parquet";
import type { Primitive } from "./types";
import { uuidToBytes, type FieldCodec } from "./values";

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
