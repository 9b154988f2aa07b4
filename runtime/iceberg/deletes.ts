/**
 * The delete-file seam: how a commit writes the rows it deletes, and how the rows existing delete
 * files delete are read back (primary-key index rebuild and catch-up, compaction). Which
 * implementation a table gets is decided by its format version (`deleteFilesFor`):
 *
 * - v2: position delete files (Parquet, `file_path` + `pos`, sorted), one per targeted data file
 *   (PositionDeleteFiles below). Given `previous`, a new file also holds the targeted data file's
 *   earlier deletes and replaces its earlier delete files, as a deletion vector does: a data file
 *   then has one delete file, however many commits deleted from it (readers pay per delete file).
 * - v3: deletion vectors (DeletionVectors below): one `deletion-vector-v1` blob per targeted data
 *   file, all of a commit's in one Puffin file (puffin.ts). A data file has at most one vector: the
 *   new one holds the previous one's positions too, and the commit removes the previous one (the
 *   caller hands over `previous` and drops `replaced` from the snapshot).
 *
 * Callers never look at the file format: they hand over row locations to delete and get back
 * manifest-ready records, or hand over a delete file's manifest entry and get back row locations.
 */
import { randomUUID } from "crypto";
import { CorruptMetadataError, ValidationError } from "./catalog";
import { emptyDataFile } from "./datafiles";
import { CONTENT_POSITION_DELETES, type DataFileRecord, type LiveEntry } from "./manifests";
import { icebergMetrics } from "./metrics";
import { DELETE_FILE_PATH_ID, DELETE_POS_ID, readPositionDeletes, writePositionDeleteFile } from "./parquet";
import { readDvBlob, writeDvPuffin } from "./puffin";
import type { RowLocation } from "./pkindex";
import { mapLimit, type TableOps } from "./table-ops";
import { toBound } from "./values";

/** Partition tuple and spec id of a data file a delete targets (from the index or a transaction's own files). */
export type LocateDataFile = (path: string) => { partition: Record<string, unknown>; specId: number } | undefined;

/** A delete file written for a commit: its manifest record and the partition spec it belongs to. */
export interface WrittenDeleteFile {
  record: DataFileRecord;
  specId: number;
}

/** A data file's live delete files / vector in the commit's base, and the positions they delete. */
export type PreviousDeletes = (dataFile: string) => { entries: LiveEntry[]; positions: Iterable<number> } | undefined;

export interface DeleteFiles {
  /** What this format writes, for logs and errors, e.g. "position delete files". */
  readonly kind: string;
  /** Whether a write replaces the targeted data files' previous deletes (it needs `previous`). */
  readonly replacesPrevious: boolean;
  /**
   * Writes the delete files of one commit attempt that delete `deletes` (row positions of data
   * files; `locate` knows each data file's partition). Every path written is pushed on `files`
   * first, so a failed attempt can delete it. `replaced`: the base's delete entries the new files
   * supersede, which the commit must remove.
   */
  write(
    deletes: RowLocation[],
    files: string[],
    locate: LocateDataFile,
    previous?: PreviousDeletes,
  ): Promise<{ written: WrittenDeleteFile[]; replaced: LiveEntry[] }>;
  /** The row locations an existing delete file (a live manifest entry with delete content) deletes. */
  read(entry: LiveEntry): Promise<RowLocation[]>;
}

/** The delete files of this table's format version (see the file head). */
export function deleteFilesFor(ops: TableOps): DeleteFiles {
  const version: number = ops.metadata["format-version"];
  if (version === 2) return new PositionDeleteFiles(ops);
  if (version === 3) return new DeletionVectors(ops);
  throw new ValidationError(`${ops.name} has format version ${version}: this writer writes and reads format versions 2 and 3`);
}

/** Deleted positions per data file path, read from `entries` (delete files) with at most `concurrency` reads in flight. */
export async function deletedPositions(ops: TableOps, entries: LiveEntry[], concurrency: number): Promise<Map<string, Set<number>>> {
  const deleted = new Map<string, Set<number>>();
  if (entries.length === 0) return deleted;
  const format = deleteFilesFor(ops);
  await mapLimit(entries, concurrency, async (e) => {
    for (const d of await format.read(e)) {
      let s = deleted.get(d.path);
      if (!s) deleted.set(d.path, (s = new Set()));
      s.add(d.pos);
    }
  });
  return deleted;
}

/** v2: Parquet position delete files. */
class PositionDeleteFiles implements DeleteFiles {
  readonly kind = "position delete files";
  readonly replacesPrevious = true;

  constructor(private readonly ops: TableOps) {}

  async read(entry: LiveEntry): Promise<RowLocation[]> {
    return readPositionDeletes(await this.ops.io.read(entry.file.file_path), `delete file ${entry.file.file_path}`);
  }

