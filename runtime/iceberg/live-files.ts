/**
 * The live files of a snapshot as maintenance and v3 writes need them: its manifests with their
 * entries, and the row locations each live delete file deletes. Both are cached per table (a
 * manifest or delete file never changes once written), so a pass after each commit reads only
 * what that commit added. Also the rewrite of manifests that drop some files from a snapshot.
 */
import { randomUUID } from "crypto";
import { deleteFilesFor } from "./deletes";
import {
  CONTENT_DATA,
  STATUS_DELETED,
  STATUS_EXISTING,
  readManifest,
  readManifestList,
  writeManifest,
  type DataFileRecord,
  type LiveEntry,
  type ManifestEntryRecord,
  type ManifestFileRecord,
} from "./manifests";
import type { RowLocation } from "./pkindex";
import type { Snapshot, TableMetadata } from "./spec";
import { mapLimit, type TableOps } from "./table-ops";

/** A delete file's identity in a snapshot: its path, and for a deletion vector its blob offset. */
export function deleteKey(f: DataFileRecord): string {
  return f.content_offset !== undefined && f.content_offset !== null ? `${f.file_path}#${f.content_offset}` : f.file_path;
}

/** Manifests and row locations of delete files, cached per table: both never change once written. */
interface Caches {
  manifests: Map<string, LiveEntry[]>;
  deletes: Map<string, RowLocation[]>;
}
const caches = new WeakMap<TableOps, Caches>();
function cachesOf(ops: TableOps): Caches {
  let c = caches.get(ops);
  if (!c) caches.set(ops, (c = { manifests: new Map(), deletes: new Map() }));
  return c;
}

/** A snapshot's manifests with their entries, and its live data and delete files. */
export interface SnapshotFiles {
  manifests: { record: ManifestFileRecord; entries: LiveEntry[] }[];
  data: LiveEntry[];
  deletes: LiveEntry[];
}

/** Reads a snapshot's manifests (each once, cached) and splits its live entries. */
export async function snapshotFiles(ops: TableOps, snapshot: Snapshot): Promise<SnapshotFiles> {
  const cache = cachesOf(ops).manifests;
  const list = await readManifestList(ops.io, snapshot["manifest-list"]);
  const manifests = await mapLimit(list, 8, async (record) => {
    let entries = cache.get(record.manifest_path);
    if (!entries) cache.set(record.manifest_path, (entries = await readManifest(ops.io, record)));
    return { record, entries };
  });
  const keep = new Set(list.map((m) => m.manifest_path));
  for (const k of cache.keys()) if (!keep.has(k)) cache.delete(k);
  const live = manifests.flatMap((m) => m.entries.filter((e) => e.status !== STATUS_DELETED));
  return { manifests, data: live.filter((e) => e.file.content === CONTENT_DATA), deletes: live.filter((e) => e.file.content !== CONTENT_DATA) };
}

/** Row locations each live delete file deletes (cached by delete key). */
export async function deleteTargets(ops: TableOps, deletes: LiveEntry[]): Promise<Map<string, RowLocation[]>> {
  const cache = cachesOf(ops).deletes;
  const out = new Map<string, RowLocation[]>();
  if (deletes.length === 0) return out;
  const format = deleteFilesFor(ops);
  await mapLimit(deletes, 8, async (e) => {
    const k = deleteKey(e.file);
    let locs = cache.get(k);
    if (!locs) cache.set(k, (locs = await format.read(e)));
    out.set(k, locs);
  });
  for (const k of cache.keys()) if (!out.has(k)) cache.delete(k);
  return out;
}

/** A file's key in `removed` sets: a data file's path, a delete file's deleteKey. */
export const entryKey = (f: DataFileRecord): string => (f.content === CONTENT_DATA ? f.file_path : deleteKey(f));

/**
 * `manifests` (a parent's manifest list) with every manifest that lists a file of `removed`
 * rewritten: its other live files EXISTING, the removed ones DELETED in this snapshot (so expiry
 * finds what it removed). Manifests without removed files are kept as they are.
 */
export async function dropFromManifests(
  ops: TableOps,
  base: TableMetadata,
  manifests: ManifestFileRecord[],
  removed: Set<string>,
  snapshotId: bigint,
  seq: bigint,
  written: string[],
): Promise<ManifestFileRecord[]> {
  if (removed.size === 0) return manifests;
  const cache = cachesOf(ops).manifests;
  return mapLimit(manifests, 8, async (m) => {
    let entries = cache.get(m.manifest_path);
    if (!entries) cache.set(m.manifest_path, (entries = await readManifest(ops.io, m)));
    if (!entries.some((e) => e.status !== STATUS_DELETED && removed.has(entryKey(e.file)))) return m;
    const out: ManifestEntryRecord[] = [];
    for (const e of entries) {
      if (e.status === STATUS_DELETED) continue;
      const gone = removed.has(entryKey(e.file));
      out.push({
        status: gone ? STATUS_DELETED : STATUS_EXISTING,
        snapshot_id: gone ? snapshotId : e.snapshotId,
        sequence_number: e.dataSequenceNumber,
        file_sequence_number: e.fileSequenceNumber,
        data_file: e.file,
      });
    }
    const loc = `${ops.location}/metadata/${randomUUID()}-m0.avro`;
    written.push(loc);
    return writeManifest(
      ops.io,
      {
        formatVersion: ops.formatVersion,
        location: loc,
        schema: base.schemas.find((x) => x["schema-id"] === entries![0]?.schemaId) ?? ops.schema(),
        spec: base["partition-specs"].find((x) => x["spec-id"] === m.partition_spec_id) ?? ops.spec(),
        content: m.content === CONTENT_DATA ? "data" : "deletes",
        snapshotId,
        sequenceNumber: seq,
        entries: out,
      },
      () => null,
    );
  });
}
