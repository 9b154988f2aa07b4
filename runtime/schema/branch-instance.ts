/**
 * Instance branches (the default strategy): a branch is a new Postgres server made from a physical
 * copy of the running parent server, on the same machine (the local target). It never blocks,
 * waits on or terminates the parent's sessions: the copy runs beside them (runtime/local/basebackup.ts),
 * the branch server replays the WAL written meanwhile up to the copy's consistent point and is
 * promoted to a timeline of its own. Its URL is the parent's with the branch's port: same roles,
 * passwords and databases (every database of the server is in the branch).
 *
 * As of a past LSN or time: the parent archives its WAL (walArchive / walArchiveSettings in
 * runtime/local/postgres.ts) and `floe branch backup` keeps base backups under
 * `<archive>/base/`; the branch starts from the newest base consistent before the target and
 * replays the archive up to it (recovery_target_lsn, exclusive: the WAL before the LSN; or
 * recovery_target_time, inclusive: commits at or before the time). Retention: a branch can go back
 * to the oldest base backup kept; `floe branch backup --keep N` keeps the newest N and removes the
 * WAL older than the oldest of them.
 *
 * Where branches live: `<parent data directory>.branches/<name>/` (data/ plus branch.json). A
 * create writes creating.json (its pid) first and branch.json last: a directory whose creator is
 * gone without branch.json is an interrupted create, listed as such, removed by delete. Nothing of
 * an interrupted create stays on the parent: the backup and its WAL-holding slot end with the
 * copying session.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { createLogger } from "../core/log";
import { canClone, copyTree, serverFacts, ServerFacts, takeBaseBackup } from "../local/basebackup";
import { archiveDirOf, isRunning, restoreCommand, runningPid, serverLogTail, startCluster, stopAndRemove } from "../local/postgres";
import { freePort, handOver, isAlive } from "../local/process";
import {
  BaseBackupInfo,
  chooseBase,
  formatLsn,
  historyFileName,
  parseHistory,
  parseLsn,
  parseTarget,
  prunableWal,
  RecoveryTarget,
  walFileName,
} from "../local/wal";
import {
  BranchInfo,
  BranchInterrupted,
  CreatedBranch,
  databaseOf,
  databaseUrl,
  defaultBranchName,
  redact,
  serverUrl,
  sleep,
  validateBranchName,
} from "./branch-common";

const log = createLogger({ component: "schema-branch" });

/** What branch.json records. */
export interface InstanceMeta {
  name: string;
  parent: string;
  parentPort: number;
  parentDataDir: string;
  systemIdentifier: string;
  major: number;
  port: number;
  /** Settings the branch server starts with (the parent's command-line settings, minus its port, sockets and archiving). */
  settings: Record<string, string>;
  created: string;
  /** The branch holds the parent's WAL before this LSN (its timeline's switchpoint). */
  lsn: string;
  timeline: number;
  asOf?: string;
  /** How the files were made: "clone" (reflinks) or "copy". */
  method: "clone" | "copy";
  /** The copy method asked for (reset uses it again). */
  copy: "auto" | "clone" | "copy";
  elapsedMs: number;
}

export interface InstanceBranchOptions {
  name?: string;
  copy?: "auto" | "clone" | "copy";
  at?: string;
  port?: number;
  signal?: AbortSignal;
}

/** Where the branches of a server with this data directory live. */
export const branchStore = (parentDataDir: string) => parentDataDir.replace(/\/+$/, "") + ".branches";

/** Parent settings a branch must not take: where the parent listens and archives, and what recovery sets. */
const NOT_INHERITED = new Set([
  "port",
  "unix_socket_directories",
  "data_directory",
  "config_file",
  "hba_file",
  "ident_file",
  "archive_mode",
  "archive_command",
  "archive_library",
  "restore_command",
  "external_pid_file",
]);

