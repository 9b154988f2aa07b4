/**
 * Owners, privileges and default privileges of blue's schemas, tables, sequences and types,
 * carried to green.
 *
 * The upgrade's schema copy (plan.ts schemaDdl) runs as a superuser, so on green every object it
 * creates belongs to that superuser. Applications that log in as their own role would get
 * "permission denied" on green right after the cutover, and tables they create later would miss
 * the grants `ALTER DEFAULT PRIVILEGES` gives on blue. The orchestrator runs this before each
 * cutover; it only adds (owner changes, GRANTs, default privileges), it never revokes, and it skips
 * roles green does not have (logins are not copied: create them on green first).
 */
import { Client } from "pg";
import { pgConfig } from "../core/postgres-tls";

/** One ALTER DEFAULT PRIVILEGES entry of blue (pg_default_acl). */
export interface DefaultPrivilege {
  /** the role whose future objects it covers */
  owner: string;
  /** quoted schema, or null for every schema */
  schema: string | null;
  /** "TABLES", "SEQUENCES", "FUNCTIONS", "TYPES" or "SCHEMAS" */
  on: string;
  grantee: string;
  privilege: string;
  grantable: boolean;
}

export interface OwnershipObject {
  /** "schema", "table", "sequence", "view", "materialized view" or "type" */
  kind: string;
  /** qualified, quoted name (regclass / regtype / quoted schema) */
  name: string;
  owner: string;
  /** GRANTs (grantee "PUBLIC" for everyone) */
  grants: { grantee: string; privilege: string; grantable: boolean }[];
}

const qi = (s: string) => '"' + s.replace(/"/g, '""') + '"';

/** Statements that give green's objects blue's owners and grants (pure, for tests). */
export function ownershipStatements(
  objects: OwnershipObject[],
  greenRoles: Set<string>,
  present: Set<string>,
  defaults: DefaultPrivilege[] = [],
): { sql: string[]; skipped: string[] } {
  const sql: string[] = [];
  const skipped: string[] = [];
  for (const d of defaults) {
    const missing = [d.owner, d.grantee].filter((r) => r !== "PUBLIC" && !greenRoles.has(r));
    if (missing.length) {
      skipped.push(`default privilege ${d.privilege} on ${d.on.toLowerCase()} of ${d.owner}: green has no role ${missing.join(", ")}`);
      continue;
    }
    sql.push(
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${qi(d.owner)}${d.schema ? ` IN SCHEMA ${d.schema}` : ""} GRANT ${d.privilege} ON ${d.on} TO ${d.grantee === "PUBLIC" ? "PUBLIC" : qi(d.grantee)}${d.grantable ? " WITH GRANT OPTION" : ""}`,
    );
  }
  const alter: Record<string, string> = {
    schema: "SCHEMA",
    table: "TABLE",
    sequence: "SEQUENCE",
    view: "VIEW",
    "materialized view": "MATERIALIZED VIEW",
    type: "TYPE",
  };
  const on: Record<string, string> = { schema: "SCHEMA", table: "TABLE", sequence: "SEQUENCE", view: "TABLE", "materialized view": "TABLE", type: "TYPE" };
  for (const o of objects) {
    if (!present.has(`${o.kind}:${o.name}`)) continue;
    if (!greenRoles.has(o.owner)) {
      skipped.push(`${o.kind} ${o.name}: green has no role ${o.owner}`);
      continue;
    }
    sql.push(`ALTER ${alter[o.kind]} ${o.name} OWNER TO ${qi(o.owner)}`);
    for (const g of o.grants) {
      if (g.grantee !== "PUBLIC" && !greenRoles.has(g.grantee)) {
        skipped.push(`${o.kind} ${o.name}: ${g.privilege} for ${g.grantee}, a role green does not have`);
        continue;
      }
      sql.push(
        `GRANT ${g.privilege} ON ${on[o.kind]} ${o.name} TO ${g.grantee === "PUBLIC" ? "PUBLIC" : qi(g.grantee)}${g.grantable ? " WITH GRANT OPTION" : ""}`,
      );
    }
  }
  return { sql, skipped };
}

const USER_NS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;

async function objects(c: Client): Promise<OwnershipObject[]> {
  const acl = (col: string) =>
    `COALESCE((SELECT json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, 'privilege', a.privilege_type, 'grantable', a.is_grantable))
                FROM aclexplode(${col}) a WHERE a.grantee <> a.grantor), '[]'::json)`;
  const rows = (
    await c.query(`
      SELECT 'schema' AS kind, quote_ident(n.nspname) AS name, pg_get_userbyid(n.nspowner) AS owner, ${acl("n.nspacl")} AS grants
        FROM pg_namespace n WHERE ${USER_NS}
      UNION ALL
      SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END,
             c.oid::regclass::text, pg_get_userbyid(c.relowner), ${acl("c.relacl")}
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'S', 'v', 'm') AND ${USER_NS}
         -- identity and serial sequences follow their table's owner
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
      UNION ALL
      SELECT 'type', t.oid::regtype::text, pg_get_userbyid(t.typowner), ${acl("t.typacl")}
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') AND ${USER_NS}`)
  ).rows;
  return rows.map((r) => ({ kind: r.kind, name: r.name, owner: r.owner, grants: r.grants }));
}

