/**
 * A maintenance pass over a table (compaction, manifest rewriting, snapshot expiry, orphan
 * removal: maintain), the table metrics it records, and what a pass would do now
 * (maintenanceStatus, for `floe maintain`). The steps themselves are in maintenance.ts and expire.ts.
 */
import { expireSnapshots, expiryPlan, removeOrphanFiles, type ExpiryResult } from "./expire";
import { noReasons, type CompactionPlan, type MaintenancePolicy } from "./maintenance-plan";
import { icebergMetrics } from "./metrics";
import { snapshotFiles } from "./live-files";
import type { SnapshotProducer } from "./snapshot";
import type { TableIndex } from "./table-index";
import type { CommitResult, TableOps } from "./table-ops";
import { compact, deleteMap, isDv, plan, rewriteManifests, type CompactionResult } from "./maintenance";

export interface MaintenanceReport {
  table: string;
  startedAt: number;
  durationMs: number;
  compaction?: CompactionResult;
  manifests?: CommitResult;
  expiry?: ExpiryResult;
  /** Orphan files deleted (when the orphan scan ran). */
  orphans?: number;
}

/**
 * One maintenance pass over a table under `policy`: compaction, manifest rewriting, snapshot
 * expiry when past keepSnapshots / maxSnapshotAgeMs (deleting what an earlier one deferred once its
 * grace is over), and (with `orphans`) orphan removal. Each
 * step is its own commit through the table's commit queue; a step with nothing to do commits
 * nothing. Updates the table's maintenance metrics.
 */
export async function maintain(
  ops: TableOps,
  index: TableIndex,
  producer: SnapshotProducer,
  policy: MaintenancePolicy,
  options: { orphans?: boolean; now?: number } = {},
): Promise<MaintenanceReport> {
  const startedAt = Date.now();
  const report: MaintenanceReport = { table: ops.name, startedAt, durationMs: 0 };
  report.compaction = await compact(ops, index, producer, "policy", policy);
  report.manifests = await rewriteManifests(ops, producer, policy.maxManifests);
  const now = options.now ?? Date.now();
  const snaps = ops.metadata.snapshots;
  if (snaps.length > policy.keepSnapshots || snaps.some((s) => now - s["timestamp-ms"] > policy.maxSnapshotAgeMs))
    report.expiry = await expireSnapshots(ops, policy, now);
  else {
    const files = await ops.deleteDue(now); // what an earlier expiry deferred
    if (files > 0) report.expiry = { snapshots: 0, files, deferred: 0, filesRead: 0 };
  }
  if (options.orphans) report.orphans = (await removeOrphanFiles(ops, now - policy.orphanMinAgeMs)).length;
  report.durationMs = Date.now() - startedAt;
  recordTableMetrics(ops, report);
  return report;
}

/** Files, delete files, snapshots and bytes of the table, and its last maintenance (Prometheus). */
export function recordTableMetrics(ops: TableOps, report?: MaintenanceReport): void {
  const s = ops.currentSnapshot()?.summary ?? ({} as Record<string, string>);
  const table = ops.name;
  icebergMetrics.tableFiles.set({ table, content: "data" }, Number(s["total-data-files"] ?? 0));
  icebergMetrics.tableFiles.set({ table, content: "deletes" }, Number(s["total-delete-files"] ?? 0));
  icebergMetrics.tableBytes.set({ table }, Number(s["total-files-size"] ?? 0));
  icebergMetrics.tableSnapshots.set({ table }, ops.metadata.snapshots.length);
  if (report) {
    icebergMetrics.maintenanceLast.set({ table }, (report.startedAt + report.durationMs) / 1000);
    icebergMetrics.maintenanceSeconds.set({ table }, report.durationMs / 1000);
  }
}

/** The state of a table as maintenance sees it, and what a pass would do now (nothing is written). */
export interface MaintenanceStatus {
  table: string;
  formatVersion: number;
  snapshots: number;
  oldestSnapshotMs?: number;
  dataFiles: number;
  /** Position delete files and deletion vectors. */
  deleteFiles: number;
  deletionVectors: number;
  deletedRows: number;
  records: number;
  manifests: number;
  bytes: number;
  /** Commit time of the newest "replace" snapshot kept (a compaction or manifest rewrite, floe's or another engine's). */
  lastReplaceMs?: number;
  /** What a pass would do now. */
  plan: {
    rewriteFiles: number;
    dropFiles: number;
    removeDeleteFiles: number;
    rewriteManifests: boolean;
    expireSnapshots: number;
    reasons: CompactionPlan["reasons"];
  };
}

export async function maintenanceStatus(ops: TableOps, policy: MaintenancePolicy, now = Date.now()): Promise<MaintenanceStatus> {
  const m = ops.metadata;
  const current = ops.currentSnapshot();
  const status: MaintenanceStatus = {
    table: ops.name,
    formatVersion: ops.formatVersion,
    snapshots: m.snapshots.length,
    oldestSnapshotMs: m.snapshots.length ? Math.min(...m.snapshots.map((s) => s["timestamp-ms"])) : undefined,
    dataFiles: 0,
    deleteFiles: 0,
    deletionVectors: 0,
    deletedRows: 0,
    records: 0,
    manifests: 0,
    bytes: 0,
    lastReplaceMs: Math.max(...m.snapshots.filter((s) => s.summary.operation === "replace").map((s) => s["timestamp-ms"]), -1),
    plan: {
      rewriteFiles: 0,
      dropFiles: 0,
      removeDeleteFiles: 0,
      rewriteManifests: false,
      expireSnapshots: 0,
      reasons: noReasons(),
    },
  };
  if (status.lastReplaceMs === -1) status.lastReplaceMs = undefined;
  if (current) {
    const files = await snapshotFiles(ops, current);
    const dm = await deleteMap(ops, files.deletes);
    const p = plan(files, dm, "policy", policy, ops.formatVersion);
    status.dataFiles = files.data.length;
    status.deleteFiles = files.deletes.length;
    status.deletionVectors = files.deletes.filter((e) => isDv(e.file)).length;
    status.deletedRows = [...dm.positions.values()].reduce((a, s) => a + s.size, 0);
    status.records = files.data.reduce((a, e) => a + Number(e.file.record_count), 0);
    status.manifests = files.manifests.length;
    status.bytes = [...files.data, ...files.deletes].reduce((a, e) => a + Number(e.file.file_size_in_bytes), 0);
    status.plan = {
      rewriteFiles: p.plan.rewrite.reduce((a, g) => a + g.length, 0),
      dropFiles: p.plan.drop.length,
      removeDeleteFiles: p.dirty.size,
      rewriteManifests: files.manifests.length > policy.maxManifests,
      expireSnapshots: 0,
      reasons: p.plan.reasons,
    };
  }
  status.plan.expireSnapshots = expiryPlan(ops, policy, now).expire.length;
  return status;
}
