/** What both branch strategies share: names, URLs, the result types, interruption, cancelling a statement. */
import { Client } from "pg";
import { createLogger } from "../core/log";

const log = createLogger({ component: "schema-branch" });
const NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * How a branch is made:
 *   - "instance" (the default): a new Postgres server from a physical copy of the running parent
 *     server (low-level backup API + file clone or copy + WAL replay), never touching the parent's
 *     sessions; optionally as of a past LSN or time (from the WAL archive);
 *   - "file_copy" / "wal_log": a new database on the parent's server, CREATE DATABASE … TEMPLATE
 *     with that copy strategy; Postgres needs the parent free of other sessions while it copies.
 */
export type BranchStrategy = "instance" | "file_copy" | "wal_log";
export const STRATEGIES: BranchStrategy[] = ["instance", "file_copy", "wal_log"];

export interface BranchInfo {
  name: string;
  parent: string;
  created: string;
  /** Connection URL of the branch database. */
  url: string;
  /** "instance" (its own server) or "template" (a database on the parent's server). */
  kind: "instance" | "template";
  sizeBytes?: number;
  /** Made by a create that was interrupted before it finished (found and marked by a later command): delete it. */
  interrupted?: boolean;
  /** Instance branches: the LSN of the parent's WAL the branch holds everything before (its timeline's switchpoint). */
  lsn?: string;
  /** Instance branches made as of a past LSN or time: that target, as given. */
  asOf?: string;
  /** Instance branches: whether its server runs. */
  running?: boolean;
  /** Instance branches: how the files were made, "clone" (reflinks) or "copy". */
  method?: "clone" | "copy";
  /** Instance branches: the branch server's data directory. */
  dataDir?: string;
}

export interface CreateBranchOptions {
  /** Branch name (database name for template branches, directory name for instance branches). Defaults to `<parent>_br_<random>`. */
  name?: string;
  /** How the branch is made. Defaults to "instance" (never touches the parent's sessions), or "file_copy" when terminateConnections or timeoutMs is set (template options). */
  strategy?: BranchStrategy;
  /** Instance branches: "auto" clones files where the filesystem can (reflinks), else copies them. Defaults to "auto". */
  copy?: "auto" | "clone" | "copy";
  /** Instance branches: as of this LSN ("0/3000060": the WAL before it) or time (commits at or before it); needs WAL archiving and a base backup. Defaults to now. */
  at?: string;
  /** Instance branches: TCP port of the branch server. Defaults to a free port. */
  port?: number;
  /** Template branches: terminate the parent's other sessions instead of waiting for them. Defaults to false. */
  terminateConnections?: boolean;
  /** Template branches: how long to wait for the parent to be free of other sessions. Defaults to 30 s. */
  timeoutMs?: number;
  /** Stops the create: whatever it made is removed (template: the parent re-opened); rejects with BranchInterrupted. */
  signal?: AbortSignal;
}

export interface CreatedBranch extends BranchInfo {
  elapsedMs: number;
  strategy: string;
  /** Sessions terminated on the parent (template branches with terminateConnections only). */
  terminated: number;
}

export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(database);
  return u.toString();
}

/** The same URL on another port of this machine (an instance branch's server). */
export function serverUrl(url: string, port: number, host = "127.0.0.1"): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
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

export function validateBranchName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`branch name "${name}" is invalid: use 1-63 lower-case letters, digits and _ (starting with a letter or _)`);
}

export function defaultBranchName(parent: string): string {
  return `${parent
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_")
    .slice(0, 40)}_br_${Math.random().toString(36).slice(2, 10)}`;
}

/** A session on the server's maintenance database (never `avoid`: a template copy needs its parent free). */
export async function maintenance(url: string, avoid?: string): Promise<Client> {
  const db = avoid === "postgres" ? "template1" : "postgres";
  const c = new Client({ connectionString: databaseUrl(url, db) });
  await c.connect();
  return c;
}

/** A create that was stopped by its AbortSignal (the CLI: SIGINT / SIGTERM). */
export class BranchInterrupted extends Error {
  constructor(
    message: string,
    /** What was going on when it was stopped: "waiting", "copying" or "finishing" (create); "checking" (schema check). */
    readonly during: string,
  ) {
    super(message);
    this.name = "BranchInterrupted";
  }
}

/** Sleeps, waking early (and throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Cancels the statement a session runs, from a session on the server's maintenance database (not `avoid`). Never throws. */
export async function cancelBackend(url: string, pid: number, avoid?: string): Promise<void> {
  try {
    const k = await maintenance(url, avoid);
    try {
      await k.query("SELECT pg_cancel_backend($1)", [pid]);
    } finally {
      await k.end();
    }
  } catch (e) {
    log.error("could not cancel the running statement", { pid, error: e });
  }
}
