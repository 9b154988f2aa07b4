/**
 * Pure planning of table maintenance (no I/O, table-tested): the maintenance policy and its
 * defaults, which data files a compaction rewrites, and which snapshots an expiry removes.
 *
 * Compaction is size-tiered. Files are bucketed by their live bytes (rows not deleted) in tiers
 * that grow by `minInputFiles` (tier 0: under `tierBaseBytes`, tier 1: under 4x that, …); a tier
 * holding `minInputFiles` files is merged into one file of the next tier, and the merge cascades.
 * A steady stream of small commits therefore keeps at most `minInputFiles - 1` files per tier
 * (a handful in all), and each row is rewritten about log_k(table / commit) times, not once per
 * commit. Files at or above `targetFileBytes` leave the tiers. Separately, a data file whose
 * deleted rows reach `deleteRatio` is rewritten with its deletes applied, together with every
 * smaller file of its partition, and a file whose rows are all deleted is dropped without
 * rewriting anything.
 *
 * A partition whose live data fits in one file (under `targetFileBytes`) converges to what a fresh
 * write would make of it: once its merge-on-read debt (rows deleted but still in its files, plus
 * the live rows outside its base) reaches `convergeRatio` of its live rows, all its files are
 * rewritten, deletes applied. The base is the largest of the groups of files one commit added: a
 * fresh write of a large partition may itself be several files (the writer cuts files to bound its
 * memory), and counting all but one of them as debt would rewrite the partition after every
 * commit. Readers pay for every extra file and every deleted position on every read; the rewrite
 * costs the partition's size once per `convergeRatio` of it changed, so it costs at most
 * 2 / convergeRatio rows rewritten per row updated, whatever the size.
 */

/** When and how a table is maintained. Every field has a default (DEFAULT_MAINTENANCE_POLICY, docs/maintenance.md). */
export interface MaintenancePolicy {
  /** Compacted files aim at this size; bigger files are not merged further. Defaults to 128 MiB. */
  targetFileBytes: number;
  /** Files merged at once per size tier (the tier fan-in). Defaults to 4. */
  minInputFiles: number;
  /** Live bytes that make tier 0. Defaults to 1 MiB. */
  tierBaseBytes: number;
  /** A data file whose deleted rows reach this fraction of its rows is rewritten without them. Defaults to 0.1. */
  deleteRatio: number;
  /**
   * A partition whose live data fits in one target-size file is rewritten into one file, deletes
   * applied, once its deleted rows plus the live rows outside its largest file reach this fraction
   * of its live rows. Defaults to 0.05.
   */
  convergeRatio: number;
  /** v2 tables: a data file with more position delete files than this gets them merged into one. Defaults to 1. */
  maxDeleteFilesPerDataFile: number;
  /** A snapshot with more manifests than this gets them merged (one per content and partition spec). Defaults to 4. */
  maxManifests: number;
  /** Snapshots kept, newest first (the current one always). Defaults to 5. */
  keepSnapshots: number;
  /** Snapshots older than this are expired even within keepSnapshots (the current one never). Defaults to 7 days. */
  maxSnapshotAgeMs: number;
  /**
   * Data and delete files only expired snapshots referenced are deleted this long after the expiry
   * (a query planned before it may still read them); manifests go at once. Defaults to 5 s.
   */
  expiredFileGraceMs: number;
  /** Files nothing references are deleted once older than this. Defaults to 3 days. */
  orphanMinAgeMs: number;
  /** Time between orphan scans (they list the whole table location). Defaults to 1 day. */
  orphanIntervalMs: number;
}

export const DEFAULT_MAINTENANCE_POLICY: MaintenancePolicy = {
  targetFileBytes: 128 * 2 ** 20,
  minInputFiles: 4,
  tierBaseBytes: 2 ** 20,
  deleteRatio: 0.1,
  convergeRatio: 0.05,
  maxDeleteFilesPerDataFile: 1,
  maxManifests: 4,
  keepSnapshots: 5,
  maxSnapshotAgeMs: 7 * 24 * 3600 * 1000,
  expiredFileGraceMs: 5_000,
  orphanMinAgeMs: 3 * 24 * 3600 * 1000,
  orphanIntervalMs: 24 * 3600 * 1000,
};

