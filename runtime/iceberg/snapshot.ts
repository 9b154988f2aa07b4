/**
 * The snapshot producer: turns one operation (a write, truncate, compaction) into one committed
 * snapshot. `commit` is the optimistic commit loop: per attempt the operation writes its files and
 * manifests against the current base, the producer writes the manifest list (merging small carried
 * manifests past `maxManifests`), and the catalog compare-and-swaps the snapshot in; on a conflict
 * the files of the attempt are deleted, the table is reloaded, the index caught up, and the
 * operation runs again against the new base. A commit whose outcome is unknown is never taken for
 * failed: it is settled with the catalog before anything is deleted. Also the snapshot summary (totals from the parent,
 * custom properties carried forward) and the cleanup of metadata files that fell off the log.
 */
import { randomUUID } from "crypto";
import { logs } from "../core/log";
import { CommitConflictError, CommitStateUnknownError, idempotencyKey, type LoadTableResult, type TableRequirement, type TableUpdate } from "./catalog";
import {
  CONTENT_DATA,
  CONTENT_EQUALITY_DELETES,
  CONTENT_POSITION_DELETES,
  STATUS_ADDED,
  STATUS_DELETED,
  STATUS_EXISTING,
  readManifest,
  readManifestList,
  writeManifest,
  writeManifestList,
  type DataFileRecord,
  type LiveEntry,
  type ManifestEntryRecord,
  type ManifestFileRecord,
} from "./manifests";
import { STATE_PREFIX, newSnapshotId, schemaIdFor, snapshotCarriesState, stateSnapshot } from "./metadata";
import { dropFromManifests } from "./live-files";
import { icebergMetrics } from "./metrics";
import type { StagedSchema } from "./schema-update";
import type { Schema, Snapshot, TableMetadata } from "./spec";
import type { TableIndex } from "./table-index";
import type { CommitResult, TableOps } from "./table-ops";

/** What removeAll() marked DELETED: its manifests, and the files and rows they held. */
export interface RemovedFiles {
  manifests: ManifestFileRecord[];
  dataFiles: number;
  rows: bigint;
  deleteFiles: number;
  positionDeletes: bigint;
}

/** Snapshot summary keys written by Iceberg itself; every other key is carried forward. */
export const STANDARD_SUMMARY =
  /^(operation|added-|deleted-|removed-|total-|changed-partition-count|replace-partitions|engine-|iceberg-version|app-id|spark\.)/;

/** Backoff while settling a commit whose outcome is unknown: 200 ms doubling up to 10 s, with jitter. */
const SETTLE_BASE_DELAY_MS = 200;
const SETTLE_MAX_DELAY_MS = 10_000;

/**
 * Whether the table holds a snapshot: among its snapshots, or as the parent of one (a snapshot
 * expired since still has its child pointing at it).
 */
export function holdsSnapshot(m: TableMetadata, snapshotId: bigint): boolean {
  return (m.snapshots ?? []).some(
    (s) =>
      BigInt(s["snapshot-id"]) === snapshotId ||
      (s["parent-snapshot-id"] !== undefined && s["parent-snapshot-id"] !== null && BigInt(s["parent-snapshot-id"]) === snapshotId),
  );
}

/** What one attempt of an operation produced: the new snapshot's manifests and summary. */
export interface SnapshotParts {
  manifests: ManifestFileRecord[];
  summary: Record<string, string>;
  addedRows: number;
  deletedRows: number;
  /** Carry the parent snapshot's manifests into the new snapshot (writes); else `manifests` is the whole table. */
  keepBaseManifests?: boolean;
  /** Files (live-files.ts entryKey) the snapshot removes from the carried manifests, e.g. deletion vectors a write replaced. */
  removed?: Set<string>;
  /**
   * A schema change committed with the snapshot, in the same catalog commit (the snapshot's data
   * files are written in that schema): readers see the old schema and rows, then the new ones.
   */
  schema?: StagedSchema;
}

/**
 * One attempt of an operation against `base`: writes its files (pushing every path on `files`, so
 * a failed attempt can delete them) and returns the new snapshot's parts.
 */
