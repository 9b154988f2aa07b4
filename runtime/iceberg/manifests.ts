/**
 * Reading and writing manifests and manifest lists (the Avro layer of a snapshot), with the
 * spec's sequence-number inheritance: ADDED entries are written with null sequence numbers and
 * inherit the manifest's sequence number from the manifest list. Format v3 adds row lineage: a
 * data manifest gets a first_row_id when a manifest list first lists it, and its data files
 * without one inherit it (plus the record counts of the files before them) when read.
 */
import { manifestEntrySchema, manifestFileSchema, partitionAvroSchema, readAvroFile, writeAvroFile } from "./avro";
import type { FileIO } from "./io";
import { stringifyIcebergJson, type PartitionSpec, type Schema } from "./spec";

export const STATUS_EXISTING = 0;
export const STATUS_ADDED = 1;
export const STATUS_DELETED = 2;
export const CONTENT_DATA = 0;
export const CONTENT_POSITION_DELETES = 1;
export const CONTENT_EQUALITY_DELETES = 2;

type KV<V> = { key: number; value: V }[] | null;

/** The data_file struct (r2) exactly as stored in Avro. */
export interface DataFileRecord {
  content: number;
  file_path: string;
  file_format: string;
  partition: Record<string, unknown>;
  record_count: bigint;
  file_size_in_bytes: bigint;
  column_sizes: KV<bigint>;
  value_counts: KV<bigint>;
  null_value_counts: KV<bigint>;
  nan_value_counts: KV<bigint>;
  lower_bounds: KV<Buffer>;
  upper_bounds: KV<Buffer>;
  key_metadata: Buffer | null;
  split_offsets: bigint[] | null;
  equality_ids: number[] | null;
  sort_order_id: number | null;
  /** v3: the _row_id of the file's first row (null in new files: inherited from the manifest). */
  first_row_id?: bigint | null;
  /** The data file every delete of this delete file targets (required for deletion vectors). */
  referenced_data_file?: string | null;
  /** v3 deletion vectors: offset and length of the blob in its Puffin file. */
  content_offset?: bigint | null;
  content_size_in_bytes?: bigint | null;
}

export interface ManifestEntryRecord {
  status: number;
  snapshot_id: bigint | null;
  sequence_number: bigint | null;
  file_sequence_number: bigint | null;
  data_file: DataFileRecord;
}

/** A manifest_file record (one row of a manifest list). */
export interface ManifestFileRecord {
  manifest_path: string;
  manifest_length: bigint;
  partition_spec_id: number;
  content: number;
  sequence_number: bigint;
  min_sequence_number: bigint;
  added_snapshot_id: bigint;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: bigint;
  existing_rows_count: bigint;
  deleted_rows_count: bigint;
  partitions: { contains_null: boolean; contains_nan: boolean | null; lower_bound: Buffer | null; upper_bound: Buffer | null }[] | null;
  key_metadata: Buffer | null;
  /** v3 data manifests: the first _row_id of the rows its files without one inherit (assigned by the manifest list that first lists it). */
  first_row_id?: bigint | null;
}

/** A manifest entry with inherited sequence numbers resolved. */
export interface LiveEntry {
  status: number;
  snapshotId: bigint;
  dataSequenceNumber: bigint;
  fileSequenceNumber: bigint;
  specId: number;
  /** schema-id from the manifest's header (the schema its data files were written with). */
  schemaId?: number;
  file: DataFileRecord;
}

export async function readManifestList(io: FileIO, location: string): Promise<ManifestFileRecord[]> {
  const { records } = readAvroFile(await io.read(location), `manifest list ${location}`);
  return records.map((r) => ({
    ...r,
    sequence_number: r.sequence_number ?? 0n,
    min_sequence_number: r.min_sequence_number ?? 0n,
    content: r.content ?? 0,
  }));
}

/**
 * Reads a manifest's entries, resolving null sequence numbers / snapshot ids by inheritance, and
 * (v3) null first_row_id of live data files from the manifest's first_row_id.
 */
export async function readManifest(io: FileIO, mf: ManifestFileRecord): Promise<LiveEntry[]> {
  const { records, metadata } = readAvroFile(await io.read(mf.manifest_path), `manifest ${mf.manifest_path}`);
  const schemaId = metadata["schema-id"] !== undefined ? Number(metadata["schema-id"]) : undefined;
  let nextRowId = mf.content === 0 && mf.first_row_id !== undefined && mf.first_row_id !== null ? BigInt(mf.first_row_id) : undefined;
  return (records as ManifestEntryRecord[]).map((e) => {
    if (nextRowId !== undefined && e.status !== STATUS_DELETED && (e.data_file.first_row_id === null || e.data_file.first_row_id === undefined)) {
      e.data_file.first_row_id = nextRowId;
      nextRowId += BigInt(e.data_file.record_count);
    }
    const inherit = e.status === STATUS_ADDED;
    const seq = e.sequence_number ?? (inherit ? mf.sequence_number : 0n);
    return {
      status: e.status,
      snapshotId: e.snapshot_id ?? mf.added_snapshot_id,
      dataSequenceNumber: seq,
      fileSequenceNumber: e.file_sequence_number ?? (inherit ? mf.sequence_number : seq),
      specId: mf.partition_spec_id,
      schemaId,
      file: e.data_file,
    };
  });
}

