/**
 * Snapshot expiry and orphan file removal.
 *
 * Expiry removes the snapshots planExpiry picks (maintenance-plan.ts: by count and age, never the
 * current one, a branch or tag, or the newest snapshot carrying the CDC writer's state) in one
 * metadata commit that asserts nothing but the table's identity, so it never conflicts with a
 * writer's commit. It then deletes what only they referenced, reading each file at most once and
 * only what it removes: when the expired snapshots are the oldest part of main's history (the
 * usual case), the data and delete files to delete are exactly the DELETED entries written by the
 * snapshots from the second-oldest expired one to the oldest kept one (the spec's "track what files
 * are deleted in a snapshot and delete them when that snapshot expires"), read from the manifests
 * those snapshots added; the manifests to delete are those listed by expired snapshots and not by
 * the oldest kept one. Otherwise (branches, tags, snapshots off main) it falls back to comparing
 * every file reachable from kept and from expired snapshots, each distinct manifest read once.
 *
 * Manifest lists and manifests are deleted at once: a reader reads them while it plans, right after
 * it loaded the metadata. Data files, delete files and deletion vectors, which a query reads after
 * planning (for as long as it runs), are deleted `expiredFileGraceMs` later (TableOps.deleteLater;
 * due ones go at the next expiry or maintenance pass). So how long a query may run on a table being
 * maintained does not depend on how many snapshots are kept or how often the table commits.
 *
 * Orphan removal deletes files under the table location that nothing references and that are
 * older than a safe age (files of a commit in flight are young), e.g. left by a killed writer.
 */
import { CommitConflictError, ValidationError } from "./catalog";
import { STATUS_DELETED, readManifest, readManifestList, type LiveEntry, type ManifestFileRecord } from "./manifests";
import { planExpiry, type MaintenancePolicy } from "./maintenance-plan";
import { snapshotById, snapshotCarriesState } from "./metadata";
import type { Snapshot } from "./spec";
import { mapLimit, type TableOps } from "./table-ops";

export interface ExpiryResult {
  /** Snapshots removed from the metadata. */
  snapshots: number;
  /** Files deleted now: manifest lists and manifests, and data and delete files with no grace. */
  files: number;
  /** Data and delete files (and Puffin files) only the expired snapshots referenced, deleted after the grace. */
  deferred: number;
  /** Manifest lists and manifests read to find them. */
  filesRead: number;
}

/** Reads manifests at most once each (by path). */
class ManifestReader {
  read = 0;
  private readonly seen = new Map<string, Promise<LiveEntry[]>>();
  private readonly lists = new Map<string, Promise<ManifestFileRecord[]>>();
  constructor(private readonly ops: TableOps) {}
  list(s: Snapshot): Promise<ManifestFileRecord[]> {
    let p = this.lists.get(s["manifest-list"]);
    if (!p) {
      this.read++;
      this.lists.set(s["manifest-list"], (p = readManifestList(this.ops.io, s["manifest-list"])));
    }
    return p;
  }
  entries(m: ManifestFileRecord): Promise<LiveEntry[]> {
    let p = this.seen.get(m.manifest_path);
    if (!p) {
      this.read++;
      this.seen.set(m.manifest_path, (p = readManifest(this.ops.io, m)));
    }
    return p;
  }
}

/** What expiry deletes: metadata (manifest lists, manifests) and content (data, delete and Puffin files). */
interface Doomed {
  metadata: Set<string>;
  content: Set<string>;
}

