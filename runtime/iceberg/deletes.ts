/**
 * The delete-file seam: how a commit writes the rows it deletes, and how the rows existing delete
 * files delete are read back (primary-key index rebuild and catch-up, compaction). Which
 * implementation a table gets is decided by its format version (`deleteFilesFor`):
 *
 * - v2: position delete files (Parquet, `file_path` + `pos`, sorted), one per partition directory
 *   of the targeted data files (PositionDeleteFiles below).
 * - v3: deletion vectors (one Puffin blob per data file, replacing that file's previous vector):
 *   not written or read yet; asking for them is a ValidationError naming the format version.
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

export interface DeleteFiles {
  /** What this format writes, for logs and errors, e.g. "position delete files". */
  readonly kind: string;
  /**
   * Writes the delete files of one commit attempt that delete `deletes` (row positions of data
   * files; `locate` knows each data file's partition). Every path written is pushed on `files`
   * first, so a failed attempt can delete it.
   */
  write(deletes: RowLocation[], files: string[], locate: LocateDataFile): Promise<WrittenDeleteFile[]>;
  /** The row locations an existing delete file (a live manifest entry with delete content) deletes. */
  read(entry: LiveEntry): Promise<RowLocation[]>;
}

/** The delete files of this table's format version (see the file head). */
export function deleteFilesFor(ops: TableOps): DeleteFiles {
  const version: number = ops.metadata["format-version"];
  if (version === 2) return new PositionDeleteFiles(ops);
  throw new ValidationError(
    `${ops.name} has format version ${version}: this writer writes and reads v2 position delete files only; v3 deletion vectors are not supported yet`,
  );
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

  constructor(private readonly ops: TableOps) {}

  async read(entry: LiveEntry): Promise<RowLocation[]> {
    return readPositionDeletes(await this.ops.io.read(entry.file.file_path), `delete file ${entry.file.file_path}`);
  }

  /**
   * One position delete file per targeted data file, next to it, with `referenced_data_file` set:
   * what v3 requires of deletion vectors and what the strictest readers accept (polars refuses a
   * delete file spanning several data files). Positions sorted.
   */
  async write(deletes: RowLocation[], files: string[], locate: LocateDataFile): Promise<WrittenDeleteFile[]> {
    const byFile = new Map<string, number[]>();
    for (const d of deletes) {
      const list = byFile.get(d.path);
      if (list) list.push(d.pos);
      else byFile.set(d.path, [d.pos]);
    }
    const out: WrittenDeleteFile[] = [];
    for (const dataFile of [...byFile.keys()].sort()) {
      const f = locate(dataFile);
      if (!f) throw new CorruptMetadataError(`primary-key index points at ${dataFile}, which it does not know`);
      const poss = byFile.get(dataFile)!.sort((a, b) => a - b);
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
      rec.value_counts = [{ key: DELETE_FILE_PATH_ID, value: n }, { key: DELETE_POS_ID, value: n }];
      rec.null_value_counts = [{ key: DELETE_FILE_PATH_ID, value: 0n }, { key: DELETE_POS_ID, value: 0n }];
      // Full paths (not truncated): engines match delete files to data files by these bounds.
      rec.lower_bounds = [{ key: DELETE_FILE_PATH_ID, value: Buffer.from(dataFile) }, { key: DELETE_POS_ID, value: Buffer.from(toBound({ kind: "long" }, BigInt(poss[0]))) }];
      rec.upper_bounds = [{ key: DELETE_FILE_PATH_ID, value: Buffer.from(dataFile) }, { key: DELETE_POS_ID, value: Buffer.from(toBound({ kind: "long" }, BigInt(poss[poss.length - 1]))) }];
      out.push({ record: rec, specId: f.specId });
    }
    return out;
  }
}
