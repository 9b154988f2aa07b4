/**
 * A physical copy of a running local Postgres server, without touching its sessions: Postgres's
 * low-level backup API (pg_backup_start / pg_backup_stop in one session) around a copy of the
 * data directory's files, plus the WAL from the backup's start to its stop. Nothing waits on the
 * parent's clients and nothing is terminated; the parent pays a checkpoint at the start and the
 * copy's reads.
 *
 * The files are cloned (FICLONE: a reflink, no data copied) where the filesystem supports it
 * (XFS with reflink, btrfs, ZFS 2.2+), probed with one file first; otherwise copied (Node's
 * copyFile: copy_file_range). WAL is held for the copy by a temporary physical slot made before
 * the backup starts: a checkpoint during a long copy cannot recycle a segment the copy needs, and
 * the slot goes away with the session (a killed copy leaves nothing on the parent: Postgres also
 * ends a low-level backup whose session ends).
 *
 * The copy is a data directory with backup_label: started with recovery.signal it replays the WAL
 * to a consistent state (or further, from an archive) and can be promoted. Files that change while
 * they are copied are fine: full-page writes are forced during a backup, and replay rewrites them.
 */
import { constants, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { chown, copyFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Client } from "pg";
import { createLogger } from "../core/log";
import { serverUser } from "./process";
import { BackupLabel, copyPath, EMPTY_DIRS, formatLsn, parseBackupLabel, parseLsn, segmentsBetween } from "./wal";

const log = createLogger({ component: "basebackup" });

/** "clone": reflinks (refused where the filesystem cannot); "copy": plain copies; "auto": clone when a probe clone works. */
export type CopyMethod = "auto" | "clone" | "copy";

export interface ServerFacts {
  versionNum: number;
  major: number;
  dataDirectory: string;
  port: number;
  walSegmentSize: number;
  archiveMode: string;
  archiveCommand: string;
  systemIdentifier: string;
  timeline: number;
}

/** What a physical copy needs to know about the server, and a check that it runs on this machine. */
export async function serverFacts(c: Client): Promise<ServerFacts> {
  let r;
  try {
    r = await c.query(
      `SELECT current_setting('server_version_num')::int AS v, current_setting('data_directory') AS dir, current_setting('port')::int AS port,
              current_setting('wal_segment_size') AS seg, current_setting('archive_mode') AS am, current_setting('archive_command') AS ac,
              (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS tli`,
    );
  } catch (e) {
    if ((e as { code?: string }).code === "42501")
      throw new Error(`a physical branch needs a superuser (or a role with pg_read_all_settings and pg_monitor) on the parent: ${(e as Error).message}`);
    throw e;
  }
  const row = r.rows[0];
  const seg = String(row.seg);
  const walSegmentSize = /^\d+MB$/.test(seg)
    ? Number(seg.slice(0, -2)) * 1024 * 1024
    : /^\d+GB$/.test(seg)
      ? Number(seg.slice(0, -2)) * 1024 ** 3
      : Number(seg);
  const facts: ServerFacts = {
    versionNum: row.v,
    major: Math.floor(row.v / 10000),
    dataDirectory: row.dir,
    port: row.port,
    walSegmentSize,
    archiveMode: row.am,
    archiveCommand: row.ac,
    systemIdentifier: row.sysid,
    timeline: Number(row.tli),
  };
  const pidFile = join(facts.dataDirectory, "postmaster.pid");
  let here = false;
  try {
    const lines = readFileSync(pidFile, "utf8").split("\n");
    here = Number(lines[3]) === facts.port;
  } catch {
    here = false;
  }
  if (!here) {
    throw new Error(
      `the server's data directory ${facts.dataDirectory} (port ${facts.port}) is not on this machine, or not readable by this user: ` +
        `a physical branch copies the server's files, so it runs where the server runs (the local target). Use --strategy file_copy (CREATE DATABASE … TEMPLATE) otherwise`,
    );
  }
  const spc = await c.query("SELECT spcname FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')");
  if (spc.rowCount)
    throw new Error(
      `the server has tablespaces outside its data directory (${spc.rows.map((x) => x.spcname).join(", ")}): a physical branch copies the data directory only`,
    );
  return facts;
}

export interface BaseBackupOptions {
  /** Copy method. Defaults to "auto". */
  copy?: CopyMethod;
  /** Copy the WAL from start to stop into the copy's pg_wal (a self-contained copy). Defaults to true. */
  includeWal?: boolean;
  /** pg_backup_stop waits until the WAL is archived (for base backups that recover from the archive). Defaults to false. */
  waitForArchive?: boolean;
  /** Label in backup_label. Defaults to "floe". */
  label?: string;
  /** Stops the copy; the promise rejects with the signal's reason, the session ends (the parent forgets the backup). */
  signal?: AbortSignal;
  /** Files copied at once. Defaults to 4. */
  parallel?: number;
}

export interface BaseBackupResult {
  facts: ServerFacts;
  label: BackupLabel;
  /** The LSN at which the copy becomes consistent (pg_backup_stop's). */
  stopLsn: bigint;
  stopTime: string;
  method: "clone" | "copy";
  files: number;
  bytes: number;
  elapsedMs: number;
}

/** Whether `dest`'s filesystem can clone `src` (one FICLONE on a small file; the probe is removed). */
export async function canClone(src: string, destDir: string): Promise<boolean> {
  const probe = join(destDir, `.floe-clone-probe-${process.pid}`);
  try {
    await copyFile(src, probe, constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true });
  }
}