export type SnapshotAttempt = (base: TableMetadata, snapshotId: bigint, seq: bigint, files: string[]) => Promise<SnapshotParts>;

export class SnapshotProducer {
  constructor(
    private readonly ops: TableOps,
    private readonly index: TableIndex,
  ) {}

  /**
   * The optimistic commit loop. `attempt` writes this attempt's files and returns the new
   * manifests and summary; on conflict the table is reloaded, the index caught up, and `attempt`
   * runs again against the new base. `onSuccess` updates the index after the commit landed.
   * `permanentFiles` (written before the loop, e.g. a transaction's data files) are deleted when
   * the loop fails for good; an attempt's own files are deleted when that attempt fails.
   *
   * Files are deleted only when the catalog has definitely not committed the snapshot. A commit
   * whose outcome is unknown (a lost reply, a timeout, a 5xx) is settled with the catalog itself
   * first (`settle`); if that is cut short by the table's stop signal, the loop throws
   * CommitStateUnknownError and keeps every file (whatever stays unreferenced is orphan cleanup's).
   */
  async commit(label: string, attempt: SnapshotAttempt, onSuccess: () => Promise<void>, permanentFiles: string[] = []): Promise<CommitResult> {
    const ops = this.ops;
    const snapshotId = newSnapshotId();
    let lastError: Error | undefined;
    for (let n = 1; n <= ops.options.maxCommitAttempts; n++) {
      const base = ops.metadata;
      const parent = ops.currentSnapshot();
      const parentId = parent ? BigInt(parent["snapshot-id"]) : null;
      const seq = BigInt(base["last-sequence-number"]) + 1n;
      const files: string[] = [];
      /** Set once the catalog holds the snapshot, or may hold it: from then on nothing is deleted. */
      let sent = false;
      try {
        const r = await attempt(base, snapshotId, seq, files);
        const snapshot = await this.writeSnapshot(r, base, parent, snapshotId, seq, n, files);
        const requirements: TableRequirement[] = [
          { type: "assert-table-uuid", uuid: base["table-uuid"] },
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": parentId },
        ];
        const updates: TableUpdate[] = [
          { action: "add-snapshot", snapshot },
          { action: "set-snapshot-ref", "ref-name": "main", "snapshot-id": snapshotId, type: "branch" },
        ];
        if (r.schema) {
          requirements.push(
            { type: "assert-current-schema-id", "current-schema-id": r.schema.baseSchemaId },
            { type: "assert-last-assigned-field-id", "last-assigned-field-id": r.schema.baseLastColumnId },
          );
          updates.unshift(
            { action: "add-schema", schema: r.schema.schema, "last-column-id": r.schema.lastColumnId },
            { action: "set-current-schema", "schema-id": -1 },
          );
          if (Object.keys(r.schema.properties).length) updates.push({ action: "set-properties", updates: r.schema.properties });
        }
        const before = ops.metadata["metadata-log"];
        const key = idempotencyKey();
        let landed: LoadTableResult;
        try {
          landed = await ops.catalog.commitTable(ops.id, requirements, updates, { idempotencyKey: key });
        } catch (e) {
          if (!(e instanceof CommitStateUnknownError)) throw e;
          sent = true;
          const settled = await this.settle(label, snapshotId, requirements, updates, key, e);
          if (!settled) {
            sent = false;
            throw new CommitConflictError(`${ops.name}: the catalog did not commit snapshot ${snapshotId} (its outcome was unknown: ${e.message})`);
          }
          landed = settled;
        }
        sent = true;
        ops.loaded = landed;
        await this.deleteExpiredMetadataFiles(before);
        await onSuccess();
        this.index.snapshotId = snapshotId;
        icebergMetrics.commitAttempts.inc({ table: ops.name, op: label, outcome: "committed" });
        const pk = this.index.pkIndex;
        if (pk) icebergMetrics.indexRows.set({ table: ops.name }, pk.size);
        ops.log.info("committed", {
          op: label,
          snapshot: snapshotId,
          seq,
          attempts: n,
          added: r.addedRows,
          deleted: r.deletedRows,
          ...(logs("debug") ? { parent: parentId, state: Object.fromEntries(Object.entries(r.summary).filter(([k]) => k.startsWith(STATE_PREFIX))) } : {}),
        });
        return {
          snapshotId,
          sequenceNumber: Number(seq),
          metadataLocation: ops.metadataLocation,
          attempts: n,
          addedRows: r.addedRows,
          deletedRows: r.deletedRows,
        };
      } catch (e) {
        // committed (or maybe committed, and the settling was stopped): every file may be referenced
        if (sent) throw e;
        await ops.deleteQuietly(files);
        icebergMetrics.commitAttempts.inc({ table: ops.name, op: label, outcome: e instanceof CommitConflictError ? "conflict" : "failed" });
        if (!(e instanceof CommitConflictError)) {
          await ops.deleteQuietly(permanentFiles);
          throw e;
        }
        lastError = e;
        ops.log.info("commit conflict, retrying", { op: label, attempt: n, reason: e.message });
        const delay = ops.options.retryBaseMs * 2 ** (n - 1) * (0.5 + Math.random());
        await new Promise((r) => setTimeout(r, Math.min(delay, 5000)));
        try {
          await ops.reload();
          await this.index.catchUp();
        } catch (re) {
          await ops.deleteQuietly(permanentFiles);
          throw re;
        }
      }
    }
    await ops.deleteQuietly(permanentFiles);
    throw new CommitConflictError(`${ops.name}: ${label} gave up after ${ops.options.maxCommitAttempts} conflicting attempts: ${lastError?.message}`);
  }