/** Files only `expired` reference, when they are the oldest main ancestors and `oldestKept` the next one. */
async function doomedIncremental(ops: TableOps, reader: ManifestReader, expired: Snapshot[], oldestKept: Snapshot): Promise<Doomed> {
  const doomed: Doomed = { metadata: new Set(), content: new Set() };
  const keptManifests = new Set((await reader.list(oldestKept)).map((m) => m.manifest_path));
  const lists = await mapLimit(expired, 8, async (s) => ({ s, list: await reader.list(s) }));
  for (const { s, list } of lists) {
    doomed.metadata.add(s["manifest-list"]);
    for (const m of list) if (!keptManifests.has(m.manifest_path)) doomed.metadata.add(m.manifest_path);
  }
  // the files removed by each snapshot after the oldest expired one, up to the oldest kept one
  const oldest = expired.reduce((a, s) => (s["sequence-number"] < a["sequence-number"] ? s : a), expired[0]);
  const removers = [...expired.filter((s) => s !== oldest), oldestKept];
  const sharedPuffins = new Set<string>();
  for (const s of removers) {
    const id = BigInt(s["snapshot-id"]);
    const added = (await reader.list(s)).filter((m) => BigInt(m.added_snapshot_id) === id && m.deleted_files_count !== 0);
    for (const m of added) {
      for (const e of await reader.entries(m)) {
        if (e.status !== STATUS_DELETED || e.snapshotId !== id) continue;
        // a Puffin file holds deletion vectors of several data files: only if none of them is kept
        if (e.file.content_offset !== undefined && e.file.content_offset !== null) sharedPuffins.add(e.file.file_path);
        else doomed.content.add(e.file.file_path);
      }
    }
  }
  if (sharedPuffins.size > 0) {
    const live = new Set<string>();
    for (const m of (await reader.list(oldestKept)).filter((x) => x.content !== 0))
      for (const e of await reader.entries(m)) if (e.status !== STATUS_DELETED) live.add(e.file.file_path);
    for (const p of sharedPuffins) if (!live.has(p)) doomed.content.add(p);
  }
  return doomed;
}

/** Files reachable from `snapshots`: manifest lists and manifests, and the files of their live and deleted entries. */
async function reachable(reader: ManifestReader, snapshots: Snapshot[]): Promise<Doomed> {
  const out: Doomed = { metadata: new Set(), content: new Set() };
  for (const s of snapshots) {
    out.metadata.add(s["manifest-list"]);
    for (const m of await reader.list(s)) {
      if (out.metadata.has(m.manifest_path)) continue;
      out.metadata.add(m.manifest_path);
      for (const e of await reader.entries(m)) out.content.add(e.file.file_path);
    }
  }
  return out;
}

/** Which snapshots an expiry under `policy` would remove now (maintenance-plan.ts planExpiry on the table's metadata). */
export function expiryPlan(
  ops: TableOps,
  policy: Pick<MaintenancePolicy, "keepSnapshots" | "maxSnapshotAgeMs">,
  now: number,
): { expire: bigint[]; ancestorsOnly: boolean } {
  const m = ops.metadata;
  const current = m["current-snapshot-id"] === null || m["current-snapshot-id"] === undefined ? undefined : BigInt(m["current-snapshot-id"]);
  const infos = m.snapshots.map((s) => ({
    id: BigInt(s["snapshot-id"]),
    parentId: s["parent-snapshot-id"] === undefined || s["parent-snapshot-id"] === null ? undefined : BigInt(s["parent-snapshot-id"]),
    timestampMs: s["timestamp-ms"],
    carriesState: snapshotCarriesState(s),
  }));
  const refIds = Object.values(m.refs).map((r) => BigInt(r["snapshot-id"]));
  return planExpiry(infos, current, refIds, policy, now);
}

/**
 * Expires snapshots by count and age (see the file head) and deletes the files only they
 * referenced: metadata at once, data and delete files `expiredFileGraceMs` after `now` (and the
 * ones an earlier expiry deferred that are due). Retried on a lost compare-and-swap; never
 * conflicts with a writer's commit.
 */
