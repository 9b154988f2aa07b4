/**
 * Pure helpers for physical copies of a local Postgres server (branches, base backups): which files
 * of a running data directory a copy takes, WAL segment names, timeline history files, the WAL
 * archive's retention. No I/O here (table-tested in test/unit/runtime/local/wal.test.ts).
 */
import { formatLsn, parseLsn } from "../cdc/lsn";

export { formatLsn, parseLsn };

/**
 * Directories whose contents a physical copy leaves out (they are rebuilt at start, or belong to
 * the running server only), as pg_basebackup does; the directories themselves are created empty.
 * pg_replslot: the parent's replication slots (the CDC writer's) would pin WAL on the copy and
 * nobody would consume them. pg_wal: the WAL a copy needs is added separately, from the backup's
 * start to its stop.
 */
export const EMPTY_DIRS = ["pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans", "pg_stat_tmp"];

/** Files a copy never takes, at any depth (relcache init files) or at the top (the running server's own). */
const SKIP_ANYWHERE = new Set(["pg_internal.init"]);
const SKIP_TOP = new Set([
  "postmaster.pid",
  "postmaster.opts",
  "backup_label",
  "backup_label.old",
  "tablespace_map",
  "current_logfiles",
  "postgresql.auto.conf.tmp",
  "backup_manifest",
  "recovery.signal",
  "standby.signal",
  "server.log",
]);

/**
 * Whether a path of the data directory (relative, "/"-separated) goes into a physical copy.
 * `isDir` tells a directory (EMPTY_DIRS are entered by nobody: their contents are skipped).
 */
export function copyPath(rel: string, isDir: boolean): boolean {
  const parts = rel.split("/");
  const base = parts[parts.length - 1];
  if (base.startsWith("pgsql_tmp")) return false; // temporary files and their directories
  if (!isDir && SKIP_ANYWHERE.has(base)) return false;
  if (parts.length === 1 && !isDir && SKIP_TOP.has(base)) return false;
  if (parts.length >= 2 && EMPTY_DIRS.includes(parts[0])) return false;
  return true;
}

/** Segments per 4 GiB "log" of the WAL file name. */
const perLog = (segSize: number) => 0x1_0000_0000 / segSize;

/** The WAL segment file name holding `lsn` on `timeline` (pg_walfile_name, without its end-of-segment quirk). */
export function walFileName(timeline: number, lsn: bigint, segSize: number): string {
  const segno = lsn / BigInt(segSize);
  return segmentName(timeline, segno, segSize);
}

export function segmentName(timeline: number, segno: bigint, segSize: number): string {
  const per = BigInt(perLog(segSize));
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, "0");
  return hex(timeline) + hex(segno / per) + hex(segno % per);
}

/** The segment number of a WAL file name (its timeline ignored). */
export function segmentNumber(name: string, segSize: number): bigint {
  if (!/^[0-9A-F]{24}$/.test(name)) throw new Error(`not a WAL segment file name: "${name}"`);
  return BigInt("0x" + name.slice(8, 16)) * BigInt(perLog(segSize)) + BigInt("0x" + name.slice(16, 24));
}

/**
 * The WAL segment names a copy needs, from the one holding the backup's start (its checkpoint's
 * redo) to the one holding its stop LSN. A stop at a segment's first byte ended in the segment before.
 */
export function segmentsBetween(timeline: number, start: bigint, stop: bigint, segSize: number): string[] {
  const size = BigInt(segSize);
  const first = start / size;
  const last = (stop > 0n ? stop - 1n : 0n) / size;
  const out: string[] = [];
  for (let s = first; s <= last; s++) out.push(segmentName(timeline, s, segSize));
  return out;
}

export interface BackupLabel {
  startLsn: bigint;
  startWalFile: string;
  checkpointLsn: bigint;
  timeline: number;
  startTime: string;
  label: string;
}

