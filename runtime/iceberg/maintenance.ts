/**
 * Table maintenance that rewrites files: compaction (size-tiered bin-packing, data files rewritten
 * without their deletes once enough of them are deleted, fully deleted files dropped, v2 position
 * delete files merged to at most a few per data file) and manifest rewriting, each one "replace"
 * snapshot through the table's commit queue. Planning is pure (maintenance-plan.ts); snapshot
 * expiry and orphan removal are in expire.ts.
 *
 * Concurrency: each commit attempt plans again against its base, so a compaction that lost the
 * race to another writer (the CDC writer, or another engine) never drops that writer's deletes;
 * readers and the primary-key index see exactly the same rows before and after.
 */
import { randomUUID } from "crypto";
import { ValidationError } from "./catalog";
import { columnKeys, writeColumns, type NewDataFile } from "./datafiles";
import { deleteFilesFor, type WrittenDeleteFile } from "./deletes";
import {
  CONTENT_DATA,
  CONTENT_EQUALITY_DELETES,
  STATUS_DELETED,
  STATUS_EXISTING,
  readManifestList,
  writeManifest,
  type DataFileRecord,
  type LiveEntry,
  type ManifestEntryRecord,
  type ManifestFileRecord,
} from "./manifests";
import { noReasons, planCompaction, type CompactionPlan, type DataFileStats, type MaintenancePolicy } from "./maintenance-plan";
import { initialDefault } from "./defaults";
import { readColumnsByIdOptional } from "./parquet";
import { deleteKey, deleteTargets, snapshotFiles, type SnapshotFiles } from "./live-files";
import type { RowLocation } from "./pkindex";
import type { SnapshotProducer } from "./snapshot";
import type { NestedField, TableMetadata } from "./spec";
import type { TableIndex } from "./table-index";
import type { CommitResult, TableOps } from "./table-ops";
import { canonicalFromPhysical, fieldCodec, type FieldCodec } from "./values";

/** Row lineage columns (v3): kept when compaction moves a row to another file. */
export const ROW_ID_FIELD: NestedField = { id: 2147483540, name: "_row_id", required: false, type: "long" };
export const LAST_UPDATED_SEQ_FIELD: NestedField = { id: 2147483539, name: "_last_updated_sequence_number", required: false, type: "long" };

const partitionKey = (e: LiveEntry): string =>
  `${e.specId}|${JSON.stringify(e.file.partition, (_k, v) => (typeof v === "bigint" ? v.toString() : Buffer.isBuffer(v) ? v.toString("hex") : v))}`;

/** Per data file: its deleted positions and the delete files that target it. */
interface DeleteMap {
  positions: Map<string, Set<number>>;
  byData: Map<string, string[]>;
  targets: Map<string, RowLocation[]>;
}

export async function deleteMap(ops: TableOps, deletes: LiveEntry[]): Promise<DeleteMap> {
  const targets = await deleteTargets(ops, deletes);
  const positions = new Map<string, Set<number>>();
  const byData = new Map<string, string[]>();
  for (const [k, locs] of targets) {
    const seen = new Set<string>();
    for (const l of locs) {
      let s = positions.get(l.path);
      if (!s) positions.set(l.path, (s = new Set()));
      s.add(l.pos);
      if (!seen.has(l.path)) {
        seen.add(l.path);
        const list = byData.get(l.path);
        if (list) list.push(k);
        else byData.set(l.path, [k]);
      }
    }
  }
  return { positions, byData, targets };
}

export type CompactionMode = "policy" | "deletes" | "all";

export interface CompactionResult extends CommitResult {
  /** Data files rewritten into `addedDataFiles`, and files dropped because every row was deleted. */
  rewrittenDataFiles: number;
  droppedDataFiles: number;
  addedDataFiles: number;
  /** Delete files / deletion vectors removed, and v2 position delete files written to replace them. */
  removedDeleteFiles: number;
  addedDeleteFiles: number;
  rewrittenRows: number;
  reasons: CompactionPlan["reasons"];
}

