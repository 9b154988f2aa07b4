/**
 * Table maintenance: compaction (rewrite data files that have deletes, drop the delete files, one
 * "replace" snapshot), snapshot expiry (drop old snapshots and the files only they referenced),
 * and orphan file removal (files under the table location nothing references). Each runs through
 * the table's commit queue.
 */
import { randomUUID } from "crypto";
import { ValidationError } from "./catalog";
import { writeDataFiles, type NewDataFile } from "./datafiles";
import { deletedPositions } from "./deletes";
import {
  CONTENT_DATA,
  CONTENT_EQUALITY_DELETES,
  CONTENT_POSITION_DELETES,
  STATUS_DELETED,
  STATUS_EXISTING,
  readManifest,
  readManifestList,
  writeManifest,
  type DataFileRecord,
} from "./manifests";
import { readColumnsByIdOptional } from "./parquet";
import type { SnapshotProducer } from "./snapshot";
import type { Snapshot } from "./spec";
import type { TableIndex } from "./table-index";
import type { CommitResult, Row, TableOps } from "./table-ops";
import { canonicalFromPhysical } from "./values";

/**
 * Rewrites the live rows of every data file that has position deletes (all data files with
 * `all: true`) into new data files and drops every position delete file, in one "replace"
 * snapshot. Readers see exactly the same rows, from fewer files. Mirror tables fed by CDC
 * collect delete files with every update: compact when the snapshot summary's
 * total-delete-files grows. Returns undefined when there is nothing to do.
 */
export function compact(ops: TableOps, index: TableIndex, producer: SnapshotProducer, options: { all?: boolean } = {}): Promise<CommitResult | undefined> {
  return ops.serialize(async () => {
    if (!ops.currentSnapshot()) return undefined;
    const first = await ops.liveEntries(ops.currentSnapshot()!);
    if (!options.all && !first.some((e) => e.file.content === CONTENT_POSITION_DELETES)) return undefined;
    let removedPaths = new Set<string>();
    let newFiles: NewDataFile[] = [];
    return producer.commit("compact", async (base, snapshotId, seq, files) => {
      const parent = ops.currentSnapshot()!;
      const manifests = await readManifestList(ops.io, parent["manifest-list"]);
      const withEntries = await Promise.all(manifests.map(async (m) => ({ m, entries: (await readManifest(ops.io, m)).filter((e) => e.status !== STATUS_DELETED) })));
      const live = withEntries.flatMap((x) => x.entries);
      if (live.some((e) => e.file.content === CONTENT_EQUALITY_DELETES)) throw new ValidationError("compact: tables with equality deletes are not supported");
      const deleteFiles = live.filter((e) => e.file.content === CONTENT_POSITION_DELETES);
      const deleted = await deletedPositions(ops, deleteFiles, 1);
      const rewrite = live.filter((e) => e.file.content === CONTENT_DATA && (options.all || deleted.has(e.file.file_path)));
      removedPaths = new Set([...rewrite, ...deleteFiles].map((e) => e.file.file_path));
      // Read the live rows of the rewritten files in the current schema (by field id).
      const schema = ops.schema();
      const rows: Row[] = [];
      for (const e of rewrite) {
        const cols = await readColumnsByIdOptional(await ops.io.read(e.file.file_path), schema.fields.map((f) => f.id), `data file ${e.file.file_path}`);
        const n = Number(e.file.record_count);
        const dels = deleted.get(e.file.file_path);
        for (let i = 0; i < n; i++) {
          if (dels?.has(i)) continue;
          const row: Row = {};
          schema.fields.forEach((f, c) => (row[f.name] = cols[c] ? canonicalFromPhysical(f.type, cols[c]![i]) : null));
          rows.push(row);
        }
      }
      const keys = ops.hasPrimaryKey ? rows.map((r) => ops.keyOf(r)) : undefined;
      newFiles = await writeDataFiles(ops, rows, keys, files);
      // New manifests: the compacted files, then every old manifest with removed files marked DELETED.
      const out = await producer.writeManifests("data", newFiles.map((f) => ({ record: f.record, specId: f.specId })), snapshotId, seq, files);
      for (const { m, entries } of withEntries) {
        if (!entries.some((e) => removedPaths.has(e.file.file_path))) {
          out.push(m);
          continue;
        }
        const schemaForManifest = base.schemas.find((x) => x["schema-id"] === entries[0]?.schemaId) ?? schema;
        const loc = `${ops.location}/metadata/${randomUUID()}-m0.avro`;
        files.push(loc);
        out.push(await writeManifest(ops.io, {
          formatVersion: ops.formatVersion,
          location: loc,
          schema: schemaForManifest,
          spec: base["partition-specs"].find((x) => x["spec-id"] === m.partition_spec_id) ?? ops.spec(),
          content: m.content === CONTENT_DATA ? "data" : "deletes",
          snapshotId,
          sequenceNumber: seq,
          entries: entries.map((e) => ({
            status: removedPaths.has(e.file.file_path) ? STATUS_DELETED : STATUS_EXISTING,
            snapshot_id: removedPaths.has(e.file.file_path) ? snapshotId : e.snapshotId,
            sequence_number: e.dataSequenceNumber,
            file_sequence_number: e.fileSequenceNumber,
            data_file: e.file,
          })),
        }, () => null));
      }
      const remaining = [...live.filter((e) => !removedPaths.has(e.file.file_path)).map((e) => e.file), ...newFiles.map((f) => f.record)];
      const sum = (list: DataFileRecord[]) => list.reduce((a, f) => a + BigInt(f.record_count), 0n);
      const size = (list: DataFileRecord[]) => list.reduce((a, f) => a + BigInt(f.file_size_in_bytes), 0n);
      const rData = remaining.filter((f) => f.content === CONTENT_DATA);
      const rDel = remaining.filter((f) => f.content === CONTENT_POSITION_DELETES);
      const summary: Record<string, string> = {
        ...producer.carriedSummary(),
        operation: "replace",
        "added-data-files": String(newFiles.length),
        "added-records": String(rows.length),
        "deleted-data-files": String(rewrite.length),
        "deleted-records": String(sum(rewrite.map((e) => e.file))),
        "removed-delete-files": String(deleteFiles.length),
        "removed-position-deletes": String(sum(deleteFiles.map((e) => e.file))),
        "total-records": String(sum(rData)),
        "total-files-size": String(size(remaining)),
        "total-data-files": String(rData.length),
        "total-delete-files": String(rDel.length),
        "total-position-deletes": String(sum(rDel)),
        "total-equality-deletes": "0",
      };
      return { manifests: out, summary, addedRows: rows.length, deletedRows: 0 };
    }, async () => {
      const idx = index.pkIndex;
      if (!idx) return;
      for (const p of removedPaths) idx.removeFile(p);
      for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
    });
  });
}