  /**
   * One position delete file per targeted data file, next to it, with `referenced_data_file` set:
   * what v3 requires of deletion vectors and what the strictest readers accept (polars refuses a
   * delete file spanning several data files). Positions sorted.
   */
  async write(
    deletes: RowLocation[],
    files: string[],
    locate: LocateDataFile,
    previous?: PreviousDeletes,
  ): Promise<{ written: WrittenDeleteFile[]; replaced: LiveEntry[] }> {
    const byFile = byDataFile(deletes);
    const out: WrittenDeleteFile[] = [];
    const replaced: LiveEntry[] = [];
    for (const dataFile of [...byFile.keys()].sort()) {
      const f = locate(dataFile);
      if (!f) throw new CorruptMetadataError(`primary-key index points at ${dataFile}, which it does not know`);
      const prev = previous?.(dataFile);
      if (prev) replaced.push(...prev.entries);
      const poss = [...new Set(prev ? [...prev.positions, ...byFile.get(dataFile)!] : byFile.get(dataFile)!)].sort((a, b) => a - b);
      const sorted: RowLocation[] = poss.map((pos) => ({ path: dataFile, pos }));
      const path = `${dataFile.slice(0, dataFile.lastIndexOf("/"))}/${randomUUID()}-deletes.parquet`;
      const written = writePositionDeleteFile(sorted, true);
      files.push(path);
      await this.ops.io.write(path, written.bytes);
      icebergMetrics.filesWritten.inc({ table: this.ops.name, content: "position-deletes" });
      const n = BigInt(sorted.length);
      const rec = emptyDataFile(CONTENT_POSITION_DELETES, path, f.partition, sorted.length, written.bytes.length);
      rec.column_sizes = written.columnSizes;
      rec.split_offsets = written.splitOffsets;
      rec.referenced_data_file = dataFile;
      rec.value_counts = [
        { key: DELETE_FILE_PATH_ID, value: n },
        { key: DELETE_POS_ID, value: n },
      ];
      rec.null_value_counts = [
        { key: DELETE_FILE_PATH_ID, value: 0n },
        { key: DELETE_POS_ID, value: 0n },
      ];
      // Full paths (not truncated): engines match delete files to data files by these bounds.
      rec.lower_bounds = [
        { key: DELETE_FILE_PATH_ID, value: Buffer.from(dataFile) },
        { key: DELETE_POS_ID, value: Buffer.from(toBound({ kind: "long" }, BigInt(poss[0]))) },
      ];
      rec.upper_bounds = [
        { key: DELETE_FILE_PATH_ID, value: Buffer.from(dataFile) },
        { key: DELETE_POS_ID, value: Buffer.from(toBound({ kind: "long" }, BigInt(poss[poss.length - 1]))) },
      ];
      out.push({ record: rec, specId: f.specId });
    }
    return { written: out, replaced };
  }
}

/** Groups row locations by data file. */
function byDataFile(deletes: RowLocation[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const d of deletes) {
    const list = out.get(d.path);
    if (list) list.push(d.pos);
    else out.set(d.path, [d.pos]);
  }
  return out;
}

/** v3: deletion vectors in Puffin files (see the file head and puffin.ts). */
class DeletionVectors implements DeleteFiles {
  readonly kind = "deletion vectors";
  readonly replacesPrevious = true;

  constructor(private readonly ops: TableOps) {}

  async read(entry: LiveEntry): Promise<RowLocation[]> {
    const f = entry.file;
    const what = `delete file ${f.file_path}`;
    if (f.file_format.toUpperCase() !== "PUFFIN") {
      // a v2 position delete file carried into a v3 table (upgraded elsewhere): still readable
      return readPositionDeletes(await this.ops.io.read(f.file_path), what);
    }
    if (
      !f.referenced_data_file ||
      f.content_offset === null ||
      f.content_offset === undefined ||
      f.content_size_in_bytes === null ||
      f.content_size_in_bytes === undefined
    ) {
      throw new CorruptMetadataError(`${what}: a deletion vector entry needs referenced_data_file, content_offset and content_size_in_bytes`);
    }
    const bytes = await this.ops.io.read(f.file_path);
    const start = Number(f.content_offset);
    const end = start + Number(f.content_size_in_bytes);
    if (end > bytes.length)
      throw new CorruptMetadataError(`${what}: deletion vector at ${start}+${f.content_size_in_bytes} is past the end of the file (${bytes.length} bytes)`);
    const positions = readDvBlob(bytes.subarray(start, end), `${what} at ${start}`);
    if (positions.length !== Number(f.record_count))
      throw new CorruptMetadataError(`${what}: deletion vector holds ${positions.length} positions, the manifest says ${f.record_count}`);
    const path = f.referenced_data_file;
    return positions.map((pos) => ({ path, pos }));
  }

  /** One Puffin file of vectors, one per targeted data file, each merged with that file's previous deletes. */
  async write(
    deletes: RowLocation[],
    files: string[],
    locate: LocateDataFile,
    previous?: PreviousDeletes,
  ): Promise<{ written: WrittenDeleteFile[]; replaced: LiveEntry[] }> {
    const byFile = byDataFile(deletes);
    if (byFile.size === 0) return { written: [], replaced: [] };
    const replaced: LiveEntry[] = [];
    const inputs = [...byFile.keys()].sort().map((dataFile) => {
      const prev = previous?.(dataFile);
      if (prev) replaced.push(...prev.entries);
      const positions = prev ? [...prev.positions, ...byFile.get(dataFile)!] : byFile.get(dataFile)!;
      return { referencedDataFile: dataFile, positions };
    });
    const { bytes, blobs } = writeDvPuffin(inputs);
    const path = `${this.ops.location}/data/${randomUUID()}-deletes.puffin`;
    files.push(path);
    await this.ops.io.write(path, bytes);
    icebergMetrics.filesWritten.inc({ table: this.ops.name, content: "deletion-vectors" });
    const written = blobs.map((b) => {
      const f = locate(b.referencedDataFile);
      if (!f) throw new CorruptMetadataError(`primary-key index points at ${b.referencedDataFile}, which it does not know`);
      const rec = emptyDataFile(CONTENT_POSITION_DELETES, path, f.partition, b.cardinality, bytes.length);
      rec.file_format = "PUFFIN";
      rec.referenced_data_file = b.referencedDataFile;
      rec.content_offset = BigInt(b.offset);
      rec.content_size_in_bytes = BigInt(b.length);
      return { record: rec, specId: f.specId };
    });
    return { written, replaced };
  }
}
