/**
 * pgBouncer from the OS package (`apt-get install pgbouncer`), run as the unprivileged server user
 * when we are root (it refuses root). Used by the local target (components/local) and by anything
 * that needs to drive a local pooler: start / stop / reload, and the admin console (PAUSE, RESUME,
 * RELOAD, SHOW ...).
 *
 * Everything lives in one directory: pgbouncer.ini, userlist.txt, pgbouncer.pid, pgbouncer.log.
 * The process daemonizes (-d), so it outlives whoever started it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { handOver, runAsServer } from "./process";

export interface PgBouncerDatabase {
  /** Name clients connect to. */
  name: string;
  host: string;
  port: number;
  /** Database on the server. Defaults to `name`. */
  dbname?: string;
}

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

const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** The pgbouncer.ini text (pure, for tests). */
export function renderIni(spec: PgBouncerSpec): string {
  const dbs = spec.databases.map((d) => `${d.name} = host=${d.host} port=${d.port} dbname=${d.dbname ?? d.name}`);
  return [
    "[databases]",
    ...dbs,
    "",
    "[pgbouncer]",
    `listen_addr = ${spec.host ?? "127.0.0.1"}`,
    `listen_port = ${spec.port}`,
    `unix_socket_dir = ${spec.dir}`,
    `auth_type = scram-sha-256`,
    `auth_file = ${join(spec.dir, "userlist.txt")}`,
    `admin_users = ${spec.adminUsers.join(",")}`,
    `stats_users = ${spec.adminUsers.join(",")}`,
    `pool_mode = ${spec.poolMode ?? "transaction"}`,
    `max_client_conn = ${spec.maxClientConnections ?? 1000}`,
    `default_pool_size = ${spec.defaultPoolSize ?? 20}`,
    `query_wait_timeout = ${spec.queryWaitTimeout ?? 120}`,
    ...(spec.serverLoginRetry !== undefined ? [`server_login_retry = ${spec.serverLoginRetry}`] : []),
    `pidfile = ${join(spec.dir, "pgbouncer.pid")}`,
    `logfile = ${join(spec.dir, "pgbouncer.log")}`,
    // Tools (psql, drivers) send these startup parameters; accept them instead of failing.
    "ignore_startup_parameters = extra_float_digits,options,search_path",
    "",
  ].join("\n");
}

export function renderUserlist(spec: PgBouncerSpec): string {
  return spec.users.map((u) => `${quote(u.name)} ${quote(u.password)}`).join("\n") + "\n";
}

/** Writes pgbouncer.ini and userlist.txt (0600, owned by the server user). */
export function writeConfig(spec: PgBouncerSpec): string {
  mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
  handOver(spec.dir);
  const ini = join(spec.dir, "pgbouncer.ini");
  const users = join(spec.dir, "userlist.txt");
  writeFileSync(ini, renderIni(spec), { mode: 0o600 });
  writeFileSync(users, renderUserlist(spec), { mode: 0o600 });
  handOver(ini);
  handOver(users);
  return ini;
}

/** The pgbouncer pid when it runs, else null. */
export function runningPid(dir: string): number | null {
  const f = join(dir, "pgbouncer.pid");
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
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
    const s = require("node:net").connect({ host, port });
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
  const deadline = Date.now() + timeoutMs;
  const signals: NodeJS.Signals[] = immediate ? ["SIGTERM", "SIGKILL"] : ["SIGINT", "SIGTERM", "SIGKILL"];
  let step = 0;
  process.kill(pid, signals[step]);
  let nextSignal = Date.now() + timeoutMs / 3;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`pgbouncer (pid ${pid}) did not stop within ${timeoutMs} ms`);
    if (Date.now() > nextSignal && step < signals.length - 1) {
      process.kill(pid, signals[++step]);
      nextSignal = Date.now() + timeoutMs / 3;
    }
    await sleep(50);
  }
  rmSync(join(dir, "pgbouncer.pid"), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs one admin console command (PAUSE, RESUME, RELOAD, SHOW POOLS, ...) and returns its rows.
 * The console speaks the simple query protocol only, which node-postgres uses for plain queries.
 */
export async function adminCommand(
  target: { host?: string; port: number; user: string; password: string },
  command: string,
): Promise<Record<string, unknown>[]> {
  const client = new Client({ host: target.host ?? "127.0.0.1", port: target.port, user: target.user, password: target.password, database: "pgbouncer" });
  await client.connect();
  try {
    const res = await client.query(command);
    return res.rows ?? [];
  } finally {
    await client.end();
  }
}
