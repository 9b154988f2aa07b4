/**
 * Template branches (strategies "file_copy" and "wal_log"): a branch is a new database on the same
 * running Postgres, created with `CREATE DATABASE branch TEMPLATE parent`. Fast for small, idle
 * databases; the default strategy is "instance" (branch-instance.ts), which never touches the
 * parent's sessions. It shares nothing with its parent after
 * creation (separate files; writes never flow back) and is marked with a database comment so that
 * list/delete only ever touch floe branches.
 *
 * The honest tradeoff: Postgres copies a template only while nobody else is connected to it
 * (SQLSTATE 55006). By default we wait (bounded) for the parent's other sessions to finish,
 * reporting who is connected; with `terminateConnections` we block new connections to the parent
 * (ALLOW_CONNECTIONS false), terminate the existing ones (this includes a CDC writer's walsender,
 * which reconnects and resumes from its slot), copy, and re-open the parent.
 * On Postgres 15+ the copy strategy can be chosen: FILE_COPY (checkpoint + copy the files; fast for
 * big databases, the default here) or WAL_LOG (writes every block to WAL; cheaper for tiny ones).
 * Copy time grows with the parent's size: production-size branches belong to the kubernetes (CNPG
 * from a VolumeSnapshot) and aws (Aurora copy-on-write clone) targets.
 *
 * Never leaving the parent closed, whatever stops a create:
 *   - an error, or an abort (`signal`: the CLI aborts on SIGINT/SIGTERM) cancels the running
 *     statement (pg_cancel_backend from a second session: Postgres removes a half-copied
 *     database), drops a branch this run made but did not finish, and re-opens the parent;
 *   - before it closes anything, create records a marker on the parent (branch-marker.ts: a
 *     per-database setting, or a line of the parent's comment for a non-superuser owner) holding
 *     the branch name, the parent's original datallowconn and the creating session (pid +
 *     backend_start). If the process dies where nothing can run (kill -9, a lost machine), the
 *     next create, list or delete finds the marker of a session that is gone, re-opens the parent
 *     when the marker says it was open, marks a branch database made after the marker (its
 *     pg_database xmin is newer) as an interrupted floe branch so that delete can drop it, and
 *     removes the marker;
 *   - the creating session sets client_connection_check_interval (Postgres 14+) and TCP
 *     keepalives, so that a CREATE DATABASE whose client died is cancelled by the server instead of
 *     running on (and holding the marker "in progress") until it finishes.
 */
import { Client } from "pg";
import { createLogger } from "../core/log";
import { ident, literal, Marker, MARK, readMarkers, removeMarker, repairInterrupted, Store, writeMarker } from "./branch-marker";
import {
  BranchInfo,
  BranchInterrupted,
  cancelBackend,
  CreatedBranch,
  databaseOf,
  databaseUrl,
  defaultBranchName,
  maintenance,
  redact,
  sleep,
  validateBranchName,
} from "./branch-common";

export { repairInterrupted };
const log = createLogger({ component: "schema-branch" });

export interface TemplateBranchOptions {
  name?: string;
  /** Terminate the parent's other sessions instead of waiting for them. Defaults to false. */
  terminateConnections?: boolean;
  /** How long to wait for the parent to be free of other sessions. Defaults to 30 s. */
  timeoutMs?: number;
  /** CREATE DATABASE copy strategy on Postgres 15+. Defaults to "file_copy". */
  strategy?: "file_copy" | "wal_log";
  signal?: AbortSignal;
}

async function otherSessions(c: Client, db: string): Promise<{ pid: number; application_name: string; backend_type: string; state: string }[]> {
  const r = await c.query(
    "SELECT pid, application_name, backend_type, coalesce(state, '') AS state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [db],
  );
  return r.rows;
}

