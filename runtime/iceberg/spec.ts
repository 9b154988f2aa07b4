/**
 * Iceberg v2 / v3 table metadata as it appears in metadata JSON and in REST catalog payloads
 * (kebab-case names, exactly as in the Iceberg table spec and the REST OpenAPI spec).
 * Pure data types, no I/O: shared by the table writer, the SQL catalog and the REST catalog.
 */

/** A primitive type name as the spec writes it: "int", "decimal(10,2)", "fixed[16]", … */
export type PrimitiveTypeName = string;

export interface ListType {
  type: "list";
  "element-id": number;
  element: IcebergType;
  "element-required": boolean;
}

export interface MapType {
  type: "map";
  "key-id": number;
  key: IcebergType;
  "value-id": number;
  value: IcebergType;
  "value-required": boolean;
}

export interface StructType {
  type: "struct";
  fields: NestedField[];
}

export type IcebergType = PrimitiveTypeName | ListType | MapType | StructType;

export interface NestedField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergType;
  doc?: string;
  /**
   * v3: the value of this field in rows written before the field was added (data files without
   * it), in JSON single-value form (runtime/iceberg/defaults.ts). Fixed once the field exists.
   */
  "initial-default"?: unknown;
  /** v3: the value a writer stores when it supplies none, in JSON single-value form. */
  "write-default"?: unknown;
}

export interface Schema extends StructType {
  "schema-id": number;
  /** Field ids of the row identifier (the Postgres primary key). */
  "identifier-field-ids"?: number[];
}

export interface PartitionField {
  "source-id": number;
  "field-id": number;
  name: string;
  /** "identity", "bucket[N]", "truncate[W]", "year", "month", "day", "hour", "void". */
  transform: string;
}

export interface PartitionSpec {
  "spec-id": number;
  fields: PartitionField[];
}

export interface SortField {
  "source-id": number;
  transform: string;
  direction: "asc" | "desc";
  "null-order": "nulls-first" | "nulls-last";
}

export interface SortOrder {
  "order-id": number;
  fields: SortField[];
}

export interface Snapshot {
  "snapshot-id": bigint;
  "parent-snapshot-id"?: bigint;
  "sequence-number": number;
  "timestamp-ms": number;
  "manifest-list": string;
  summary: { operation: "append" | "replace" | "overwrite" | "delete"; [key: string]: string };
  "schema-id"?: number;
  /** v3 (row lineage): the table's next-row-id when the snapshot was committed. */
  "first-row-id"?: number;
  /** v3: row ids the snapshot's manifest list assigned (next-row-id moves on by this much). */
  "added-rows"?: number;
}

export interface SnapshotRef {
  "snapshot-id": bigint;
  type: "branch" | "tag";
  "max-ref-age-ms"?: number;
  "max-snapshot-age-ms"?: number;
  "min-snapshots-to-keep"?: number;
}

export interface SnapshotLogEntry {
  "snapshot-id": bigint;
  "timestamp-ms": number;
}

export interface MetadataLogEntry {
  "metadata-file": string;
  "timestamp-ms": number;
}

export interface TableMetadata {
  /** 2, or 3 (deletion vectors, row lineage); fixed when the table is created. */
  "format-version": 2 | 3;
  "table-uuid": string;
  location: string;
  "last-sequence-number": number;
  "last-updated-ms": number;
  "last-column-id": number;
  schemas: Schema[];
  "current-schema-id": number;
  "partition-specs": PartitionSpec[];
  "default-spec-id": number;
  "last-partition-id": number;
  properties: Record<string, string>;
  "current-snapshot-id"?: bigint | null;
  snapshots: Snapshot[];
  "snapshot-log": SnapshotLogEntry[];
  "metadata-log": MetadataLogEntry[];
  "sort-orders": SortOrder[];
  "default-sort-order-id": number;
  refs: Record<string, SnapshotRef>;
  /** v3: higher than every row id assigned so far; the next snapshot's first-row-id. */
  "next-row-id"?: number;
}

// ---- JSON with 64-bit ids -------------------------------------------------------------------
// Snapshot ids are random 63-bit longs; JSON.parse would round them. These two functions keep
// every "*snapshot-id" value a bigint in memory and a bare JSON integer on disk / on the wire.

const BIG = "~~iceberg-long~~";
const ID_KEYS = /("(?:snapshot-id|parent-snapshot-id|current-snapshot-id)"\s*:\s*)(-?\d+)/g;

/** Parses metadata JSON (or any REST payload holding snapshots) keeping snapshot ids exact. */
export function parseIcebergJson<T = unknown>(text: string): T {
  const marked = text.replace(ID_KEYS, (_m, k: string, v: string) => `${k}"${BIG}${v}"`);
  return JSON.parse(marked, (_k, v) => (typeof v === "string" && v.startsWith(BIG) ? BigInt(v.slice(BIG.length)) : v)) as T;
}

/** Serialises metadata / REST payloads; bigint values become bare JSON integers. */
export function stringifyIcebergJson(value: unknown, space?: number): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${BIG}${v.toString()}` : v), space);
  return text.replace(/"~~iceberg-long~~(-?\d+)"/g, "$1");
}