async function defaultPrivileges(c: Client): Promise<DefaultPrivilege[]> {
  const on: Record<string, string> = { r: "TABLES", S: "SEQUENCES", f: "FUNCTIONS", T: "TYPES", n: "SCHEMAS" };
  const rows = (
    await c.query(`
      SELECT pg_get_userbyid(d.defaclrole) AS owner, CASE WHEN d.defaclnamespace = 0 THEN NULL ELSE quote_ident(n.nspname) END AS schema,
             d.defaclobjtype AS objtype, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
             a.privilege_type AS privilege, a.is_grantable AS grantable
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
       WHERE a.grantee <> d.defaclrole`)
  ).rows;
  return rows
    .filter((r) => on[r.objtype])
    .map((r) => ({ owner: r.owner, schema: r.schema, on: on[r.objtype], grantee: r.grantee, privilege: r.privilege, grantable: r.grantable }));
}

async function presentOn(c: Client, objs: OwnershipObject[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const o of objs) {
    const q =
      o.kind === "schema"
        ? `SELECT 1 FROM pg_namespace WHERE quote_ident(nspname) = $1`
        : o.kind === "type"
          ? `SELECT 1 FROM pg_type WHERE to_regtype($1) = oid`
          : `SELECT 1 FROM pg_class WHERE to_regclass($1) = oid`;
    if ((await c.query(q, [o.name])).rowCount) out.add(`${o.kind}:${o.name}`);
  }
  return out;
}

/** Give green's objects blue's owners and grants; returns what it did and what it skipped. */
/**
 * Give green's objects blue's owners, grants and default privileges; returns what it changed and
 * what it skipped. Only what green lacks is run, one statement at a time: each ALTER takes a
 * table lock, and the forward subscription's apply worker is writing to those tables (a deadlock
 * or a lock wait past 2 s is retried).
 */
export async function copyOwnership(blueUrl: string, greenUrl: string): Promise<{ statements: number; skipped: string[] }> {
  const blue = new Client(pgConfig(blueUrl, {}, "blue"));
  const green = new Client(pgConfig(greenUrl, {}, "green"));
  await blue.connect();
  try {
    await green.connect();
    try {
      const objs = await objects(blue);
      const roles = new Set<string>((await green.query("SELECT rolname FROM pg_roles")).rows.map((r) => r.rolname));
      const { sql, skipped } = ownershipStatements(objs, roles, await presentOn(green, objs), await defaultPrivileges(blue));
      const mine = await objects(green);
      const have = new Set(ownershipStatements(mine, roles, new Set(mine.map((o) => `${o.kind}:${o.name}`)), await defaultPrivileges(green)).sql);
      const todo = sql.filter((q) => !have.has(q));
      await green.query("SET lock_timeout = '2s'");
      for (const q of todo) {
        for (let attempt = 1; ; attempt++) {
          try {
            await green.query(q);
            break;
          } catch (e) {
            const code = (e as { code?: string }).code;
            if ((code === "40P01" || code === "55P03") && attempt < 10) {
              await new Promise((r) => setTimeout(r, 50 * attempt));
              continue;
            }
            throw new Error(`giving green blue's owners and privileges failed at "${q}": ${(e as Error).message}`);
          }
        }
      }
      return { statements: todo.length, skipped };
    } finally {
      await green.end().catch(() => undefined);
    }
  } finally {
    await blue.end().catch(() => undefined);
  }
}