/** Reads the backup_label text pg_backup_stop returns. */
export function parseBackupLabel(text: string): BackupLabel {
  const field = (name: string) => {
    const m = new RegExp(`^${name}: (.*)$`, "m").exec(text);
    if (!m) throw new Error(`backup_label has no "${name}" line:\n${text}`);
    return m[1].trim();
  };
  const start = /^(\S+) \(file ([0-9A-F]{24})\)$/.exec(field("START WAL LOCATION"));
  if (!start) throw new Error(`backup_label START WAL LOCATION is unreadable: ${field("START WAL LOCATION")}`);
  return {
    startLsn: parseLsn(start[1]),
    startWalFile: start[2],
    checkpointLsn: parseLsn(field("CHECKPOINT LOCATION")),
    timeline: Number(field("START TIMELINE")),
    startTime: field("START TIME"),
    label: field("LABEL"),
  };
}

export interface TimelineSwitch {
  /** The timeline the new one forked from. */
  parent: number;
  /** Where it forked: the new timeline holds the parent's WAL before this LSN, and nothing after it. */
  switchpoint: bigint;
  reason: string;
}

/** The last line of a timeline history file (`<n>.history`): where the newest timeline forked. */
export function parseHistory(text: string): TimelineSwitch {
  const lines = text.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  const last = lines[lines.length - 1];
  const m = last && /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)\s*(.*)$/.exec(last.trim());
  if (!m) throw new Error(`unreadable timeline history:\n${text}`);
  return { parent: Number(m[1]), switchpoint: parseLsn(m[2]), reason: m[3] };
}

/** The history file name of a timeline. */
export const historyFileName = (timeline: number) => timeline.toString(16).toUpperCase().padStart(8, "0") + ".history";

/**
 * Archived WAL files older than the oldest base backup kept (its start segment): no point-in-time
 * branch can use them any more. History files are always kept (tiny, and recovery reads them).
 */
export function prunableWal(files: string[], oldestStartWalFile: string, segSize: number): string[] {
  const keepFrom = segmentNumber(oldestStartWalFile, segSize);
  return files.filter((f) => /^[0-9A-F]{24}(\.partial)?$/.test(f) && segmentNumber(f.slice(0, 24), segSize) < keepFrom);
}

/** A recovery target: an LSN (the branch holds the WAL before it) or a time (commits at or before it). */
export type RecoveryTarget = { lsn: bigint } | { time: Date };

/** Parses `--at`: an LSN ("0/3000060") or a time (ISO 8601 with a zone, or anything Date reads with one). */
export function parseTarget(text: string): RecoveryTarget {
  if (/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(text.trim())) return { lsn: parseLsn(text) };
  const hasZone = /(Z|[+-]\d\d(:?\d\d)?)$/i.test(text.trim());
  const t = new Date(text);
  if (!hasZone || Number.isNaN(t.getTime())) {
    throw new Error(`"${text}" is neither an LSN (like 0/3000060) nor a time with a zone (like 2026-05-01T12:00:00Z or 2026-05-01 12:00:00+02)`);
  }
  return { time: t };
}

export interface BaseBackupInfo {
  id: string;
  startLsn: string;
  stopLsn: string;
  startWalFile: string;
  /** Wall-clock time after pg_backup_stop returned: the copy is consistent at a moment before it. */
  stopTime: string;
  timeline: number;
}

/**
 * The newest base backup a point-in-time branch can start from: consistent before the target
 * (its stop LSN at or before a target LSN; its stop time before a target time), on the timeline.
 */
export function chooseBase(bases: BaseBackupInfo[], target: RecoveryTarget, timeline: number): BaseBackupInfo | undefined {
  const fits = bases.filter(
    (b) => b.timeline === timeline && ("lsn" in target ? parseLsn(b.stopLsn) <= target.lsn : new Date(b.stopTime).getTime() < target.time.getTime()),
  );
  return fits.sort((a, b) => (parseLsn(a.stopLsn) < parseLsn(b.stopLsn) ? 1 : -1))[0];
}