async function connect(url: string): Promise<Client> {
  const c = new Client({ connectionString: url, application_name: "floe-branch" });
  await c.connect();
  return c;
}

/** The parent's command-line settings (how the local target configures its servers), for the branch server. */
async function inheritedSettings(c: Client): Promise<Record<string, string>> {
  const r = await c.query("SELECT name, setting FROM pg_settings WHERE source = 'command line'");
  return Object.fromEntries(r.rows.filter((x) => !NOT_INHERITED.has(x.name)).map((x) => [x.name, String(x.setting)]));
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path + ".tmp", JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
  renameSync(path + ".tmp", path);
}

export async function createInstanceBranch(parentUrl: string, opts: InstanceBranchOptions = {}): Promise<CreatedBranch> {
  const started = Date.now();
  const parent = databaseOf(parentUrl);
  const name = opts.name ?? defaultBranchName(parent);
  validateBranchName(name);
  const target = opts.at ? parseTarget(opts.at) : undefined;
  const signal = opts.signal;
  const c = await connect(parentUrl);
  try {
    const facts = await serverFacts(c);
    const settings = await inheritedSettings(c);
    return await make(c, facts, settings);
  } finally {
    await c.end().catch(() => undefined);
  }

  async function make(c: Client, facts: ServerFacts, settings: Record<string, string>): Promise<CreatedBranch> {
    const store = branchStore(facts.dataDirectory);
    const dir = join(store, name);
    const dataDir = join(dir, "data");
    if (existsSync(dir)) throw new Error(`branch "${name}" exists already in ${store}: delete it (floe branch delete) or reset it (floe branch reset)`);
    mkdirSync(store, { recursive: true, mode: 0o700 });
    handOver(store);
    mkdirSync(dir, { mode: 0o700 });
    handOver(dir);
    writeJson(join(dir, "creating.json"), { pid: process.pid, started: new Date().toISOString(), parent });
    let port = 0;
    let stage = "copying";
    try {
      let method: "clone" | "copy";
      let restore = "false"; // live: the WAL is in pg_wal; no archive to ask
      const recovery: Record<string, string> = { recovery_target_action: "promote", recovery_target_timeline: "current" };
      if (!target) {
        const copy = await takeBaseBackup(parentUrl, dataDir, { copy: opts.copy, includeWal: true, label: `floe branch ${name}`, signal });
        method = copy.method;
        recovery.recovery_target = "immediate";
      } else {
        const pitr = await fromArchive(c, facts, target, dataDir, opts.copy ?? "auto", signal);
        method = pitr.method;
        restore = restoreCommand(pitr.archive);
        if ("lsn" in target) Object.assign(recovery, { recovery_target_lsn: formatLsn(target.lsn), recovery_target_inclusive: "off" });
        else
          Object.assign(recovery, { recovery_target_time: target.time.toISOString().replace("T", " ").replace("Z", "+00"), recovery_target_inclusive: "on" });
      }
      writeFileSync(join(dataDir, "recovery.signal"), "");
      handOver(join(dataDir, "recovery.signal"));
      stage = "recovering";
      port = opts.port ?? (await freePort());
      const branchSettings = { ...settings, archive_mode: "off" };
      await startCluster({ major: facts.major, dataDir, port, settings: { ...branchSettings, restore_command: restore, ...recovery } }, { wait: false });
      const url = serverUrl(parentUrl, port);
      await waitPromoted(url, dataDir, signal);
      const sw = switchpoint(dataDir);
      const meta: InstanceMeta = {
        name,
        parent,
        parentPort: facts.port,
        parentDataDir: facts.dataDirectory,
        systemIdentifier: facts.systemIdentifier,
        major: facts.major,
        port,
        settings: branchSettings,
        created: new Date().toISOString(),
        lsn: formatLsn(sw.switchpoint),
        timeline: sw.timeline,
        ...(opts.at ? { asOf: opts.at } : {}),
        method,
        copy: opts.copy ?? "auto",
        elapsedMs: Date.now() - started,
      };
      writeJson(join(dir, "branch.json"), meta);
      rmSync(join(dir, "creating.json"), { force: true });
      log.info("branch created", { parent, branch: name, port, lsn: meta.lsn, method, elapsedMs: meta.elapsedMs });
      return { ...info(meta, dir, parentUrl), elapsedMs: meta.elapsedMs, strategy: "instance", terminated: 0 };
    } catch (e) {
      await removeDir(dir, facts.major).catch((e2) => log.error("could not remove the half-made branch", { dir, error: e2 }));
      if (signal?.aborted) throw new BranchInterrupted(`interrupted (${String(signal.reason?.message ?? signal.reason)}) while ${stage}`, stage);
      throw e;
    }
  }
}