/** Thrown inside a commit attempt when the plan turned out empty against that attempt's base. */
class NothingToDo extends Error {}

/** What a compaction of `files` would do under `mode`, and the deletes it must carry or drop. */
export function plan(
  files: SnapshotFiles,
  dm: DeleteMap,
  mode: CompactionMode,
  policy: MaintenancePolicy,
  formatVersion: number,
): { plan: CompactionPlan; removedData: Set<string>; dirty: Set<string> } {
  const stats: DataFileStats[] = files.data.map((e) => ({
    path: e.file.file_path,
    partitionKey: partitionKey(e),
    sizeBytes: Number(e.file.file_size_in_bytes),
    records: Number(e.file.record_count),
    deleted: dm.positions.get(e.file.file_path)?.size ?? 0,
    deleteFiles: dm.byData.get(e.file.file_path)?.length ?? 0,
    addedBy: e.snapshotId.toString(),
  }));
  let p: CompactionPlan;
  if (mode === "policy") p = planCompaction(stats, policy);
  else {
    p = { rewrite: [], drop: [], reasons: noReasons() };
    const groups = new Map<string, DataFileStats[]>();
    for (const f of stats) {
      if (f.records > 0 && f.deleted >= f.records) {
        p.drop.push(f);
        p.reasons.allDeleted++;
      } else if (mode === "all" || f.deleted > 0) groups.set(f.partitionKey, [...(groups.get(f.partitionKey) ?? []), f]);
    }
    p.rewrite = [...groups.values()];
    p.reasons.deleteRatio = p.rewrite.reduce((a, g) => a + g.length, 0);
  }
  const removedData = new Set([...p.rewrite.flat(), ...p.drop].map((f) => f.path));
  // Delete files to remove: those targeting a removed data file; in v2 also every delete file of a
  // data file with too many of them (merged into one), closed over data files they share.
  const dirty = new Set<string>();
  for (const path of removedData) for (const k of dm.byData.get(path) ?? []) dirty.add(k);
  if (formatVersion < 3) {
    if (mode === "policy")
      for (const [path, ks] of dm.byData) if (!removedData.has(path) && ks.length > policy.maxDeleteFilesPerDataFile) for (const k of ks) dirty.add(k);
    for (let grew = true; grew;) {
      grew = false;
      for (const k of [...dirty]) {
        for (const l of dm.targets.get(k) ?? []) {
          if (removedData.has(l.path)) continue;
          for (const other of dm.byData.get(l.path) ?? []) {
            if (dirty.has(other)) continue;
            dirty.add(other);
            grew = true;
          }
        }
      }
    }
  }
  return { plan: p, removedData, dirty };
}

function signedBytes(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return b[0] & 0x80 ? v - (1n << BigInt(8 * b.length)) : v;
}

/** Physical Parquet value (parquet.ts readColumnsById) -> the normalized value writeColumns takes, per codec. */
function fromPhysical(codec: FieldCodec): (v: unknown) => unknown {
  const p = codec.primitive;
  if (codec.isList) return (v) => (v === null || v === undefined ? null : codec.normalize(canonicalFromPhysical(codec.field.type, v), codec.field.name));
  switch (p.kind) {
    case "int":
    case "date":
    case "float":
    case "double":
      return (v) => (v === null || v === undefined ? null : Number(v));
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      return (v) => (v === null || v === undefined ? null : typeof v === "bigint" ? v : BigInt(v as number));
    case "decimal":
      return (v) => (v === null || v === undefined ? null : v instanceof Uint8Array ? signedBytes(v) : BigInt(v as number | bigint));
    case "string":
      return (v) => (v === null || v === undefined ? null : typeof v === "string" ? v : Buffer.from(v as Uint8Array).toString("utf8"));
    default:
      return (v) => (v === null || v === undefined ? null : codec.normalize(canonicalFromPhysical(codec.field.type, v), codec.field.name));
  }
}

