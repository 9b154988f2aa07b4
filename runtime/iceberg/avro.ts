/**
 * Avro object container files (written and read synchronously with avsc types), and the
 * Iceberg v2 manifest / manifest-list Avro schemas with their field ids (spec: "Manifests",
 * "Manifest Lists"). Longs are bigint so 63-bit snapshot ids survive.
 */
import { randomBytes } from "crypto";
import * as avro from "avsc";
import { CorruptMetadataError } from "./catalog";
import type { IcebergType, PartitionSpec, Schema } from "./spec";
import { parsePrimitive } from "./types";
import { parseTransform } from "./transforms";
import { inflateRawSync } from "node:zlib";

// eslint-disable-next-line no-restricted-syntax -- avsc documents LongType.__with but its typings omit it
const bigLong = (avro.types.LongType as any).__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (x: unknown) => BigInt(x as number),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === "bigint" || (typeof n === "number" && Number.isSafeInteger(n)),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

export function avroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: bigLong }, wrapUnions: false });
}

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
const metaType = avro.Type.forSchema({ type: "map", values: "bytes" });
const longType = avroType("long");

/** Encodes records as an Avro object container file (codec null, one block). */
export function writeAvroFile(schema: unknown, records: unknown[], metadata: Record<string, string>): Uint8Array {
  const type = avroType(schema);
  const meta: Record<string, Buffer> = { "avro.schema": Buffer.from(JSON.stringify(schema)), "avro.codec": Buffer.from("null") };
  for (const [k, v] of Object.entries(metadata)) meta[k] = Buffer.from(v);
  const sync = randomBytes(16);
  const body = Buffer.concat(records.map((r) => type.toBuffer(r)));
  const parts = [MAGIC, metaType.toBuffer(meta), sync];
  if (records.length > 0) parts.push(longType.toBuffer(BigInt(records.length)), longType.toBuffer(BigInt(body.length)), body, sync);
  return new Uint8Array(Buffer.concat(parts));
}

/** Decodes an Avro object container file written by any writer (codec null or deflate). */
export function readAvroFile(data: Uint8Array, what: string): { records: any[]; metadata: Record<string, string>; schema: unknown } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  try {
    if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC)) throw new Error("not an Avro object container file");
    const m = metaType.decode(buf, 4);
    if (m.offset < 0) throw new Error("truncated header");
    const metaRaw = m.value as Record<string, Buffer>;
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(metaRaw)) metadata[k] = v.toString();
    const schema = JSON.parse(metadata["avro.schema"]);
    const codec = metadata["avro.codec"] ?? "null";
    const type = avroType(schema);
    let pos = m.offset + 16;
    const records: any[] = [];
    while (pos < buf.length) {
      const c = longType.decode(buf, pos);
      const s = longType.decode(buf, c.offset);
      if (c.offset < 0 || s.offset < 0) throw new Error("truncated block header");
      const count = Number(c.value);
      const size = Number(s.value);
      let block = buf.subarray(s.offset, s.offset + size);
      if (block.length !== size) throw new Error("truncated block");
      if (codec === "deflate") block = inflateRawSync(block);
      else if (codec !== "null") throw new Error(`unsupported Avro codec ${codec}`);
      let p = 0;
      for (let i = 0; i < count; i++) {
        const r = type.decode(block, p);
        if (r.offset < 0) throw new Error("truncated record");
        records.push(r.value);
        p = r.offset;
      }
      pos = s.offset + size + 16;
    }
    return { records, metadata, schema };
  } catch (e) {
    throw new CorruptMetadataError(`${what}: cannot decode Avro file: ${(e as Error).message}`);
  }
}

// ---- Iceberg type -> Avro schema (for partition tuples) --------------------------------------

let fixedCounter = 0;
export function decimalBytes(precision: number): number {
  let n = 1;
  while (2n ** BigInt(8 * n - 1) <= 10n ** BigInt(precision)) n++;
  return n;
}