/** Copies the newest base backup consistent before `target` into `dataDir`, once the WAL up to the target is archived. */
async function fromArchive(
  c: Client,
  facts: ServerFacts,
  target: RecoveryTarget,
  dataDir: string,
  copy: "auto" | "clone" | "copy",
  signal?: AbortSignal,
): Promise<{ archive: string; method: "clone" | "copy" }> {
  const archive = archiveOf(facts);
  const bases = listBases(archive);
  const base = chooseBase(bases, target, facts.timeline);
  if (!base) {
    const oldest = bases.filter((b) => b.timeline === facts.timeline).sort((a, b) => (parseLsn(a.stopLsn) < parseLsn(b.stopLsn) ? -1 : 1))[0];
    throw new Error(
      `no base backup in ${join(archive, "base")} is consistent before ${describe(target)}: ` +
        (oldest ? `the oldest reachable point is LSN ${oldest.stopLsn} (${oldest.stopTime})` : "there is none yet: take one with floe branch backup"),
    );
  }
  await archivedPast(c, facts, target, archive, signal);
  mkdirSync(dataDir, { mode: 0o700 });
  handOver(dataDir);
  const src = join(archive, "base", base.id, "data");
  const clones = copy !== "copy" && (await canClone(join(src, "PG_VERSION"), dataDir));
  if (copy === "clone" && !clones) throw new Error(`the filesystem of ${dataDir} cannot clone files of ${src}: use --copy copy (or auto)`);
  const method = clones ? "clone" : "copy";
  await copyTree(src, dataDir, method, { last: ["global/pg_control"], check: () => signal?.throwIfAborted() });
  for (const d of ["pg_wal/archive_status", "pg_wal/summaries"]) {
    mkdirSync(join(dataDir, d), { recursive: true, mode: 0o700 });
    handOver(join(dataDir, d));
  }
  log.info("point-in-time branch from a base backup", { base: base.id, baseStopLsn: base.stopLsn, target: describe(target) });
  return { archive, method };
}

const describe = (t: RecoveryTarget) => ("lsn" in t ? `LSN ${formatLsn(t.lsn)}` : t.time.toISOString());

function archiveOf(facts: ServerFacts): string {
  const dir = archiveDirOf(facts.archiveCommand);
  if (facts.archiveMode === "off" || !dir) {
    throw new Error(
      `a point-in-time branch needs the parent to archive its WAL with floe's archive_command (archive_mode is ${facts.archiveMode}, archive_command "${facts.archiveCommand}"): ` +
        `start the server with a walArchive directory (runtime/local/postgres.ts walArchiveSettings), then take a base backup with floe branch backup`,
    );
  }
  return dir;
}

/**
 * Makes sure the archive holds WAL past the target: a time target gets a commit after it (an empty
 * transaction with an xid: recovery stops at the first commit past the time), then the current
 * segment is switched out and the archiver awaited for it.
 */