/**
 * Deletes files under the table location that no snapshot, metadata file or metadata log
 * references and that are older than `olderThanMs` (default: 1 day ago), e.g. files left by a
 * writer that crashed between writing and committing. Needs a FileIO with `list`.
 */
export function removeOrphanFiles(ops: TableOps, options: { olderThanMs?: number } = {}): Promise<string[]> {
  return ops.serialize(async () => {
    if (!ops.io.list) throw new ValidationError("removeOrphanFiles: this table's FileIO cannot list files");
    const cutoff = options.olderThanMs ?? Date.now() - 24 * 3600 * 1000;
    const reachable = new Set<string>([ops.metadataLocation, ...ops.metadata["metadata-log"].map((e) => e["metadata-file"])]);
    for (const s of ops.metadata.snapshots) {
      reachable.add(s["manifest-list"]);
      for (const mf of await readManifestList(ops.io, s["manifest-list"])) {
        reachable.add(mf.manifest_path);
        for (const e of await readManifest(ops.io, mf)) reachable.add(e.file.file_path);
      }
    }
    const files = await ops.io.list(ops.location);
    const orphans = files.filter((f) => !reachable.has(f.location) && f.modifiedMs < cutoff && !f.location.endsWith(".tmp")).map((f) => f.location);
    await ops.deleteQuietly(orphans);
    ops.log.info("removed orphan files", { files: orphans.length });
    return orphans;
  });
}

/**
 * Removes old snapshots from the table metadata (keeping the current one, every ref, and the
 * `retainLast` newest) and deletes the files only they referenced: manifest lists, manifests,
 * data and delete files. Returns what was removed.
 */
export function expireSnapshots(ops: TableOps, options: { olderThanMs?: number; retainLast?: number } = {}): Promise<{ snapshots: number; files: number }> {
  return ops.serialize(async () => {
    const olderThan = options.olderThanMs ?? Date.now() - 5 * 24 * 3600 * 1000;
    const retainLast = Math.max(1, options.retainLast ?? 1);
    const m = ops.metadata;
    const keep = new Set<string>(Object.values(m.refs).map((r) => String(r["snapshot-id"])));
    const newest = [...m.snapshots].sort((a, b) => b["timestamp-ms"] - a["timestamp-ms"]).slice(0, retainLast);
    for (const s of newest) keep.add(String(s["snapshot-id"]));
    const expire = m.snapshots.filter((s) => !keep.has(String(s["snapshot-id"])) && s["timestamp-ms"] < olderThan);
    if (expire.length === 0) return { snapshots: 0, files: 0 };
    const retained = m.snapshots.filter((s) => !expire.includes(s));
    const reachable = new Set<string>();
    const collect = async (snaps: Snapshot[], into: Set<string>) => {
      for (const s of snaps) {
        into.add(s["manifest-list"]);
        for (const mf of await readManifestList(ops.io, s["manifest-list"])) {
          into.add(mf.manifest_path);
          for (const e of await readManifest(ops.io, mf)) if (e.status !== STATUS_DELETED) into.add(e.file.file_path);
        }
      }
    };
    await collect(retained, reachable);
    const candidates = new Set<string>();
    for (const s of expire) {
      candidates.add(s["manifest-list"]);
      for (const mf of await readManifestList(ops.io, s["manifest-list"]).catch(() => [])) {
        candidates.add(mf.manifest_path);
        for (const e of await readManifest(ops.io, mf).catch(() => [])) candidates.add(e.file.file_path);
      }
    }
    ops.loaded = await ops.catalog.commitTable(ops.id, [{ type: "assert-table-uuid", uuid: m["table-uuid"] }, { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": (m["current-snapshot-id"] ?? null) as bigint | null }], [
      { action: "remove-snapshots", "snapshot-ids": expire.map((s) => BigInt(s["snapshot-id"])) },
    ]);
    const doomed = [...candidates].filter((f) => !reachable.has(f));
    await ops.deleteQuietly(doomed);
    ops.log.info("expired snapshots", { snapshots: expire.length, files: doomed.length });
    return { snapshots: expire.length, files: doomed.length };
  });
}
