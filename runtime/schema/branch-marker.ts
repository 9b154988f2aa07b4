/**
 * The in-progress markers of `floe branch create`, kept on the Postgres server so that any later
 * floe branch command, from any machine, can repair what a create killed mid-way left: a parent
 * database closed to connections, a branch database copied but not yet marked as a floe branch.
 *
 * Where a marker lives, on the parent database (never copied into the branch):
 *   - a per-database setting `floe.branch_<hash of the branch name>` (pg_db_role_setting), invisible
 *     to the parent's users; Postgres lets only superusers (or roles granted SET on it) set it;
 *   - otherwise (a database owner that is not superuser) a line `floe-branch-pending {…}` appended
 *     to the parent's database comment, removed again when the create ends, so the comment goes back
 *     to what it was. Comment edits are serialized by an advisory lock.
 */
import { createHash } from "node:crypto";
import { Client } from "pg";
import { createLogger } from "../core/log";

const log = createLogger({ component: "schema-branch" });

/** The comment prefix that makes a database a floe branch. */
export const MARK = "floe-branch ";
const SETTING_PREFIX = "floe.branch_";
const COMMENT_PREFIX = "floe-branch-pending ";
/** Serializes read-modify-write of database comments between floe sessions (pg_advisory_xact_lock key). */
const COMMENT_LOCK = 7_245_310_911;

export const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
export const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** What one create records before it closes anything. */
export interface Marker {
  branch: string;
  parent: string;
  /** The parent's datallowconn to restore (the value before any floe create closed it). */
  allowConnections: boolean;
  /** This create sets ALLOW_CONNECTIONS false on the parent. */
  closes: boolean;
  /** The creating session: alive while pg_stat_activity has this pid with this backend_start. */
  pid: number;
  backendStart: string;
  /** txid_current() when the marker was written: a branch database with a newer xmin was made by this create. */
  xid: string;
  started: string;
}

export type Store = { kind: "setting"; name: string } | { kind: "comment" };
export type Found = Marker & { store: Store; alive: boolean };

/** A setting name is at most 63 characters: the branch name (up to 63) is hashed into it. */
const settingName = (branch: string) => SETTING_PREFIX + createHash("sha256").update(branch).digest("hex").slice(0, 16);

/** Records the marker on the parent: as a setting when allowed, else as a line of the parent's comment. */
export async function writeMarker(c: Client, m: Marker): Promise<Store> {
  const name = settingName(m.branch);
  try {
    await c.query(`ALTER DATABASE ${ident(m.parent)} SET ${ident(name)} = ${literal(JSON.stringify(m))}`);
    return { kind: "setting", name };
  } catch (e) {
    if ((e as { code?: string }).code !== "42501") throw e; // insufficient_privilege: not superuser
  }
  await editComment(c, m.parent, (lines) => [...lines, COMMENT_PREFIX + JSON.stringify(m)]);
  return { kind: "comment" };
}

export async function removeMarker(c: Client, m: { parent: string; branch: string; store: Store }): Promise<void> {
  if (m.store.kind === "setting") await c.query(`ALTER DATABASE ${ident(m.parent)} RESET ${ident(m.store.name)}`);
  else await editComment(c, m.parent, (lines) => lines.filter((l) => parseLine(l)?.branch !== m.branch));
}