  /**
   * Settles a commit whose outcome is unknown with the catalog itself: the same commit (same
   * snapshot, same requirements, same idempotency key) is sent again, with backoff, for as long as
   * it takes. Applied now, or replayed by an idempotent catalog: committed. A conflict: the table is
   * loaded, and holds the snapshot (committed earlier) or not — then it never will, because its
   * requirement names a parent the table has left. Anything else (unreachable, unknown again):
   * ask again. Returns the table holding the snapshot, or undefined when it is definitely not
   * committed. The table's stop signal ends the wait with CommitStateUnknownError.
   */
  private async settle(
    label: string,
    snapshotId: bigint,
    requirements: TableRequirement[],
    updates: TableUpdate[],
    key: string,
    first: Error,
  ): Promise<LoadTableResult | undefined> {
    const ops = this.ops;
    icebergMetrics.commitAttempts.inc({ table: ops.name, op: label, outcome: "unknown" });
    ops.log.warn("commit outcome unknown: its files are kept until the catalog says", { op: label, snapshot: snapshotId, error: first.message });
    let last: Error = first;
    for (let n = 1; ; n++) {
      await this.pause(Math.min(SETTLE_MAX_DELAY_MS, SETTLE_BASE_DELAY_MS * 2 ** Math.min(n - 1, 10)) * (0.5 + Math.random() / 2), () => {
        return new CommitStateUnknownError(`${ops.name}: stopped while the outcome of commit ${snapshotId} was unknown (${last.message}); its files are kept`);
      });
      try {
        const landed = await ops.catalog.commitTable(ops.id, requirements, updates, { idempotencyKey: key });
        ops.log.info("commit outcome settled: committed", { op: label, snapshot: snapshotId, asked: n });
        return landed;
      } catch (e) {
        if (e instanceof CommitConflictError) {
          try {
            const now = await ops.catalog.loadTable(ops.id);
            const held = holdsSnapshot(now.metadata, snapshotId);
            ops.log.info(`commit outcome settled: ${held ? "committed" : "not committed"}`, { op: label, snapshot: snapshotId, asked: n });
            return held ? now : undefined;
          } catch (le) {
            last = le as Error;
            continue;
          }
        }
        last = e as Error;
        if (n === 1 || n % 10 === 0)
          ops.log.warn("commit outcome still unknown, asking the catalog again", { op: label, snapshot: snapshotId, asked: n, error: last.message });
      }
    }
  }

