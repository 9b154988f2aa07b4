/**
 * A local pgBouncer process from the OS package (`apt-get install pgbouncer`), run as the
 * unprivileged server user when we are root (it refuses root): start, reload, stop. Used by the
 * local target's pooler, the integration tests and the benches. Its config is rendered by
 * ./config.ts; its admin console is ./admin.ts.
 *
 * Everything lives in one directory: pgbouncer.ini, userlist.txt, pgbouncer.pid, pgbouncer.log.
 * The process daemonizes (-d), so it outlives whoever started it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { handOver, isAlive, runAsServer, stopProcess } from "../local/process";
import { renderIni, renderUserlist, type PgBouncerDatabase } from "./config";
import { connect } from "node:net";

export interface PgBouncerSpec {
  /** Directory holding the config, pid file and log. Created if missing. */
  dir: string;
  port: number;
  /** Listen address. Defaults to 127.0.0.1. */
  host?: string;
  databases: PgBouncerDatabase[];
  /** Users and their plain-text passwords (used for SCRAM towards clients and servers). */
  users: { name: string; password: string }[];
  /** Users allowed on the admin console (must be in `users`). */
  adminUsers: string[];
  /** "transaction", "session" or "statement". Defaults to transaction. */
  poolMode?: string;
  /** Defaults to 1000. */
  maxClientConnections?: number;
  /** Defaults to 20. */
  defaultPoolSize?: number;
  /** How long clients wait for a server connection (s). Defaults to 120. */
  queryWaitTimeout?: number;
  /** Seconds before retrying a failed server login. Defaults to pgBouncer's own (15). */
  serverLoginRetry?: number;
}

/** The binary: $FLOE_PGBOUNCER, else `pgbouncer` on PATH or in /usr/sbin. */
export function pgbouncerBinary(): string {
  if (process.env.FLOE_PGBOUNCER) return process.env.FLOE_PGBOUNCER;
  for (const p of ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"]) if (existsSync(p)) return p;
  try {
    return execFileSync("sh", ["-c", "command -v pgbouncer"]).toString().trim();
  } catch {
    throw new Error("pgbouncer is not installed: apt-get install pgbouncer (or set FLOE_PGBOUNCER to its path)");
  }
}

/** The pgbouncer.ini of a local pgBouncer (pure, for tests). */
export function localIni(spec: PgBouncerSpec): string {
  return renderIni({
    databases: spec.databases,
    listenAddr: spec.host ?? "127.0.0.1",
    listenPort: spec.port,
    dir: spec.dir,
    authFile: join(spec.dir, "userlist.txt"),
    adminUsers: spec.adminUsers,
    poolMode: spec.poolMode,
    maxClientConnections: spec.maxClientConnections,
    defaultPoolSize: spec.defaultPoolSize,
    queryWaitTimeout: spec.queryWaitTimeout,
    serverLoginRetry: spec.serverLoginRetry,
  });
}

export function localUserlist(spec: PgBouncerSpec): string {
  return renderUserlist(spec.users);
}

/** Writes pgbouncer.ini and userlist.txt (0600, owned by the server user). */
export function writeConfig(spec: PgBouncerSpec): string {
  mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
  handOver(spec.dir);
  const ini = join(spec.dir, "pgbouncer.ini");
  const users = join(spec.dir, "userlist.txt");
  writeFileSync(ini, localIni(spec), { mode: 0o600 });
  writeFileSync(users, localUserlist(spec), { mode: 0o600 });
  handOver(ini);
  handOver(users);
  return ini;
}

/** The pgbouncer pid when it runs, else null. */
export function runningPid(dir: string): number | null {
  const f = join(dir, "pgbouncer.pid");
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
}

export function logTail(dir: string, lines = 30): string {
  const f = join(dir, "pgbouncer.log");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").slice(-lines).join("\n") : "";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes the config and starts pgBouncer (daemonized); resolves once it accepts connections. */
export async function startPgBouncer(spec: PgBouncerSpec, timeoutMs = 15_000): Promise<number> {
  const running = runningPid(spec.dir);
  if (running) return running;
  const ini = writeConfig(spec);
  rmSync(join(spec.dir, "pgbouncer.pid"), { force: true });
  await runAsServer(pgbouncerBinary(), ["-d", ini], { cwd: spec.dir });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = runningPid(spec.dir);
    if (pid && (await accepts(spec.host ?? "127.0.0.1", spec.port))) return pid;
    if (Date.now() > deadline) {
      throw new Error(`pgbouncer did not start on port ${spec.port} within ${timeoutMs} ms:\n${logTail(spec.dir)}`);
    }
    await sleep(100);
  }
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

/** Rewrites the config and makes the running pgBouncer reload it (SIGHUP). */
export function reloadPgBouncer(spec: PgBouncerSpec): void {
  writeConfig(spec);
  const pid = runningPid(spec.dir);
  if (!pid) throw new Error(`pgbouncer in ${spec.dir} is not running: cannot reload`);
  process.kill(pid, "SIGHUP");
}

/**
 * Stops pgBouncer and waits for it to exit: SIGINT (safe shutdown: waits for server connections to
 * be released), then SIGTERM, then SIGKILL. `immediate` starts at SIGTERM (tests, benches).
 */
export async function stopPgBouncer(dir: string, timeoutMs = 10_000, immediate = false): Promise<void> {
  const pid = runningPid(dir);
  if (!pid) return;
  const signals: NodeJS.Signals[] = immediate ? ["SIGTERM", "SIGKILL"] : ["SIGINT", "SIGTERM", "SIGKILL"];
  await stopProcess(
    pid,
    signals.map((s) => [s, timeoutMs / 3]),
    "pgbouncer",
  );
  rmSync(join(dir, "pgbouncer.pid"), { force: true });
}