async function archivedPast(c: Client, facts: ServerFacts, target: RecoveryTarget, archive: string, signal?: AbortSignal): Promise<void> {
  const now = (await c.query("SELECT clock_timestamp() AS now, pg_current_wal_insert_lsn()::text AS lsn")).rows[0];
  if ("lsn" in target && target.lsn > parseLsn(now.lsn)) throw new Error(`LSN ${formatLsn(target.lsn)} is in the future: the parent's WAL ends at ${now.lsn}`);
  if ("time" in target) {
    if (target.time.getTime() > new Date(now.now).getTime())
      throw new Error(`${target.time.toISOString()} is in the future (the parent's clock says ${new Date(now.now).toISOString()})`);
    await c.query("SELECT txid_current()");
  }
  const sw = (await c.query("SELECT pg_switch_wal()::text AS lsn")).rows[0].lsn;
  const needed = walFileName(facts.timeline, parseLsn(sw) - 1n, facts.walSegmentSize);
  let last = "";
  let lastProgress = Date.now();
  for (;;) {
    if (existsSync(join(archive, needed))) return;
    signal?.throwIfAborted();
    const st = (await c.query("SELECT coalesce(last_archived_wal, '') AS archived, coalesce(last_failed_wal, '') AS failed FROM pg_stat_archiver")).rows[0];
    if (st.archived !== last) {
      last = st.archived;
      lastProgress = Date.now();
    }
    if (Date.now() - lastProgress > 60_000) {
      throw new Error(
        `the parent has not archived ${needed} into ${archive}: the archiver made no progress for 60 s (last archived ${st.archived || "none"}, last failed ${st.failed || "none"}; see the parent's server log)`,
      );
    }
    log.info("waiting for the parent to archive the WAL the branch needs", { segment: needed, lastArchived: st.archived });
    await sleep(200, signal);
  }
}

/** Waits until the branch server has finished recovery and is promoted; fails when it stops (its log says why). */
async function waitPromoted(url: string, dataDir: string, signal?: AbortSignal): Promise<void> {
  let lastReplay = "";
  let lastProgress = Date.now();
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    if (attempt > 10 && !isRunning(dataDir)) {
      throw new Error(`the branch server stopped during recovery:\n${serverLogTail(dataDir, 15)}`);
    }
    let c: Client | undefined;
    try {
      c = await connect(databaseUrl(url, "postgres"));
      const r = (await c.query("SELECT pg_is_in_recovery() AS rec, coalesce(pg_last_wal_replay_lsn()::text, '') AS replay")).rows[0];
      if (!r.rec) return;
      if (r.replay !== lastReplay) {
        lastReplay = r.replay;
        lastProgress = Date.now();
      }
    } catch (e) {
      const code = (e as { code?: string }).code;
      // not up yet (refused), starting up (57P03), or the password file is not read yet: keep waiting
      if (code !== "ECONNREFUSED" && code !== "57P03" && code !== "ENOENT") log.debug("waiting for the branch server", { error: (e as Error).message });
    } finally {
      await c?.end().catch(() => undefined);
    }
    if (Date.now() - lastProgress > 300_000)
      throw new Error(`the branch server replayed nothing for 5 minutes (at ${lastReplay || "start"}):\n${serverLogTail(dataDir, 15)}`);
    await sleep(Math.min(500, 20 * (attempt + 1)), signal);
  }
}

/** The newest timeline of a promoted branch and where it forked from the parent's. */
function switchpoint(dataDir: string): { timeline: number; switchpoint: bigint } {
  const histories = readdirSync(join(dataDir, "pg_wal"))
    .filter((f) => /^[0-9A-F]{8}\.history$/.test(f))
    .sort();
  const newest = histories[histories.length - 1];
  if (!newest) throw new Error(`the branch in ${dataDir} was promoted without a timeline history file`);
  const timeline = parseInt(newest.slice(0, 8), 16);
  if (historyFileName(timeline) !== newest) throw new Error(`unexpected history file ${newest}`);
  return { timeline, switchpoint: parseHistory(readFileSync(join(dataDir, "pg_wal", newest), "utf8")).switchpoint };
}