/** Runs a statement on `c`; when `signal` aborts meanwhile, cancels it from a second session. */
async function cancellable(c: Client, pid: number, url: string, avoid: string, sql: string, signal?: AbortSignal): Promise<void> {
  const cancel = () => void cancelBackend(url, pid, avoid);
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    await c.query(sql);
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

export async function createTemplateBranch(parentUrl: string, opts: TemplateBranchOptions = {}): Promise<CreatedBranch> {
  const parent = databaseOf(parentUrl);
  const name = opts.name ?? defaultBranchName(parent);
  validateBranchName(name);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const signal = opts.signal;
  const c = await maintenance(parentUrl, parent);
  const started = Date.now();
  let terminated = 0;
  let stage = "waiting";
  let marker: Marker | undefined;
  let store: Store | undefined;
  let created = false;
  let finished = false;
  let ver = 0;
  const stopped = () => {
    if (!signal?.aborted) return;
    throw new BranchInterrupted(`interrupted (${String(signal.reason?.message ?? signal.reason ?? "aborted")}) while ${stage}`, stage);
  };
  try {
    await repairInterrupted(c);
    ver = Number((await c.query("SHOW server_version_num")).rows[0].server_version_num);
    // A CREATE DATABASE whose client died is cancelled by the server (Linux, 14+), not run to the end.
    if (ver >= 140000) await c.query("SET client_connection_check_interval = '1s'");
    await c.query("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3");
    const exists = await c.query("SELECT datallowconn FROM pg_database WHERE datname = $1", [parent]);
    if (!exists.rowCount) throw new Error(`parent database "${parent}" does not exist on ${redact(parentUrl)}`);
    if ((await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount)
      throw new Error(`a database named "${name}" already exists on ${redact(parentUrl)}: choose another branch name`);
    const live = (await readMarkers(c)).filter((m) => m.parent === parent && m.closes && m.alive);
    const me = (
      await c.query(
        "SELECT pg_backend_pid() AS pid, backend_start::text AS start, txid_current()::text AS xid FROM pg_stat_activity WHERE pid = pg_backend_pid()",
      )
    ).rows[0];
    marker = {
      branch: name,
      parent,
      // Another create closing the parent right now knows the real original; so do we, through its marker.
      allowConnections: exists.rows[0].datallowconn || live.some((m) => m.allowConnections),
      closes: !!opts.terminateConnections,
      pid: me.pid,
      backendStart: me.start,
      xid: me.xid,
      started: new Date().toISOString(),
    };
    stopped();
    store = await writeMarker(c, marker);
    const strategy = ver >= 150000 ? (opts.strategy ?? "file_copy") : "default";
    const sql = `CREATE DATABASE ${ident(name)} TEMPLATE ${ident(parent)}${ver >= 150000 ? ` STRATEGY ${strategy.toUpperCase()}` : ""}`;
    if (opts.terminateConnections) await c.query(`ALTER DATABASE ${ident(parent)} ALLOW_CONNECTIONS false`);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      stopped();
      const others = await otherSessions(c, parent);
      if (others.length && opts.terminateConnections) {
        const r = await c.query(
          "SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) t",
          [parent],
        );
        terminated += r.rows[0].n;
        log.warn("terminated sessions on the branch parent", { parent, sessions: others.map((o) => `${o.pid}:${o.backend_type}:${o.application_name}`) });
      }
      if (!others.length || opts.terminateConnections) {
        stage = "copying";
        try {
          await cancellable(c, marker.pid, parentUrl, parent, sql, signal);
          created = true;
          break;
        } catch (e) {
          stopped();
          if ((e as { code?: string }).code !== "55006") throw e; // object_in_use: someone connected in between
        } finally {
          stage = created ? "finishing" : "waiting";
        }
      }
      if (Date.now() > deadline) {
        const who = (await otherSessions(c, parent)).map(
          (o) => `pid ${o.pid} (${o.backend_type}${o.application_name ? `, ${o.application_name}` : ""}, ${o.state || "idle"})`,
        );
        throw new Error(
          `cannot branch "${parent}": ${who.length} other session(s) stay connected to it after ${timeoutMs} ms: ${who.join("; ")}. ` +
            `Postgres copies a template database only while nobody is connected: close them, or pass terminateConnections (--terminate-connections).`,
        );
      }
      log.info("waiting for the branch parent to have no other sessions", { parent, attempt, sessions: others.length });
      await sleep(Math.min(1000, 50 * attempt), signal).catch(() => stopped());
    }
    stopped();
    const createdAt = new Date().toISOString();
    await c.query(`COMMENT ON DATABASE ${ident(name)} IS ${literal(MARK + JSON.stringify({ parent, created: createdAt }))}`);
    stopped();
    finished = true;
    const elapsedMs = Date.now() - started;
    log.info("branch created", { parent, branch: name, elapsedMs, strategy });
    return { name, parent, created: createdAt, url: databaseUrl(parentUrl, name), kind: "template", elapsedMs, strategy, terminated };
  } finally {
    if (marker && store) await cleanUp(c, ver, marker, store, created && !finished);
    await c.end().catch(() => undefined);
  }
}

/**
 * After a create, whatever happened: drop the branch it made but did not finish, re-open the parent
 * it closed, then remove its marker. The marker stays when a step fails, so the next floe branch
 * command repairs it.
 */
async function cleanUp(c: Client, ver: number, marker: Marker, store: Store, dropHalfMade: boolean): Promise<void> {
  const { parent, branch: name } = marker;
  let clean = true;
  if (dropHalfMade) {
    await c.query(`DROP DATABASE IF EXISTS ${ident(name)}${ver >= 130000 ? " WITH (FORCE)" : ""}`).then(
      () => log.warn("dropped the branch of an interrupted create", { parent, branch: name }),
      (e) => {
        clean = false;
        log.error("could not drop the branch of an interrupted create", { parent, branch: name, error: e });
      },
    );
  }
  if (marker.closes && marker.allowConnections) {
    // Another create closing the same parent right now re-opens it when it ends.
    const others = await readMarkers(c).then(
      (ms) => ms.some((m) => m.alive && m.closes && m.parent === parent && m.branch !== name),
      () => false,
    );
    if (!others)
      await c.query(`ALTER DATABASE ${ident(parent)} ALLOW_CONNECTIONS true`).catch((e) => {
        clean = false;
        log.error("could not re-open the parent database: the next floe branch command will", { parent, error: e });
      });
  }
  if (clean)
    await removeMarker(c, { parent, branch: name, store }).catch((e) =>
      log.error("could not remove the branch marker: the next floe branch command will", { parent, error: e }),
    );
}

export async function listTemplateBranches(serverUrl: string): Promise<BranchInfo[]> {
  const c = await maintenance(serverUrl);
  try {
    await repairInterrupted(c);
    const r = await c.query(
      `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment, pg_database_size(d.oid)::bigint AS size
         FROM pg_database d WHERE shobj_description(d.oid, 'pg_database') LIKE $1 ORDER BY d.datname`,
      [MARK + "%"],
    );
    return r.rows.map((row) => {
      // The first line: a branch that is itself being branched carries a pending marker line below it.
      const meta = JSON.parse(String(row.comment).split("\n")[0].slice(MARK.length));
      return {
        name: row.datname,
        parent: meta.parent,
        created: meta.created,
        url: databaseUrl(serverUrl, row.datname),
        kind: "template" as const,
        sizeBytes: Number(row.size),
        ...(meta.interrupted ? { interrupted: true } : {}),
      };
    });
  } finally {
    await c.end();
  }
}

/** Drops a branch (terminating its sessions). Refuses to drop a database that is not a floe branch. */
export async function deleteTemplateBranch(serverUrl: string, name: string): Promise<void> {
  validateBranchName(name);
  const c = await maintenance(serverUrl, name);
  try {
    await repairInterrupted(c);
    const creating = (await readMarkers(c)).find((m) => m.branch === name && m.alive);
    if (creating)
      throw new Error(
        `branch "${name}" is being created right now (session pid ${creating.pid} since ${creating.started}): wait for that floe branch create to end, or stop it`,
      );
    const r = await c.query("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [name]);
    if (!r.rowCount) throw new Error(`branch "${name}" does not exist on ${redact(serverUrl)}`);
    if (!String(r.rows[0].comment ?? "").startsWith(MARK))
      throw new Error(`database "${name}" is not a floe branch (no "${MARK.trim()}" comment): refusing to drop it`);
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