export function avroForPrimitive(t: IcebergType, name: string): unknown {
  const p = parsePrimitive(t as string);
  switch (p.kind) {
    case "boolean":
    case "int":
    case "long":
    case "float":
    case "double":
    case "string":
      return p.kind;
    case "binary":
      return "bytes";
    case "date":
      return { type: "int", logicalType: "date" };
    case "time":
      return { type: "long", logicalType: "time-micros" };
    case "timestamp":
      return { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": false };
    case "timestamptz":
      return { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true };
    case "uuid":
      return { type: "fixed", name: `uuid_fixed_${name}_${fixedCounter++}`, size: 16, logicalType: "uuid" };
    case "fixed":
      return { type: "fixed", name: `fixed_${name}_${fixedCounter++}`, size: p.length };
    case "decimal":
      return {
        type: "fixed",
        name: `decimal_${name}_${fixedCounter++}`,
        size: decimalBytes(p.precision),
        logicalType: "decimal",
        precision: p.precision,
        scale: p.scale,
      };
  }
}

/** The partition struct schema (r102) for a spec over `schema`. */
export function partitionAvroSchema(spec: PartitionSpec, schema: Schema): unknown {
  return {
    type: "record",
    name: "r102",
    fields: spec.fields.map((pf) => {
      const src = schema.fields.find((f) => f.id === pf["source-id"]);
      if (!src) throw new CorruptMetadataError(`partition field ${pf.name}: source column id ${pf["source-id"]} is not in the schema`);
      const result = parseTransform(pf.transform, parsePrimitive(src.type as string), `partition field ${pf.name}`).resultType(src.type as string);
      return { name: pf.name, type: ["null", avroForPrimitive(result, pf.name)], default: null, "field-id": pf["field-id"] };
    }),
  };
}

const opt = (type: unknown) => ["null", type];
const intMap = (id: number, kid: number, vid: number, valueType: string) => ({
  type: "array",
  logicalType: "map",
  items: {
    type: "record",
    name: `k${kid}_v${vid}`,
    fields: [
      { name: "key", type: "int", "field-id": kid },
      { name: "value", type: valueType, "field-id": vid },
    ],
  },
});

/**
 * manifest_entry schema of a format version (2 or 3) with the given partition struct schema. v2
 * and v3 carry referenced_data_file (143, optional); v3 adds first_row_id (142, row lineage) and
 * the deletion-vector blob location content_offset / content_size_in_bytes (144, 145).
 */
export function manifestEntrySchema(partition: unknown, formatVersion = 2): unknown {
  const v3 = formatVersion >= 3;
  return {
    type: "record",
    name: "manifest_entry",
    fields: [
      { name: "status", type: "int", "field-id": 0 },
      { name: "snapshot_id", type: opt("long"), default: null, "field-id": 1 },
      { name: "sequence_number", type: opt("long"), default: null, "field-id": 3 },
      { name: "file_sequence_number", type: opt("long"), default: null, "field-id": 4 },
      {
        name: "data_file",
        "field-id": 2,
        type: {
          type: "record",
          name: "r2",
          fields: [
            { name: "content", type: "int", "field-id": 134 },
            { name: "file_path", type: "string", "field-id": 100 },
            { name: "file_format", type: "string", "field-id": 101 },
            { name: "partition", type: partition, "field-id": 102 },
            { name: "record_count", type: "long", "field-id": 103 },
            { name: "file_size_in_bytes", type: "long", "field-id": 104 },
            { name: "column_sizes", type: opt(intMap(108, 117, 118, "long")), default: null, "field-id": 108 },
            { name: "value_counts", type: opt(intMap(109, 119, 120, "long")), default: null, "field-id": 109 },
            { name: "null_value_counts", type: opt(intMap(110, 121, 122, "long")), default: null, "field-id": 110 },
            { name: "nan_value_counts", type: opt(intMap(137, 138, 139, "long")), default: null, "field-id": 137 },
            { name: "lower_bounds", type: opt(intMap(125, 126, 127, "bytes")), default: null, "field-id": 125 },
            { name: "upper_bounds", type: opt(intMap(128, 129, 130, "bytes")), default: null, "field-id": 128 },
            { name: "key_metadata", type: opt("bytes"), default: null, "field-id": 131 },
            { name: "split_offsets", type: opt({ type: "array", items: "long", "element-id": 133 }), default: null, "field-id": 132 },
            { name: "equality_ids", type: opt({ type: "array", items: "int", "element-id": 136 }), default: null, "field-id": 135 },
            { name: "sort_order_id", type: opt("int"), default: null, "field-id": 140 },
            ...(v3 ? [{ name: "first_row_id", type: opt("long"), default: null, "field-id": 142 }] : []),
            { name: "referenced_data_file", type: opt("string"), default: null, "field-id": 143 },
            ...(v3
              ? [
                  { name: "content_offset", type: opt("long"), default: null, "field-id": 144 },
                  { name: "content_size_in_bytes", type: opt("long"), default: null, "field-id": 145 },
                ]
              : []),
          ],
        },
      },
    ],
  };
}

/** manifest_file schema (one row of a manifest list) of a format version: v3 adds first_row_id (520). */
export function manifestFileSchema(formatVersion = 2): unknown {
  return formatVersion >= 3
    ? { ...MANIFEST_FILE_SCHEMA, fields: [...MANIFEST_FILE_SCHEMA.fields, { name: "first_row_id", type: opt("long"), default: null, "field-id": 520 }] }
    : MANIFEST_FILE_SCHEMA;
}

export const MANIFEST_FILE_SCHEMA = {
  type: "record",
  name: "manifest_file",
  fields: [
    { name: "manifest_path", type: "string", "field-id": 500 },
    { name: "manifest_length", type: "long", "field-id": 501 },
    { name: "partition_spec_id", type: "int", "field-id": 502 },
    { name: "content", type: "int", "field-id": 517 },
    { name: "sequence_number", type: "long", "field-id": 515 },
    { name: "min_sequence_number", type: "long", "field-id": 516 },
    { name: "added_snapshot_id", type: "long", "field-id": 503 },
    { name: "added_files_count", type: "int", "field-id": 504 },
    { name: "existing_files_count", type: "int", "field-id": 505 },
    { name: "deleted_files_count", type: "int", "field-id": 506 },
    { name: "added_rows_count", type: "long", "field-id": 512 },
    { name: "existing_rows_count", type: "long", "field-id": 513 },
    { name: "deleted_rows_count", type: "long", "field-id": 514 },
    {
      name: "partitions",
      type: opt({
        type: "array",
        "element-id": 508,
        items: {
          type: "record",
          name: "r508",
          fields: [
            { name: "contains_null", type: "boolean", "field-id": 509 },
            { name: "contains_nan", type: opt("boolean"), default: null, "field-id": 518 },
            { name: "lower_bound", type: opt("bytes"), default: null, "field-id": 510 },
            { name: "upper_bound", type: opt("bytes"), default: null, "field-id": 511 },
          ],
        },
      }),
      default: null,
      "field-id": 507,
    },
    { name: "key_metadata", type: opt("bytes"), default: null, "field-id": 519 },
  ],
};
