/**
 * Database branches on the local target: a branch is a new database on the same running Postgres,
 * created with `CREATE DATABASE branch TEMPLATE parent`. It shares nothing with its parent after
 * creation (separate files; writes never flow back) and is marked with a database comment so that
 * list/delete only ever touch floe branches.
 *
 * The honest tradeoff: Postgres copies a template only while nobody else is connected to it
 * (SQLSTATE 55006). By default we wait (bounded) for the parent's other sessions to finish,
 * reporting who is connected; with `terminateConnections` we block new connections to the parent
 * (ALLOW_CONNECTIONS false), terminate the existing ones (this includes a CDC writer's walsender,
 * which reconnects and resumes from its slot), copy, and re-open the parent in all cases.
 * On Postgres 15+ the copy strategy can be chosen: FILE_COPY (checkpoint + copy the files; fast for
 * big databases, the default here) or WAL_LOG (writes every block to WAL; cheaper for tiny ones).
 * Copy time grows with the parent's size: production-size branches belong to the kubernetes (CNPG
 * from a VolumeSnapshot) and aws (Aurora copy-on-write clone) targets.
 */
import { Client } from "pg";
import { createLogger } from "../core/log";

const log = createLogger({ component: "schema-branch" });
const MARK = "floe-branch ";
const NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export interface BranchInfo {
  name: string;
  parent: string;
  created: string;
  /** Connection URL of the branch database. */
  url: string;
  sizeBytes?: number;
}

export interface CreateBranchOptions {
  /** Branch database name. Defaults to `<parent>_br_<random>`. */
  name?: string;
  /** Terminate the parent's other sessions instead of waiting for them. Defaults to false. */
  terminateConnections?: boolean;
  /** How long to wait for the parent to be free of other sessions. Defaults to 30 s. */
  timeoutMs?: number;
  /** CREATE DATABASE copy strategy on Postgres 15+. Defaults to "file_copy". */
  strategy?: "file_copy" | "wal_log";
}

export interface CreatedBranch extends BranchInfo {
  elapsedMs: number;
  strategy: string;
  /** Sessions terminated on the parent (terminateConnections only). */
  terminated: number;
}

export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(database);
  return u.toString();
}

export function databaseOf(url: string): string {
  const db = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  if (!db) throw new Error(`the URL ${redact(url)} names no database: add /DBNAME to it`);
  return db;
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** A session on the server's maintenance database (never the parent: that would block the copy). */
async function maintenance(url: string, avoid?: string): Promise<Client> {
  const db = avoid === "postgres" ? "template1" : "postgres";
  const c = new Client({ connectionString: databaseUrl(url, db) });
  await c.connect();
  return c;
}

export function validateBranchName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`branch name "${name}" is invalid: use 1-63 lower-case letters, digits and _ (starting with a letter or _)`);
}

async function otherSessions(c: Client, db: string): Promise<{ pid: number; application_name: string; backend_type: string; state: string }[]> {
  const r = await c.query(
    "SELECT pid, application_name, backend_type, coalesce(state, '') AS state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [db],
  );
  return r.rows;
}