  /** Waits `ms`; the table's stop signal ends the wait with the error `stopped` makes. */
  private pause(ms: number, stopped: () => Error): Promise<void> {
    const signal = this.ops.signal;
    if (signal?.aborted) return Promise.reject(stopped());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(stopped());
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Writes the manifest list of an attempt (parent manifests carried when asked, merged past maxManifests) and returns the snapshot. */
  private async writeSnapshot(
    r: SnapshotParts,
    base: TableMetadata,
    parent: Snapshot | undefined,
    snapshotId: bigint,
    seq: bigint,
    n: number,
    files: string[],
  ): Promise<Snapshot> {
    const ops = this.ops;
    const parentId = parent ? BigInt(parent["snapshot-id"]) : null;
    let carried = r.keepBaseManifests && parent ? await readManifestList(ops.io, parent["manifest-list"]) : [];
    if (r.removed?.size) carried = await dropFromManifests(ops, base, carried, r.removed, snapshotId, seq, files);
    if (carried.length + r.manifests.length > ops.options.maxManifests) {
      const before = carried;
      carried = await this.mergeManifests(carried, base, snapshotId, seq, files);
      // manifests this attempt wrote (dropFromManifests) that the merge replaced: nothing will reference them
      const kept = new Set(carried.map((m) => m.manifest_path));
      const replaced = new Set(before.map((m) => m.manifest_path).filter((p) => !kept.has(p) && files.includes(p)));
      if (replaced.size) {
        await ops.deleteQuietly([...replaced]);
        files.splice(0, files.length, ...files.filter((f) => !replaced.has(f)));
      }
    }
    const manifestList = `${ops.location}/metadata/snap-${snapshotId}-${n}-${randomUUID()}.avro`;
    files.push(manifestList);
    // v3 row lineage: new data manifests get row ids from the table's next-row-id on
    const firstRowId = base["format-version"] >= 3 ? BigInt(base["next-row-id"] ?? 0) : undefined;
    const { addedRows } = await writeManifestList(ops.io, manifestList, snapshotId, parentId, seq, [...r.manifests, ...carried], firstRowId);
    return {
      "snapshot-id": snapshotId,
      ...(parentId !== null ? { "parent-snapshot-id": parentId } : {}),
      "sequence-number": Number(seq),
      "timestamp-ms": Math.max(Date.now(), base["last-updated-ms"] + 1),
      "manifest-list": manifestList,
      summary: r.summary as Snapshot["summary"],
      "schema-id": r.schema ? schemaIdFor(base.schemas, r.schema.schema) : base["current-schema-id"],
      ...(firstRowId !== undefined ? { "first-row-id": Number(firstRowId), "added-rows": Number(addedRows) } : {}),
    };
  }

  /**
   * Merges carried manifests that share content, partition spec and schema into one manifest
   * per group (live entries become EXISTING with explicit sequence numbers; DELETED entries of
   * earlier snapshots are dropped, this snapshot's own are kept: expiry finds the files to delete
   * from them, and without them the files this commit replaced would stay for ever). Data and
   * delete files are untouched; readers see exactly the same table.
   */
  private async mergeManifests(
    carried: ManifestFileRecord[],
    base: TableMetadata,
    snapshotId: bigint,
    seq: bigint,
    files: string[],
  ): Promise<ManifestFileRecord[]> {
    const ops = this.ops;
    const withEntries = await Promise.all(carried.map(async (m) => ({ m, entries: await readManifest(ops.io, m) })));
    const groups = new Map<string, { m: ManifestFileRecord; entries: LiveEntry[] }[]>();
    for (const x of withEntries) {
      const key = `${x.m.content}|${x.m.partition_spec_id}|${x.entries[0]?.schemaId ?? "?"}`;
      groups.set(key, [...(groups.get(key) ?? []), x]);
    }
    const out: ManifestFileRecord[] = [];
    for (const group of groups.values()) {
      if (group.length === 1) {
        out.push(group[0].m);
        continue;
      }
      const live = group.flatMap((g) => g.entries).filter((e) => e.status !== STATUS_DELETED || e.snapshotId === snapshotId);
      if (live.length === 0) continue;
      const first = group[0];
      const schema = base.schemas.find((x) => x["schema-id"] === first.entries[0]?.schemaId) ?? ops.schema();
      const loc = `${ops.location}/metadata/${randomUUID()}-m0.avro`;
      files.push(loc);
      out.push(
        await writeManifest(
          ops.io,
          {
            formatVersion: ops.formatVersion,
            location: loc,
            schema,
            spec: base["partition-specs"].find((x) => x["spec-id"] === first.m.partition_spec_id) ?? ops.spec(),
            content: first.m.content === CONTENT_DATA ? "data" : "deletes",
            snapshotId,
            sequenceNumber: seq,
            entries: live.map((e) => ({
              status: e.status === STATUS_DELETED ? STATUS_DELETED : STATUS_EXISTING,
              snapshot_id: e.snapshotId,
              sequence_number: e.dataSequenceNumber,
              file_sequence_number: e.fileSequenceNumber,
              data_file: e.file,
            })),
          },
          () => null,
        ),
      );
    }
    ops.log.debug("merged manifests", { before: carried.length, after: out.length });
    return out;
  }

  /** Manifests (one per partition spec) listing `recs` as ADDED in this snapshot. */
  async writeManifests(
    content: "data" | "deletes",
    recs: { record: DataFileRecord; specId: number }[],
    snapshotId: bigint,
    seq: bigint,
    files: string[],
    schema: Schema = this.ops.schema(),
  ): Promise<ManifestFileRecord[]> {
    const ops = this.ops;
    const bySpec = new Map<number, DataFileRecord[]>();
    for (const r of recs) bySpec.set(r.specId, [...(bySpec.get(r.specId) ?? []), r.record]);
    const out: ManifestFileRecord[] = [];
    for (const [specId, list] of bySpec) {
      const loc = `${ops.location}/metadata/${randomUUID()}-m0.avro`;
      files.push(loc);
      const entries: ManifestEntryRecord[] = list.map((f) => ({
        status: STATUS_ADDED,
        snapshot_id: snapshotId,
        sequence_number: null,
        file_sequence_number: null,
        data_file: f,
      }));
      out.push(
        await writeManifest(
          ops.io,
          {
            formatVersion: ops.formatVersion,
            location: loc,
            schema,
            spec: ops.metadata["partition-specs"].find((s) => s["spec-id"] === specId) ?? ops.spec(),
            content,
            snapshotId,
            sequenceNumber: seq,
            entries,
          },
          () => null,
        ),
      );
    }
    return out;
  }

  /**
   * Manifests listing every live file of `parent` (data and delete files) as DELETED in this
   * snapshot: a snapshot made of these and its own new manifests holds nothing of its parent
   * (truncate, and writes that replace the whole table). With the counts for the summary.
   */
  async removeAll(parent: Snapshot | undefined, base: TableMetadata, snapshotId: bigint, seq: bigint, files: string[]): Promise<RemovedFiles> {
    const ops = this.ops;
    const out: RemovedFiles = { manifests: [], dataFiles: 0, rows: 0n, deleteFiles: 0, positionDeletes: 0n };
    if (!parent) return out;
    const entries = await ops.liveEntries(parent);
    for (const content of [CONTENT_DATA, CONTENT_POSITION_DELETES, CONTENT_EQUALITY_DELETES]) {
      const bySpec = new Map<number, LiveEntry[]>();
      for (const e of entries.filter((x) => x.file.content === content)) bySpec.set(e.specId, [...(bySpec.get(e.specId) ?? []), e]);
      for (const [specId, list] of bySpec) {
        const loc = `${ops.location}/metadata/${randomUUID()}-m0.avro`;
        files.push(loc);
        out.manifests.push(
          await writeManifest(
            ops.io,
            {
              formatVersion: ops.formatVersion,
              location: loc,
              schema: ops.schema(),
              spec: base["partition-specs"].find((x) => x["spec-id"] === specId) ?? ops.spec(),
              content: content === CONTENT_DATA ? "data" : "deletes",
              snapshotId,
              sequenceNumber: seq,
              entries: list.map((e) => ({
                status: STATUS_DELETED,
                snapshot_id: snapshotId,
                sequence_number: e.dataSequenceNumber,
                file_sequence_number: e.fileSequenceNumber,
                data_file: e.file,
              })),
            },
            () => null,
          ),
        );
        for (const e of list) {
          if (content === CONTENT_DATA) {
            out.dataFiles++;
            out.rows += BigInt(e.file.record_count);
          } else {
            out.deleteFiles++;
            out.positionDeletes += BigInt(e.file.record_count);
          }
        }
      }
    }
    return out;
  }

  /** With write.metadata.delete-after-commit.enabled, deletes metadata files that fell off the log. */
  private async deleteExpiredMetadataFiles(before: { "metadata-file": string }[]): Promise<void> {
    await this.ops.deleteDroppedMetadataFiles(before);
  }

  /**
   * Custom summary properties carried into the next snapshot: those of the current snapshot, or
   * when another engine wrote it without them, the state keys (floe.*) of the newest ancestor that
   * has them (metadata.ts stateSnapshot).
   */
  carriedSummary(): Record<string, string> {
    const out: Record<string, string> = {};
    const current = this.ops.currentSnapshot();
    const from = current && snapshotCarriesState(current) ? current : stateSnapshot(this.ops.metadata);
    for (const [k, v] of Object.entries(from?.summary ?? {})) if (!STANDARD_SUMMARY.test(k) && (from === current || k.startsWith(STATE_PREFIX))) out[k] = v;
    return out;
  }

  private parentTotals(): Record<string, bigint> {
    const s: Record<string, string> = this.ops.currentSnapshot()?.summary ?? {};
    const get = (k: string) => BigInt(s[k] ?? "0");
    return {
      records: get("total-records"),
      size: get("total-files-size"),
      dataFiles: get("total-data-files"),
      deleteFiles: get("total-delete-files"),
      posDeletes: get("total-position-deletes"),
      eqDeletes: get("total-equality-deletes"),
    };
  }

  /**
   * The added-* / removed-* and total-* summary keys of a snapshot that adds these data and delete
   * files to the parent and removes `removedDeletes` (deletion vectors it replaced).
   */
  summaryTotals(addedData: DataFileRecord[], addedDeletes: DataFileRecord[], removedDeletes: DataFileRecord[] = []): Record<string, string> {
    const t = this.parentTotals();
    const rows = (l: DataFileRecord[]) => l.reduce((a, f) => a + BigInt(f.record_count), 0n);
    const size = (l: DataFileRecord[]) => l.reduce((a, f) => a + BigInt(f.file_size_in_bytes), 0n);
    const isDv = (f: DataFileRecord) => f.content_offset !== undefined && f.content_offset !== null;
    const addedRecords = rows(addedData);
    const addedSize = size(addedData) + size(addedDeletes);
    const posDeletes = rows(addedDeletes);
    const out: Record<string, string> = {
      "added-data-files": String(addedData.length),
      "added-records": String(addedRecords),
      "added-files-size": String(addedSize),
      "total-records": String(t.records + addedRecords),
      "total-files-size": String(t.size + addedSize - size(removedDeletes)),
      "total-data-files": String(t.dataFiles + BigInt(addedData.length)),
      "total-delete-files": String(t.deleteFiles + BigInt(addedDeletes.length - removedDeletes.length)),
      "total-position-deletes": String(t.posDeletes + posDeletes - rows(removedDeletes)),
      "total-equality-deletes": String(t.eqDeletes),
    };
    if (addedDeletes.length > 0) {
      const dvs = addedDeletes.filter(isDv).length;
      out["added-delete-files"] = String(addedDeletes.length);
      if (addedDeletes.length > dvs) out["added-position-delete-files"] = String(addedDeletes.length - dvs);
      if (dvs) out["added-dvs"] = String(dvs);
      out["added-position-deletes"] = String(posDeletes);
    }
    if (removedDeletes.length > 0) {
      const dvs = removedDeletes.filter(isDv).length;
      out["removed-delete-files"] = String(removedDeletes.length);
      if (removedDeletes.length > dvs) out["removed-position-delete-files"] = String(removedDeletes.length - dvs);
      if (dvs) out["removed-dvs"] = String(dvs);
      out["removed-position-deletes"] = String(rows(removedDeletes));
      out["removed-files-size"] = String(size(removedDeletes));
    }
    return out;
  }
}