/** Changes a database's comment line by line, in one transaction under the floe comment lock. */
async function editComment(c: Client, db: string, edit: (lines: string[]) => string[]): Promise<void> {
  await c.query("BEGIN");
  try {
    await c.query("SELECT pg_advisory_xact_lock($1)", [COMMENT_LOCK]);
    const r = await c.query("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [db]);
    const before: string | null = r.rows[0]?.comment ?? null;
    const after = edit(before === null ? [] : before.split("\n")).join("\n");
    await c.query(`COMMENT ON DATABASE ${ident(db)} IS ${after ? literal(after) : "NULL"}`);
    await c.query("COMMIT");
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

function parseLine(line: string): Marker | undefined {
  if (!line.startsWith(COMMENT_PREFIX)) return undefined;
  try {
    return JSON.parse(line.slice(COMMENT_PREFIX.length));
  } catch {
    return undefined;
  }
}

/** Every marker on the server, with whether its creating session is still there. */
export async function readMarkers(c: Client): Promise<Found[]> {
  const found: { m: Marker; parent: string; store: Store }[] = [];
  const settings = await c.query(
    `SELECT d.datname, cfg FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) cfg
      WHERE s.setrole = 0 AND cfg LIKE $1`,
    [SETTING_PREFIX.replace(/_/g, "\\_") + "%"],
  );
  for (const row of settings.rows) {
    const cfg = String(row.cfg);
    const eq = cfg.indexOf("=");
    try {
      found.push({ m: JSON.parse(cfg.slice(eq + 1)), parent: row.datname, store: { kind: "setting", name: cfg.slice(0, eq) } });
    } catch {
      log.warn("ignoring an unreadable branch marker", { parent: row.datname, setting: cfg.slice(0, eq) });
    }
  }
  const comments = await c.query(
    `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE $1`,
    ["%" + COMMENT_PREFIX + "%"],
  );
  for (const row of comments.rows) {
    for (const line of String(row.comment).split("\n")) {
      const m = parseLine(line);
      if (m) found.push({ m, parent: row.datname, store: { kind: "comment" } });
    }
  }
  const out: Found[] = [];
  for (const { m, parent, store } of found) {
    // backend_start is NULL for other roles' sessions without pg_read_all_stats: the pid decides then.
    const alive = await c.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND (backend_start = $2::timestamptz OR backend_start IS NULL)", [
      m.pid,
      m.backendStart,
    ]);
    out.push({ ...m, parent, store, alive: (alive.rowCount ?? 0) > 0 });
  }
  return out;
}

/**
 * Repairs what interrupted creates left (their creating session is gone): re-opens a parent one
 * closed (if it was open before and no live create is closing it), marks a branch database one
 * made (created after its marker) as an interrupted floe branch, removes the marker. Every floe
 * branch command runs this first. A marker this role may not repair is logged and left.
 */
export async function repairInterrupted(c: Client): Promise<string[]> {
  const all = await readMarkers(c);
  const done: string[] = [];
  for (const m of all.filter((x) => !x.alive)) {
    try {
      const parent = await c.query("SELECT datallowconn FROM pg_database WHERE datname = $1", [m.parent]);
      const othersClosing = all.some((x) => x.alive && x.closes && x.parent === m.parent);
      if (m.closes && m.allowConnections && parent.rows[0] && !parent.rows[0].datallowconn && !othersClosing) {
        await c.query(`ALTER DATABASE ${ident(m.parent)} ALLOW_CONNECTIONS true`);
        done.push(`re-opened "${m.parent}" to connections (closed by an interrupted create of branch "${m.branch}")`);
      }
      // One statement, txid_current() first, so that age() counts from the same transaction.
      const branch = await c.query(
        `SELECT txid_current() - $2::bigint AS since, age(xmin) AS age, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
        [m.branch, m.xid],
      );
      const b = branch.rows[0];
      if (b && !String(b.comment ?? "").startsWith(MARK) && Number(b.age) <= Number(b.since)) {
        await c.query(
          `COMMENT ON DATABASE ${ident(m.branch)} IS ${literal(MARK + JSON.stringify({ parent: m.parent, created: m.started, interrupted: true }))}`,
        );
        done.push(`marked "${m.branch}" as an interrupted branch of "${m.parent}": delete it with floe branch delete`);
      }
      await removeMarker(c, m);
    } catch (e) {
      log.warn("cannot repair what an interrupted floe branch create left (a role that may alter the parent must run a floe branch command)", {
        parent: m.parent,
        branch: m.branch,
        error: e,
      });
    }
  }
  if (done.length) log.warn("repaired what an interrupted floe branch create left", { repaired: done });
  return done;
}