const backupFns = (versionNum: number) =>
  versionNum >= 150000
    ? { start: "SELECT pg_backup_start($1, $2)::text AS lsn", stop: "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop($1)" }
    : { start: "SELECT pg_start_backup($1, $2, false)::text AS lsn", stop: "SELECT lsn::text, labelfile, spcmapfile FROM pg_stop_backup(false, $1)" };

/**
 * Copies the running server behind `url` (a superuser URL; any database) into `dest` (created; must
 * not exist). Returns where the copy is consistent. `dest` is left as it is on failure: the caller
 * removes it.
 */
export async function takeBaseBackup(url: string, dest: string, opts: BaseBackupOptions = {}): Promise<BaseBackupResult> {
  const started = Date.now();
  const signal = opts.signal;
  const c = new Client({ connectionString: url, application_name: "floe-basebackup" });
  await c.connect();
  const abort = () => void c.end().catch(() => undefined); // the server aborts the backup and drops the slot with the session
  signal?.addEventListener("abort", abort, { once: true });
  const check = () => {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
  };
  try {
    const facts = await serverFacts(c);
    check();
    if (existsSync(dest)) throw new Error(`${dest} exists already: a copy goes into a new directory`);
    mkdirSync(dest, { recursive: true, mode: 0o700 });
    await own(dest);
    const src = facts.dataDirectory;
    const want = opts.copy ?? "auto";
    const clones = want !== "copy" && (await canClone(join(src, "PG_VERSION"), dest));
    if (want === "clone" && !clones)
      throw new Error(`the filesystem of ${dest} cannot clone files of ${src} (no reflink support, or another filesystem): use --copy copy (or auto)`);
    const method = clones ? "clone" : "copy";
    const includeWal = opts.includeWal ?? true;
    const fns = backupFns(facts.versionNum);
    if (includeWal) {
      const slot = `floe_backup_${process.pid}_${Date.now().toString(36)}`;
      await c.query("SELECT pg_create_physical_replication_slot($1, true, true)", [slot]);
    }
    await c.query(fns.start, [opts.label ?? "floe", true]);
    check();
    log.info("copying the data directory", { from: src, to: dest, method });
    const { files, bytes } = await copyTree(src, dest, method, {
      keep: copyPath,
      emptyDirs: EMPTY_DIRS,
      last: ["global/pg_control"],
      parallel: opts.parallel,
      check,
    });
    for (const d of ["pg_wal/archive_status", "pg_wal/summaries"]) {
      await mkdir(join(dest, d), { recursive: true, mode: 0o700 });
      await own(join(dest, d));
    }
    check();
    const stop = (await c.query(fns.stop, [opts.waitForArchive ?? false])).rows[0];
    const stopTime = new Date().toISOString();
    const stopLsn = parseLsn(stop.lsn);
    const label = parseBackupLabel(stop.labelfile);
    writeFileSync(join(dest, "backup_label"), stop.labelfile, { mode: 0o600 });
    await own(join(dest, "backup_label"));
    if (stop.spcmapfile) {
      writeFileSync(join(dest, "tablespace_map"), stop.spcmapfile, { mode: 0o600 });
      await own(join(dest, "tablespace_map"));
    }
    let walBytes = 0;
    if (includeWal) walBytes = await copyWal(facts, label, stopLsn, dest, method);
    log.info("copy done", { method, files, bytes: bytes + walBytes, stopLsn: formatLsn(stopLsn), ms: Date.now() - started });
    return { facts, label, stopLsn, stopTime, method, files, bytes: bytes + walBytes, elapsedMs: Date.now() - started };
  } finally {
    signal?.removeEventListener("abort", abort);
    await c.end().catch(() => undefined);
  }
}

