/**
 * An independent read of an Iceberg table for unit tests: the live data files of the current
 * snapshot minus their position deletes and deletion vectors, columns by field id, straight from the manifests and the
 * Parquet files (not through the Table's own primary-key index).
 */
import type { Table } from "../../runtime/iceberg";
import { type LiveEntry, readManifest, readManifestList } from "../../runtime/iceberg/manifests";
import { readColumnsById, readPositionDeletes } from "../../runtime/iceberg/parquet";
import { readDvBlob } from "../../runtime/iceberg/puffin";

/** The manifest entries of the current snapshot that are not deleted (its data and delete files), read straight from the manifests. */
export async function currentEntries(t: Table): Promise<LiveEntry[]> {
  const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
  const lists = await Promise.all((await readManifestList(io, t.currentSnapshot()!["manifest-list"])).map((m) => readManifest(io, m)));
  return lists.flat().filter((e) => e.status !== 2);
}

export async function readTable(t: Table, fieldIds: number[], opts: { bytesAsText?: boolean } = {}): Promise<unknown[][]> {
  const snap = t.currentSnapshot();
  if (!snap) return [];
  const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
  const entries = (await Promise.all((await readManifestList(io, snap["manifest-list"])).map((m) => readManifest(io, m)))).flat().filter((e) => e.status !== 2);
  const deleted = new Set<string>();
  for (const e of entries.filter((x) => x.file.content === 1)) {
    if (e.file.file_format === "PUFFIN") {
      // a v3 deletion vector: its blob in the Puffin file, for its one data file
      const bytes = await io.read(e.file.file_path);
      const start = Number(e.file.content_offset);
      for (const pos of readDvBlob(bytes.subarray(start, start + Number(e.file.content_size_in_bytes)), "dv"))
        deleted.add(`${e.file.referenced_data_file}#${pos}`);
    } else for (const d of await readPositionDeletes(await io.read(e.file.file_path), "d")) deleted.add(`${d.path}#${d.pos}`);
  }
  const value = (v: unknown) => (opts.bytesAsText && typeof v === "object" && v !== null ? Buffer.from(v as Uint8Array).toString() : v);
  const rows: unknown[][] = [];
  for (const e of entries.filter((x) => x.file.content === 0)) {
    const cols = await readColumnsById(await io.read(e.file.file_path), fieldIds, "f");
    if (cols[0].length !== Number(e.file.record_count))
      throw new Error(`${e.file.file_path}: ${cols[0].length} rows read, the manifest says ${e.file.record_count}`);
    for (let i = 0; i < cols[0].length; i++) if (!deleted.has(`${e.file.file_path}#${i}`)) rows.push(cols.map((c) => value(c[i])));
  }
  return rows;
}