/**
 * The live rows of a group of data files (their deleted positions skipped) as normalized columns
 * of `codecs` (the current schema by field id; v3: then the row lineage columns, a moved row
 * keeping its _row_id — explicit, or first_row_id + position — and _last_updated_sequence_number —
 * explicit, or the file's data sequence number).
 */
async function liveColumns(
  ops: TableOps,
  entries: LiveEntry[],
  deleted: (path: string) => Set<number> | undefined,
  codecs: FieldCodec[],
  lineage: boolean,
): Promise<{ columns: unknown[][]; rows: number }> {
  const keeps = entries.map((e) => {
    const dels = deleted(e.file.file_path);
    const n = Number(e.file.record_count);
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (!dels?.has(i)) keep.push(i);
    return keep;
  });
  const rows = keeps.reduce((a, k) => a + k.length, 0);
  const columns = codecs.map(() => new Array<unknown>(rows));
  const convs = codecs.map(fromPhysical);
  const fills = codecs.map((c) => {
    const d = initialDefault(c.field);
    return d === null ? null : c.normalize(d, `initial-default of column "${c.field.name}"`);
  });
  const dataCount = lineage ? codecs.length - 2 : codecs.length;
  let at = 0;
  for (let f = 0; f < entries.length; f++) {
    const e = entries[f];
    const keep = keeps[f];
    if (keep.length === 0) continue;
    const read = await readColumnsByIdOptional(
      await ops.io.read(e.file.file_path),
      codecs.map((c) => c.field.id),
      `data file ${e.file.file_path}`,
    );
    for (let c = 0; c < dataCount; c++) {
      const col = read[c];
      const out = columns[c];
      const conv = convs[c];
      if (!col) {
        // a field added after this file was written: its initial-default (v3), else null
        const fill = fills[c];
        for (let i = 0; i < keep.length; i++) out[at + i] = fill;
      } else for (let i = 0; i < keep.length; i++) out[at + i] = conv(col[keep[i]]);
    }
    if (lineage) {
      const [rowIds, seqs] = [read[dataCount], read[dataCount + 1]];
      const first = e.file.first_row_id;
      for (let i = 0; i < keep.length; i++) {
        const pos = keep[i];
        const id = rowIds?.[pos];
        columns[dataCount][at + i] =
          id !== undefined && id !== null ? BigInt(id as bigint) : first !== undefined && first !== null ? BigInt(first) + BigInt(pos) : null;
        const seq = seqs?.[pos];
        columns[dataCount + 1][at + i] = seq !== undefined && seq !== null ? BigInt(seq as bigint) : e.dataSequenceNumber;
      }
    }
    at += keep.length;
  }
  return { columns, rows };
}

/**
 * Rewrites the snapshot's manifests around `removed` (keys of data and delete files leaving the
 * table): every manifest group (content, partition spec, schema) holding a removed file, or every
 * group when the snapshot would have more than `maxManifests` manifests, becomes one manifest with
 * its live files EXISTING and the removed ones DELETED (so expiry finds what this snapshot removed);
 * other manifests are carried as they are.
 */