/** Gives a path to the server user when we are root (the copy is the new server's). */
async function own(path: string): Promise<void> {
  const u = serverUser();
  if (u) await chown(path, u.uid, u.gid);
}

/**
 * Copies a directory tree (files cloned or copied, directories created, everything given to the
 * server user) keeping only what `keep` accepts; `first` of the files are copied last (pg_control
 * after everything else, as pg_basebackup sends it). Files that vanish meanwhile are skipped.
 */
export async function copyTree(
  src: string,
  dest: string,
  method: "clone" | "copy",
  opts: { keep?: (rel: string, isDir: boolean) => boolean; emptyDirs?: string[]; last?: string[]; parallel?: number; check?: () => void } = {},
): Promise<{ files: number; bytes: number }> {
  const keep = opts.keep ?? (() => true);
  const emptyDirs = opts.emptyDirs ?? [];
  const check = opts.check ?? (() => undefined);
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = (rel: string) => {
    let entries;
    try {
      entries = readdirSync(join(src, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // a database dropped meanwhile
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      // pg_wal may be a symlink (initdb -X): it is recreated empty either way
      const isDir = e.isDirectory() || (e.isSymbolicLink() && emptyDirs.includes(r));
      if (!keep(r, isDir)) continue;
      if (isDir) {
        dirs.push(r);
        if (!emptyDirs.includes(r)) walk(r);
      } else if (e.isFile()) files.push(r);
      else if (e.isSymbolicLink())
        throw new Error(
          `${join(src, r)} is a symbolic link: a physical branch copies the data directory only (tablespaces and linked directories are not supported)`,
        );
    }
  };
  walk("");
  for (const d of dirs) {
    await mkdir(join(dest, d), { recursive: true, mode: 0o700 });
    await own(join(dest, d));
  }
  const lastOnes = files.filter((f) => opts.last?.includes(f));
  const rest = files.filter((f) => !opts.last?.includes(f));
  let bytes = 0;
  let copied = 0;
  const one = async (rel: string) => {
    const to = join(dest, rel);
    try {
      await copyFile(join(src, rel), to, method === "clone" ? constants.COPYFILE_FICLONE_FORCE : 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && !existsSync(join(src, rel))) return; // dropped meanwhile: replay removes it too
      throw e;
    }
    await own(to);
    bytes += statSync(to).size;
    copied++;
  };
  let next = 0;
  const worker = async () => {
    while (next < rest.length) {
      check();
      await one(rest[next++]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 4) }, worker));
  for (const f of lastOnes) await one(f);
  return { files: copied, bytes };
}

/** Copies the WAL segments from the backup's start to its stop, and every timeline history file, into the copy's pg_wal. */
async function copyWal(facts: ServerFacts, label: BackupLabel, stopLsn: bigint, dest: string, method: "clone" | "copy"): Promise<number> {
  const walDir = realpathSync(join(facts.dataDirectory, "pg_wal"));
  const names = segmentsBetween(label.timeline, label.startLsn, stopLsn, facts.walSegmentSize);
  const present = new Set(readdirSync(walDir));
  const missing = names.filter((n) => !present.has(n));
  if (missing.length) {
    throw new Error(
      `WAL segment(s) ${missing.join(", ")} needed by the copy are gone from ${walDir} (the copy's slot should have kept them: was max_slot_wal_keep_size exceeded?)`,
    );
  }
  let bytes = 0;
  for (const n of [...names, ...[...present].filter((f) => f.endsWith(".history"))]) {
    const to = join(dest, "pg_wal", n);
    await copyFile(join(walDir, n), to, method === "clone" ? constants.COPYFILE_FICLONE_FORCE : 0);
    await own(to);
    bytes += statSync(to).size;
  }
  return bytes;
}