function info(meta: InstanceMeta, dir: string, parentUrl: string): BranchInfo {
  const dataDir = join(dir, "data");
  return {
    name: meta.name,
    parent: meta.parent,
    created: meta.created,
    url: databaseUrl(serverUrl(parentUrl, meta.port), meta.parent),
    kind: "instance",
    lsn: meta.lsn,
    ...(meta.asOf ? { asOf: meta.asOf } : {}),
    running: runningPid(dataDir) !== null,
    method: meta.method,
    dataDir,
  };
}

/** Stops a branch server (if it runs) and removes its directory. */
async function removeDir(dir: string, major: number): Promise<void> {
  const dataDir = join(dir, "data");
  if (existsSync(join(dataDir, "PG_VERSION")) || runningPid(dataDir)) await stopAndRemove({ major, dataDir });
  rmSync(dir, { recursive: true, force: true });
}

async function storeOf(serverUrl: string): Promise<{ store: string; facts: ServerFacts }> {
  const c = await connect(databaseUrl(serverUrl, "postgres"));
  try {
    const facts = await serverFacts(c);
    return { store: branchStore(facts.dataDirectory), facts };
  } finally {
    await c.end();
  }
}

type Entry = { name: string; dir: string; meta?: InstanceMeta; creating?: { pid: number; started: string; parent: string } };

function entries(store: string): Entry[] {
  if (!existsSync(store)) return [];
  return readdirSync(store, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => {
      const dir = join(store, d.name);
      return { name: d.name, dir, meta: readJson<InstanceMeta>(join(dir, "branch.json")), creating: readJson<Entry["creating"]>(join(dir, "creating.json")) };
    })
    .filter((e) => e.meta || e.creating);
}