async function rewriteManifestGroups(
  ops: TableOps,
  base: TableMetadata,
  files: SnapshotFiles,
  removed: Set<string>,
  maxManifests: number,
  added: number,
  snapshotId: bigint,
  seq: bigint,
  written: string[],
): Promise<{ manifests: ManifestFileRecord[]; merged: number }> {
  const groups = new Map<string, SnapshotFiles["manifests"]>();
  for (const m of files.manifests) {
    const key = `${m.record.content}|${m.record.partition_spec_id}|${m.entries[0]?.schemaId ?? "?"}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  const mergeAll = files.manifests.length + added > maxManifests;
  const out: ManifestFileRecord[] = [];
  let merged = 0;
  for (const group of groups.values()) {
    const touched = group.some((m) =>
      m.entries.some((e) => e.status !== STATUS_DELETED && removed.has(e.file.content === CONTENT_DATA ? e.file.file_path : deleteKey(e.file))),
    );
    if (!touched && !(mergeAll && group.length > 1)) {
      out.push(...group.map((m) => m.record));
      continue;
    }
    const entries: ManifestEntryRecord[] = [];
    for (const m of group) {
      for (const e of m.entries) {
        if (e.status === STATUS_DELETED) continue; // removed by an earlier snapshot
        const gone = removed.has(e.file.content === CONTENT_DATA ? e.file.file_path : deleteKey(e.file));
        entries.push({
          status: gone ? STATUS_DELETED : STATUS_EXISTING,
          snapshot_id: gone ? snapshotId : e.snapshotId,
          sequence_number: e.dataSequenceNumber,
          file_sequence_number: e.fileSequenceNumber,
          data_file: e.file,
        });
      }
    }
    merged += group.length;
    if (entries.length === 0) continue;
    const first = group[0];
    const loc = `${ops.location}/metadata/${randomUUID()}-m0.avro`;
    written.push(loc);
    out.push(
      await writeManifest(
        ops.io,
        {
          formatVersion: ops.formatVersion,
          location: loc,
          schema: base.schemas.find((x) => x["schema-id"] === first.entries[0]?.schemaId) ?? ops.schema(),
          spec: base["partition-specs"].find((x) => x["spec-id"] === first.record.partition_spec_id) ?? ops.spec(),
          content: first.record.content === CONTENT_DATA ? "data" : "deletes",
          snapshotId,
          sequenceNumber: seq,
          entries,
        },
        () => null,
      ),
    );
  }
  return { manifests: out, merged };
}

export const isDv = (f: DataFileRecord) => f.content_offset !== undefined && f.content_offset !== null;

/** The summary of a "replace" snapshot that leaves `remaining` live and removed / added these. */
function replaceSummary(
  carried: Record<string, string>,
  remaining: DataFileRecord[],
  removed: DataFileRecord[],
  added: DataFileRecord[],
): Record<string, string> {
  const sum = (list: DataFileRecord[], f: (x: DataFileRecord) => bigint) => String(list.reduce((a, x) => a + f(x), 0n));
  const rows = (x: DataFileRecord) => BigInt(x.record_count);
  const size = (x: DataFileRecord) => BigInt(x.file_size_in_bytes);
  const data = (l: DataFileRecord[]) => l.filter((x) => x.content === CONTENT_DATA);
  const dels = (l: DataFileRecord[]) => l.filter((x) => x.content !== CONTENT_DATA);
  const out: Record<string, string> = {
    ...carried,
    operation: "replace",
    "added-data-files": String(data(added).length),
    "added-records": sum(data(added), rows),
    "added-files-size": sum(added, size),
    "deleted-data-files": String(data(removed).length),
    "deleted-records": sum(data(removed), rows),
    "removed-files-size": sum(removed, size),
    "removed-delete-files": String(dels(removed).length),
    "removed-position-deletes": sum(dels(removed), rows),
    "total-records": sum(data(remaining), rows),
    "total-files-size": sum(remaining, size),
    "total-data-files": String(data(remaining).length),
    "total-delete-files": String(dels(remaining).length),
    "total-position-deletes": sum(dels(remaining), rows),
    "total-equality-deletes": "0",
  };
  const addedDeletes = dels(added);
  if (addedDeletes.length) {
    out["added-delete-files"] = String(addedDeletes.length);
    out["added-position-delete-files"] = String(addedDeletes.filter((x) => !isDv(x)).length);
    out["added-position-deletes"] = sum(addedDeletes, rows);
  }
  const removedDvs = dels(removed).filter(isDv).length;
  if (removedDvs) out["removed-dvs"] = String(removedDvs);
  const removedPos = dels(removed).length - removedDvs;
  if (removedPos) out["removed-position-delete-files"] = String(removedPos);
  return out;
}

/**
 * Compacts the table in one "replace" snapshot, or returns undefined when there is nothing to do.
 * `policy` mode follows the plan of maintenance-plan.ts; `deletes` rewrites every data file that
 * has deletes; `all` rewrites every data file (one output per partition, split at the target size).
 */
export function compact(
  ops: TableOps,
  index: TableIndex,
  producer: SnapshotProducer,
  mode: CompactionMode,
  policy: MaintenancePolicy,
): Promise<CompactionResult | undefined> {
  return ops.serialize(async () => {
    const current = ops.currentSnapshot();
    if (!current) return undefined;
    {
      // a cheap look first (manifests and delete files are cached): nothing to do, no commit
      const files = await snapshotFiles(ops, current);
      if (files.deletes.some((e) => e.file.content === CONTENT_EQUALITY_DELETES))
        throw new ValidationError(`${ops.name}: compaction of tables with equality deletes is not supported`);
      const p = plan(files, await deleteMap(ops, files.deletes), mode, policy, ops.formatVersion);
      if (p.plan.rewrite.length === 0 && p.plan.drop.length === 0 && p.dirty.size === 0) return undefined;
    }
    let removedData = new Set<string>();
    let newFiles: NewDataFile[] = [];
    let stats = {
      rewrittenDataFiles: 0,
      droppedDataFiles: 0,
      addedDataFiles: 0,
      removedDeleteFiles: 0,
      addedDeleteFiles: 0,
      rewrittenRows: 0,
      reasons: noReasons(),
    };
    try {
      const r = await producer.commit(
        "compact",
        async (base, snapshotId, seq, written) => {
          const parent = ops.currentSnapshot();
          if (!parent) throw new NothingToDo();
          const files = await snapshotFiles(ops, parent);
          if (files.deletes.some((e) => e.file.content === CONTENT_EQUALITY_DELETES))
            throw new ValidationError(`${ops.name}: compaction of tables with equality deletes is not supported`);
          const dm = await deleteMap(ops, files.deletes);
          const p = plan(files, dm, mode, policy, ops.formatVersion);
          if (p.plan.rewrite.length === 0 && p.plan.drop.length === 0 && p.dirty.size === 0) throw new NothingToDo();
          removedData = p.removedData;
          const dataByPath = new Map(files.data.map((e) => [e.file.file_path, e]));
          // rewrite each group's live rows (current schema by field id; v3: with their row lineage)
          const schema = ops.schema();
          const lineage = ops.formatVersion >= 3;
          const fields = lineage ? [...schema.fields, ROW_ID_FIELD, LAST_UPDATED_SEQ_FIELD] : schema.fields;
          const codecs: FieldCodec[] = fields.map(fieldCodec);
          newFiles = [];
          let rewrittenRows = 0;
          for (const group of p.plan.rewrite) {
            const bytes = group.reduce((a, f) => a + f.sizeBytes, 0);
            const records = group.reduce((a, f) => a + f.records, 0);
            const { columns, rows: rowCount } = await liveColumns(
              ops,
              group.map((f) => dataByPath.get(f.path)!),
              (path) => dm.positions.get(path),
              codecs,
              lineage,
            );
            if (rowCount === 0) continue;
            const keys = ops.hasPrimaryKey ? columnKeys(ops.keyCodecs(), codecs, columns as ArrayLike<unknown>[], rowCount) : undefined;
            const rowsPerFile = Math.max(1, Math.min(ops.options.rowsPerFile, Math.floor(policy.targetFileBytes / Math.max(1, bytes / Math.max(1, records)))));
            newFiles.push(...(await writeColumns(ops, codecs, columns, rowCount, keys, written, rowsPerFile)));
            rewrittenRows += rowCount;
          }
          // v2: the deletes of remaining data files that shared a removed delete file, one file per data file
          const replacements: WrittenDeleteFile[] = [];
          if (ops.formatVersion < 3 && p.dirty.size > 0) {
            const keep = new Map<string, RowLocation[]>();
            for (const k of p.dirty) for (const l of dm.targets.get(k) ?? []) if (!removedData.has(l.path)) keep.set(l.path, [...(keep.get(l.path) ?? []), l]);
            const format = deleteFilesFor(ops);
            for (const [path, locs] of keep) {
              const unique = [...new Set(locs.map((l) => l.pos))].map((pos) => ({ path, pos }));
              const { written: files } = await format.write(unique, written, (x) => {
                const e = dataByPath.get(x);
                return e ? { partition: e.file.partition, specId: e.specId } : undefined;
              });
              replacements.push(...files);
            }
          }
          const removed = new Set<string>([...removedData, ...p.dirty]);
          const addedManifests = [
            ...(await producer.writeManifests(
              "data",
              newFiles.map((f) => ({ record: f.record, specId: f.specId })),
              snapshotId,
              seq,
              written,
            )),
            ...(await producer.writeManifests("deletes", replacements, snapshotId, seq, written)),
          ];
          const { manifests } = await rewriteManifestGroups(ops, base, files, removed, policy.maxManifests, addedManifests.length, snapshotId, seq, written);
          const live = [...files.data, ...files.deletes];
          const removedRecords = live.filter((e) => removed.has(e.file.content === CONTENT_DATA ? e.file.file_path : deleteKey(e.file))).map((e) => e.file);
          const addedRecords = [...newFiles.map((f) => f.record), ...replacements.map((f) => f.record)];
          const remaining = [
            ...live.filter((e) => !removed.has(e.file.content === CONTENT_DATA ? e.file.file_path : deleteKey(e.file))).map((e) => e.file),
            ...addedRecords,
          ];
          stats = {
            rewrittenDataFiles: p.plan.rewrite.reduce((a, g) => a + g.length, 0),
            droppedDataFiles: p.plan.drop.length,
            addedDataFiles: newFiles.length,
            removedDeleteFiles: p.dirty.size,
            addedDeleteFiles: replacements.length,
            rewrittenRows,
            reasons: p.plan.reasons,
          };
          return {
            manifests: [...addedManifests, ...manifests],
            summary: replaceSummary(producer.carriedSummary(), remaining, removedRecords, addedRecords),
            addedRows: rewrittenRows,
            deletedRows: 0,
          };
        },
        async () => {
          const idx = index.pkIndex;
          if (!idx) return;
          for (const path of removedData) idx.removeFile(path);
          for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
        },
      );
      ops.log.info("compacted", { mode, ...stats, reasons: stats.reasons });
      return { ...r, ...stats };
    } catch (e) {
      if (e instanceof NothingToDo) return undefined;
      throw e;
    }
  });
}

/**
 * Merges the current snapshot's manifests into one per content, partition spec and schema in a
 * "replace" snapshot when there are more than `maxManifests` (no data or delete file changes).
 * Returns undefined when there are not.
 */
export function rewriteManifests(ops: TableOps, producer: SnapshotProducer, maxManifests: number): Promise<CommitResult | undefined> {
  return ops.serialize(async () => {
    const current = ops.currentSnapshot();
    if (!current) return undefined;
    if ((await readManifestList(ops.io, current["manifest-list"])).length <= maxManifests) return undefined;
    try {
      return await producer.commit(
        "rewrite-manifests",
        async (base, snapshotId, seq, written) => {
          const parent = ops.currentSnapshot()!;
          const files = await snapshotFiles(ops, parent);
          if (files.manifests.length <= maxManifests) throw new NothingToDo();
          const { manifests } = await rewriteManifestGroups(ops, base, files, new Set(), 0, 0, snapshotId, seq, written);
          const live = [...files.data, ...files.deletes].map((e) => e.file);
          return {
            manifests,
            summary: {
              ...replaceSummary(producer.carriedSummary(), live, [], []),
              "manifests-replaced": String(files.manifests.length),
              "manifests-created": String(manifests.length),
            },
            addedRows: 0,
            deletedRows: 0,
          };
        },
        async () => undefined,
      );
    } catch (e) {
      if (e instanceof NothingToDo) return undefined;
      throw e;
    }
  });
}