export interface ManifestWrite {
  /** The table's format version (2 or 3). Defaults to 2. */
  formatVersion?: number;
  location: string;
  schema: Schema;
  spec: PartitionSpec;
  content: "data" | "deletes";
  snapshotId: bigint;
  sequenceNumber: bigint;
  entries: ManifestEntryRecord[];
}

/** Writes a manifest and returns its manifest-list record. */
export async function writeManifest(
  io: FileIO,
  w: ManifestWrite,
  partitionBounds: (entries: ManifestEntryRecord[]) => ManifestFileRecord["partitions"],
): Promise<ManifestFileRecord> {
  const schema = manifestEntrySchema(partitionAvroSchema(w.spec, w.schema), w.formatVersion ?? 2);
  const bytes = writeAvroFile(schema, w.entries, {
    schema: stringifyIcebergJson(w.schema),
    "schema-id": String(w.schema["schema-id"]),
    "partition-spec": JSON.stringify(w.spec.fields),
    "partition-spec-id": String(w.spec["spec-id"]),
    "format-version": String(w.formatVersion ?? 2),
    content: w.content,
  });
  await io.write(w.location, bytes);
  let added = 0,
    existing = 0,
    deleted = 0;
  let addedRows = 0n,
    existingRows = 0n,
    deletedRows = 0n;
  let minSeq: bigint | undefined;
  for (const e of w.entries) {
    const rows = BigInt(e.data_file.record_count);
    if (e.status === STATUS_ADDED) {
      added++;
      addedRows += rows;
    } else if (e.status === STATUS_EXISTING) {
      existing++;
      existingRows += rows;
    } else {
      deleted++;
      deletedRows += rows;
    }
    if (e.status !== STATUS_DELETED) {
      const s = e.sequence_number ?? w.sequenceNumber;
      minSeq = minSeq === undefined || s < minSeq ? s : minSeq;
    }
  }
  return {
    manifest_path: w.location,
    manifest_length: BigInt(bytes.length),
    partition_spec_id: w.spec["spec-id"],
    content: w.content === "data" ? 0 : 1,
    sequence_number: w.sequenceNumber,
    min_sequence_number: minSeq ?? w.sequenceNumber,
    added_snapshot_id: w.snapshotId,
    added_files_count: added,
    existing_files_count: existing,
    deleted_files_count: deleted,
    added_rows_count: addedRows,
    existing_rows_count: existingRows,
    deleted_rows_count: deletedRows,
    partitions: partitionBounds(w.entries),
    key_metadata: null,
  };
}

/**
 * Writes a manifest list. With `firstRowId` (format v3: the table's next-row-id) every data manifest
 * without a first_row_id gets one, counting on from it by each such manifest's added and existing
 * rows (the spec's simple assignment); returns the row ids assigned (the snapshot's added-rows).
 */
export async function writeManifestList(
  io: FileIO,
  location: string,
  snapshotId: bigint,
  parentId: bigint | null,
  sequenceNumber: bigint,
  manifests: ManifestFileRecord[],
  firstRowId?: bigint,
): Promise<{ addedRows: bigint }> {
  let next = firstRowId;
  const records =
    next === undefined
      ? manifests
      : manifests.map((m) => {
          if (m.content !== 0 || (m.first_row_id !== undefined && m.first_row_id !== null)) return m;
          const assigned = { ...m, first_row_id: next! };
          next = next! + BigInt(m.added_rows_count) + BigInt(m.existing_rows_count);
          return assigned;
        });
  const v3 = firstRowId !== undefined;
  const bytes = writeAvroFile(manifestFileSchema(v3 ? 3 : 2), records, {
    "snapshot-id": snapshotId.toString(),
    "parent-snapshot-id": parentId === null ? "null" : parentId.toString(),
    "sequence-number": sequenceNumber.toString(),
    ...(v3 ? { "first-row-id": firstRowId.toString() } : {}),
    "format-version": v3 ? "3" : "2",
  });
  await io.write(location, bytes);
  return { addedRows: next === undefined || firstRowId === undefined ? 0n : next - firstRowId };
}