export async function listInstanceBranches(serverUrlText: string): Promise<BranchInfo[]> {
  const { store } = await storeOf(serverUrlText);
  const out: BranchInfo[] = [];
  for (const e of entries(store)) {
    if (e.meta) out.push(info(e.meta, e.dir, serverUrlText));
    else if (e.creating && !isAlive(e.creating.pid)) {
      out.push({
        name: e.name,
        parent: e.creating.parent,
        created: e.creating.started,
        url: "",
        kind: "instance",
        interrupted: true,
        running: runningPid(join(e.dir, "data")) !== null,
        dataDir: join(e.dir, "data"),
      });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The directory of an instance branch of this server, or undefined when it has none of that name. */
export async function findInstanceBranch(serverUrlText: string, name: string): Promise<Entry | undefined> {
  validateBranchName(name);
  const { store } = await storeOf(serverUrlText);
  return entries(store).find((e) => e.name === name);
}

export async function deleteInstanceBranch(serverUrlText: string, name: string): Promise<void> {
  const e = await findInstanceBranch(serverUrlText, name);
  if (!e) throw new Error(`branch "${name}" does not exist on ${redact(serverUrlText)}`);
  if (!e.meta && e.creating && isAlive(e.creating.pid))
    throw new Error(
      `branch "${name}" is being created right now (pid ${e.creating.pid} since ${e.creating.started}): wait for that floe branch create to end, or stop it`,
    );
  const major = e.meta?.major ?? Number(readFileSync(join(e.dir, "data", "PG_VERSION"), "utf8").trim() || 0);
  await removeDir(e.dir, major);
  log.info("branch deleted", { branch: name });
}

/** Makes the branch again from the parent as it is now: same name, same port (so its URL stays). */
export async function resetInstanceBranch(serverUrlText: string, name: string, signal?: AbortSignal): Promise<CreatedBranch> {
  const e = await findInstanceBranch(serverUrlText, name);
  if (!e?.meta) throw new Error(`branch "${name}" does not exist on ${redact(serverUrlText)}${e ? " (an interrupted create: delete it)" : ""}`);
  const meta = e.meta;
  await removeDir(e.dir, meta.major);
  return createInstanceBranch(databaseUrl(serverUrlText, meta.parent), { name, port: meta.port, copy: meta.copy, signal });
}

// ---- base backups for point-in-time branches ----------------------------------------------------

function listBases(archive: string): BaseBackupInfo[] {
  const dir = join(archive, "base");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((id) => readJson<BaseBackupInfo>(join(dir, id, "backup.json")))
    .filter((b): b is BaseBackupInfo => !!b);
}

export interface BackupResult extends BaseBackupInfo {
  method: "clone" | "copy";
  elapsedMs: number;
  /** Base backups removed by `keep`, and archived WAL files removed with them. */
  removed: string[];
  walRemoved: number;
}

/**
 * Takes a base backup of the server into its WAL archive (`<archive>/base/<id>/`), the start of
 * point-in-time branches; with `keep`, then keeps only the newest `keep` base backups and removes
 * the archived WAL older than the oldest kept one (no branch could use it).
 */
export async function takeBranchBackup(
  serverUrlText: string,
  opts: { keep?: number; copy?: "auto" | "clone" | "copy"; signal?: AbortSignal } = {},
): Promise<BackupResult> {
  const { facts } = await storeOf(serverUrlText);
  const archive = archiveOf(facts);
  if (opts.keep !== undefined && !(Number.isInteger(opts.keep) && opts.keep >= 1))
    throw new Error(`keep must be a whole number of base backups, at least 1 (got ${opts.keep})`);
  const id = new Date().toISOString().replace(/[-:.]/g, "").replace("T", "-");
  const dir = join(archive, "base", id);
  mkdirSync(join(archive, "base"), { recursive: true, mode: 0o700 });
  handOver(join(archive, "base"));
  try {
    mkdirSync(dir, { mode: 0o700 });
    handOver(dir);
    const b = await takeBaseBackup(databaseUrl(serverUrlText, "postgres"), join(dir, "data"), {
      copy: opts.copy,
      includeWal: false,
      waitForArchive: true,
      label: `floe base ${id}`,
      signal: opts.signal,
    });
    const infoRec: BaseBackupInfo = {
      id,
      startLsn: formatLsn(b.label.startLsn),
      stopLsn: formatLsn(b.stopLsn),
      startWalFile: b.label.startWalFile,
      stopTime: b.stopTime,
      timeline: b.label.timeline,
    };
    writeJson(join(dir, "backup.json"), infoRec);
    const removed: string[] = [];
    let walRemoved = 0;
    if (opts.keep !== undefined) {
      const bases = listBases(archive).sort((a, b2) => (parseLsn(a.stopLsn) < parseLsn(b2.stopLsn) ? 1 : -1));
      for (const old of bases.slice(opts.keep)) {
        rmSync(join(archive, "base", old.id), { recursive: true, force: true });
        removed.push(old.id);
      }
      const oldestKept = bases.slice(0, opts.keep).sort((a, b2) => (parseLsn(a.startLsn) < parseLsn(b2.startLsn) ? -1 : 1))[0];
      for (const f of prunableWal(readdirSync(archive), oldestKept.startWalFile, facts.walSegmentSize)) {
        rmSync(join(archive, f), { force: true });
        walRemoved++;
      }
    }
    log.info("base backup taken", { id, stopLsn: infoRec.stopLsn, method: b.method, ms: b.elapsedMs, removed, walRemoved });
    return { ...infoRec, method: b.method, elapsedMs: b.elapsedMs, removed, walRemoved };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** The base backups of the server's archive, oldest first: how far back a point-in-time branch can go. */
export async function listBranchBackups(serverUrlText: string): Promise<BaseBackupInfo[]> {
  const { facts } = await storeOf(serverUrlText);
  return listBases(archiveOf(facts)).sort((a, b) => (parseLsn(a.stopLsn) < parseLsn(b.stopLsn) ? -1 : 1));
}