/** A policy with `overrides` applied, checked (a ValidationError-like message names the field). */
export function maintenancePolicy(overrides: Partial<MaintenancePolicy> = {}): MaintenancePolicy {
  const p = { ...DEFAULT_MAINTENANCE_POLICY, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  const positive = (k: keyof MaintenancePolicy, min: number) => {
    if (!Number.isFinite(p[k]) || p[k] < min) throw new RangeError(`maintenance policy ${k} is ${p[k]}: it must be a number >= ${min}`);
  };
  positive("targetFileBytes", 1);
  positive("minInputFiles", 2);
  positive("tierBaseBytes", 1);
  positive("maxDeleteFilesPerDataFile", 1);
  positive("maxManifests", 1);
  positive("keepSnapshots", 1);
  positive("maxSnapshotAgeMs", 0);
  positive("expiredFileGraceMs", 0);
  positive("orphanMinAgeMs", 0);
  positive("orphanIntervalMs", 0);
  for (const k of ["deleteRatio", "convergeRatio"] as const)
    if (!(p[k] > 0 && p[k] <= 1)) throw new RangeError(`maintenance policy ${k} is ${p[k]}: it must be in (0, 1]`);
  return p;
}

/** What compaction planning needs to know of one live data file. */
export interface DataFileStats {
  path: string;
  /** Files are only merged with files of the same partition spec and partition tuple. */
  partitionKey: string;
  sizeBytes: number;
  records: number;
  /** Rows deleted by delete files / deletion vectors. */
  deleted: number;
  /** Delete files (or deletion vectors) that target it. */
  deleteFiles: number;
  /** The snapshot that added it: files one commit added are one unit for convergence. Absent: a unit of its own. */
  addedBy?: string;
}

export interface CompactionPlan {
  /** Each group is rewritten into new files (its live rows); groups never mix partitions. */
  rewrite: DataFileStats[][];
  /** Files whose rows are all deleted: removed without rewriting. */
  drop: DataFileStats[];
  /** Why, for logs and `floe maintain`: files counted by reason. */
  reasons: CompactionReasons;
}

export interface CompactionReasons {
  /** Files merged by size tier. */
  tiers: number;
  /** Files rewritten because their deleted rows passed deleteRatio. */
  deleteRatio: number;
  /** Files of partitions rewritten into one because their debt passed convergeRatio. */
  converge: number;
  /** Files dropped because every row is deleted. */
  allDeleted: number;
}

export const noReasons = (): CompactionReasons => ({ tiers: 0, deleteRatio: 0, converge: 0, allDeleted: 0 });

const liveBytes = (f: DataFileStats): number => (f.records > 0 ? (f.sizeBytes * (f.records - f.deleted)) / f.records : 0);

/** The size tier of `bytes` live bytes (0 below tierBaseBytes, then one more per factor of minInputFiles). */
export function sizeTier(bytes: number, policy: Pick<MaintenancePolicy, "tierBaseBytes" | "minInputFiles">): number {
  if (bytes < policy.tierBaseBytes) return 0;
  return 1 + Math.floor(Math.log(bytes / policy.tierBaseBytes) / Math.log(policy.minInputFiles));
}

/**
 * Whether a partition's files (none fully deleted) are rewritten: their live data fits in one
 * target-size file, they are not one clean commit's files already, and their debt (deleted rows,
 * plus the live rows outside the base: the commit's files with the most live bytes) reaches
 * convergeRatio of their live rows.
 */
export function converges(files: DataFileStats[], policy: Pick<MaintenancePolicy, "targetFileBytes" | "convergeRatio">): boolean {
  if (files.length === 0) return false;
  if (files.reduce((a, f) => a + liveBytes(f), 0) >= policy.targetFileBytes) return false;
  const units = new Map<unknown, { files: DataFileStats[]; bytes: number }>();
  for (const f of files) {
    const key = f.addedBy ?? f;
    const u = units.get(key) ?? { files: [], bytes: 0 };
    u.files.push(f);
    u.bytes += liveBytes(f);
    units.set(key, u);
  }
  const base = new Set([...units.values()].reduce((a, u) => (u.bytes > a.bytes ? u : a)).files);
  let liveRows = 0;
  let debt = 0;
  for (const f of files) {
    const live = Math.max(0, f.records - f.deleted);
    liveRows += live;
    debt += f.deleted + (base.has(f) ? 0 : live);
  }
  return liveRows > 0 && debt > 0 && debt >= policy.convergeRatio * liveRows;
}

/** Which files to rewrite or drop (see the file head). */
export function planCompaction(files: DataFileStats[], policy: MaintenancePolicy): CompactionPlan {
  const plan: CompactionPlan = { rewrite: [], drop: [], reasons: noReasons() };
  const byPartition = new Map<string, DataFileStats[]>();
  for (const f of files) {
    if (f.records > 0 && f.deleted >= f.records) {
      plan.drop.push(f);
      plan.reasons.allDeleted++;
      continue;
    }
    const list = byPartition.get(f.partitionKey);
    if (list) list.push(f);
    else byPartition.set(f.partitionKey, [f]);
  }
  for (const list of byPartition.values()) {
    if (converges(list, policy)) {
      plan.rewrite.push([...list]);
      plan.reasons.converge += list.length;
      continue;
    }
    const chosen = new Set<DataFileStats>();
    for (const f of list) if (f.records > 0 && f.deleted / f.records >= policy.deleteRatio) chosen.add(f);
    // Size tiers over the files below the target size, merging cascades: a merged group lands in
    // the tier of its total and counts there as one file.
    const tiers = new Map<number, { files: DataFileStats[]; bytes: number }[]>();
    const put = (unit: { files: DataFileStats[]; bytes: number }) => {
      if (unit.bytes >= policy.targetFileBytes) return;
      const t = sizeTier(unit.bytes, policy);
      const at = tiers.get(t);
      if (at) at.push(unit);
      else tiers.set(t, [unit]);
    };
    for (const f of list) if (f.sizeBytes < policy.targetFileBytes) put({ files: [f], bytes: liveBytes(f) });
    const merged: DataFileStats[][] = [];
    for (let t = 0; t <= Math.max(0, ...tiers.keys()); t++) {
      const units = tiers.get(t);
      if (!units || units.length < policy.minInputFiles) continue;
      tiers.delete(t);
      const unit = { files: units.flatMap((u) => u.files), bytes: units.reduce((a, u) => a + u.bytes, 0) };
      merged.push(unit.files);
      put(unit);
    }
    // a group that cascaded contains the files of the lower merge: keep only maximal groups
    const groups = merged.filter((g) => !merged.some((h) => h !== g && h.length > g.length && g.every((f) => h.includes(f))));
    for (const g of groups) plan.reasons.tiers += g.length;
    // Files past the delete ratio are rewritten, and every smaller file of the partition (below the
    // target size) joins them: the rewrite reads the big file anyway, and the small files it
    // absorbs would otherwise be merged again soon. A tier-0 file past the ratio waits for its
    // tier's next merge (rewriting a tiny file alone gains nothing).
    const heavy = [...chosen].filter(
      (f) => !groups.some((g) => g.includes(f)) && !(f.sizeBytes < policy.targetFileBytes && sizeTier(liveBytes(f), policy) === 0),
    );
    if (heavy.length > 0) {
      const largest = Math.max(...heavy.map(liveBytes));
      const joined = new Set<DataFileStats>(heavy);
      for (const f of list) if (f.sizeBytes < policy.targetFileBytes && liveBytes(f) <= largest) joined.add(f);
      plan.reasons.deleteRatio += heavy.length;
      plan.reasons.tiers += [...joined].filter((f) => !heavy.includes(f) && !groups.some((g) => g.includes(f))).length;
      const merged = groups.filter((g) => g.some((f) => joined.has(f)));
      for (const g of merged) for (const f of g) joined.add(f);
      plan.rewrite.push(...groups.filter((g) => !merged.includes(g)), [...joined]);
    } else plan.rewrite.push(...groups);
  }
  return plan;
}

/** What expiry planning needs of a snapshot. */
export interface SnapshotInfo {
  id: bigint;
  parentId?: bigint;
  timestampMs: number;
  /** Carries floe's custom summary keys (a writer's LSN): the newest such ancestor of main is kept. */
  carriesState: boolean;
}

/**
 * The snapshots to expire: every snapshot that is not the current one, not referenced by a branch
 * or tag, not the newest main ancestor carrying custom summary state (the writer resumes from its
 * keys when a later snapshot was written by an engine that does not carry them), and not among the
 * newest `keepSnapshots` unless older than `maxSnapshotAgeMs`. Expired main ancestors always form
 * the oldest part of the history (a prefix): nothing newer than a kept ancestor is expired.
 */
export function planExpiry(
  snapshots: SnapshotInfo[],
  currentId: bigint | undefined,
  refIds: bigint[],
  policy: Pick<MaintenancePolicy, "keepSnapshots" | "maxSnapshotAgeMs">,
  now: number,
): { expire: bigint[]; ancestorsOnly: boolean } {
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  const ancestry: SnapshotInfo[] = [];
  for (let s = currentId === undefined ? undefined : byId.get(currentId); s; s = s.parentId === undefined ? undefined : byId.get(s.parentId)) ancestry.push(s);
  const keep = new Set<bigint>(refIds);
  if (currentId !== undefined) keep.add(currentId);
  const state = ancestry.find((s) => s.carriesState);
  // main ancestors: keep the newest keepSnapshots younger than maxSnapshotAgeMs, and everything
  // down to the state carrier
  let cut = ancestry.length; // ancestry[cut..] are expired
  for (let i = 0; i < ancestry.length; i++) {
    const s = ancestry[i];
    const withinCount = i < policy.keepSnapshots;
    const young = now - s.timestampMs <= policy.maxSnapshotAgeMs;
    if (keep.has(s.id) || (state && ancestry.indexOf(state) >= i)) continue;
    if (!withinCount || !young) {
      cut = i;
      break;
    }
  }
  const keptAncestors = new Set(ancestry.slice(0, cut).map((s) => s.id));
  const expire = snapshots.filter((s) => !keep.has(s.id) && !keptAncestors.has(s.id)).map((s) => s.id);
  const ancestorIds = new Set(ancestry.map((s) => s.id));
  return { expire, ancestorsOnly: refIds.every((r) => r === currentId) && expire.every((id) => ancestorIds.has(id)) };
}