export function expireSnapshots(
  ops: TableOps,
  policy: Pick<MaintenancePolicy, "keepSnapshots" | "maxSnapshotAgeMs" | "expiredFileGraceMs">,
  now = Date.now(),
): Promise<ExpiryResult> {
  return ops.serialize(async () => {
    const due = await ops.deleteDue(now);
    for (let attempt = 1; ; attempt++) {
      const m = ops.metadata;
      const { expire, ancestorsOnly } = expiryPlan(ops, policy, now);
      if (expire.length === 0) return { snapshots: 0, files: due, deferred: 0, filesRead: 0 };
      const expiredSet = new Set(expire);
      const expired = expire.map((id) => snapshotById(m, id)!);
      const kept = m.snapshots.filter((s) => !expiredSet.has(BigInt(s["snapshot-id"])));
      const reader = new ManifestReader(ops);
      let doomed: Doomed;
      // the oldest kept main ancestor: the child of the newest expired one
      const oldestKept = ancestorsOnly
        ? kept.find((s) => s["parent-snapshot-id"] !== undefined && s["parent-snapshot-id"] !== null && expiredSet.has(BigInt(s["parent-snapshot-id"])))
        : undefined;
      if (oldestKept) doomed = await doomedIncremental(ops, reader, expired, oldestKept);
      else {
        const keep = await reachable(reader, kept);
        const gone = await reachable(reader, expired);
        doomed = {
          metadata: new Set([...gone.metadata].filter((f) => !keep.metadata.has(f))),
          content: new Set([...gone.content].filter((f) => !keep.content.has(f))),
        };
      }
      try {
        ops.loaded = await ops.catalog.commitTable(
          ops.id,
          [{ type: "assert-table-uuid", uuid: m["table-uuid"] }],
          [{ action: "remove-snapshots", "snapshot-ids": expire }],
        );
        await ops.deleteDroppedMetadataFiles(m["metadata-log"]);
      } catch (e) {
        if (!(e instanceof CommitConflictError) || attempt >= ops.options.maxCommitAttempts) throw e;
        ops.log.info("expiry lost the race, retrying", { attempt, reason: e.message });
        await ops.reload();
        continue;
      }
      const grace = policy.expiredFileGraceMs > 0;
      await ops.deleteQuietly([...doomed.metadata, ...(grace ? [] : doomed.content)]);
      if (grace) ops.deleteLater([...doomed.content], now + policy.expiredFileGraceMs);
      const result = {
        snapshots: expire.length,
        files: due + doomed.metadata.size + (grace ? 0 : doomed.content.size),
        deferred: grace ? doomed.content.size : 0,
        filesRead: reader.read,
      };
      ops.log.info("expired snapshots", { ...result, incremental: oldestKept !== undefined });
      return result;
    }
  });
}

/**
 * Deletes files under the table location that no snapshot, metadata file or metadata log
 * references and that were last modified before `olderThanMs` (a timestamp). Needs a FileIO that
 * can list (local directories and S3 can).
 */
export function removeOrphanFiles(ops: TableOps, olderThanMs: number): Promise<string[]> {
  return ops.serialize(async () => {
    if (!ops.io.list) throw new ValidationError(`${ops.name}: removeOrphanFiles needs a FileIO that can list files; this table's cannot`);
    const m = ops.metadata;
    const reached = await reachable(new ManifestReader(ops), m.snapshots);
    const keep = new Set([...reached.metadata, ...reached.content]);
    keep.add(ops.metadataLocation);
    for (const e of m["metadata-log"]) keep.add(e["metadata-file"]);
    const root = ops.location.replace(/\/+$/, "") + "/";
    const files = await ops.io.list(root);
    const orphans = files
      .filter((f) => f.location.startsWith(root) && !keep.has(f.location) && f.modifiedMs < olderThanMs && !f.location.endsWith(".tmp"))
      .map((f) => f.location);
    await ops.deleteQuietly(orphans);
    ops.log.info("removed orphan files", { files: orphans.length, scanned: files.length });
    return orphans;
  });
}

/** The current snapshot's ancestry, newest first (for tools and tests). */
export function ancestry(ops: TableOps): Snapshot[] {
  const out: Snapshot[] = [];
  for (let s = ops.currentSnapshot(); s; s = snapshotById(ops.metadata, s["parent-snapshot-id"])) out.push(s);
  return out;
}