export async function createBranch(parentUrl: string, opts: CreateBranchOptions = {}): Promise<CreatedBranch> {
  const parent = databaseOf(parentUrl);
  const name = opts.name ?? `${parent.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 40)}_br_${Math.random().toString(36).slice(2, 10)}`;
  validateBranchName(name);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const c = await maintenance(parentUrl, parent);
  const started = Date.now();
  let terminated = 0;
  let reopened = true;
  try {
    const ver = Number((await c.query("SHOW server_version_num")).rows[0].server_version_num);
    const exists = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [parent]);
    if (!exists.rowCount) throw new Error(`parent database "${parent}" does not exist on ${redact(parentUrl)}`);
    const strategy = ver >= 150000 ? (opts.strategy ?? "file_copy") : "default";
    const sql = `CREATE DATABASE ${ident(name)} TEMPLATE ${ident(parent)}${ver >= 150000 ? ` STRATEGY ${strategy.toUpperCase()}` : ""}`;
    if (opts.terminateConnections) {
      reopened = false;
      await c.query(`ALTER DATABASE ${ident(parent)} ALLOW_CONNECTIONS false`);
    }
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const others = await otherSessions(c, parent);
      if (others.length && opts.terminateConnections) {
        const r = await c.query("SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) t", [parent]);
        terminated += r.rows[0].n;
        log.warn("terminated sessions on the branch parent", { parent, sessions: others.map((o) => `${o.pid}:${o.backend_type}:${o.application_name}`) });
      }
      if (!others.length || opts.terminateConnections) {
        try {
          await c.query(sql);
          break;
        } catch (e) {
          if ((e as any).code !== "55006") throw e; // object_in_use: someone connected in between
        }
      }
      if (Date.now() > deadline) {
        const who = (await otherSessions(c, parent)).map((o) => `pid ${o.pid} (${o.backend_type}${o.application_name ? `, ${o.application_name}` : ""}, ${o.state || "idle"})`);
        throw new Error(
          `cannot branch "${parent}": ${who.length} other session(s) stay connected to it after ${timeoutMs} ms: ${who.join("; ")}. ` +
            `Postgres copies a template database only while nobody is connected: close them, or pass terminateConnections (--terminate-connections).`,
        );
      }
      log.info("waiting for the branch parent to have no other sessions", { parent, attempt, sessions: others.length });
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * attempt)));
    }
    const created = new Date().toISOString();
    await c.query(`COMMENT ON DATABASE ${ident(name)} IS ${literal(MARK + JSON.stringify({ parent, created }))}`);
    const elapsedMs = Date.now() - started;
    log.info("branch created", { parent, branch: name, elapsedMs, strategy });
    return { name, parent, created, url: databaseUrl(parentUrl, name), elapsedMs, strategy, terminated };
  } finally {
    if (!reopened) await c.query(`ALTER DATABASE ${ident(parent)} ALLOW_CONNECTIONS true`).catch((e) => log.error("could not re-open the parent database", { parent, error: e }));
    await c.end();
  }
}

export async function listBranches(serverUrl: string): Promise<BranchInfo[]> {
  const c = await maintenance(serverUrl);
  try {
    const r = await c.query(
      `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment, pg_database_size(d.oid)::bigint AS size
         FROM pg_database d WHERE shobj_description(d.oid, 'pg_database') LIKE $1 ORDER BY d.datname`,
      [MARK + "%"],
    );
    return r.rows.map((row) => {
      const meta = JSON.parse(String(row.comment).slice(MARK.length));
      return { name: row.datname, parent: meta.parent, created: meta.created, url: databaseUrl(serverUrl, row.datname), sizeBytes: Number(row.size) };
    });
  } finally {
    await c.end();
  }
}

/** Drops a branch (terminating its sessions). Refuses to drop a database that is not a floe branch. */
export async function deleteBranch(serverUrl: string, name: string): Promise<void> {
  validateBranchName(name);
  const c = await maintenance(serverUrl, name);
  try {
    const r = await c.query("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [name]);
    if (!r.rowCount) throw new Error(`branch "${name}" does not exist on ${redact(serverUrl)}`);
    if (!String(r.rows[0].comment ?? "").startsWith(MARK)) throw new Error(`database "${name}" is not a floe branch (no "${MARK.trim()}" comment): refusing to drop it`);
    const ver = Number((await c.query("SHOW server_version_num")).rows[0].server_version_num);
    // A logical slot left on the branch (a check that crashed mid-way) would block the drop.
    const slots = await c.query("SELECT slot_name FROM pg_replication_slots WHERE database = $1 AND NOT active", [name]);
    for (const s of slots.rows) await c.query("SELECT pg_drop_replication_slot($1)", [s.slot_name]);
    if (ver >= 130000) await c.query(`DROP DATABASE ${ident(name)} WITH (FORCE)`);
    else {
      await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
      await c.query(`DROP DATABASE ${ident(name)}`);
    }
    log.info("branch deleted", { branch: name });
  } finally {
    await c.end();
  }
}
