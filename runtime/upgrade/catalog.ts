/**
 * Reading blue's (and green's) catalogs into the plain facts plan.ts decides on. pg_dump of the old
 * major is not available next to the new one, so the schema is described from pg_catalog directly.
 */
import type { Client } from "pg";
import type { SchemaSnapshot, ServerFacts, SequenceValue, TableInfo } from "./plan";

const USER_NS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;
const NOT_EXT = (oidExpr: string, catalog: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oidExpr} AND d.deptype = 'e')`;

export async function serverFacts(c: Client): Promise<ServerFacts> {
  const one = async (sql: string) => (await c.query(sql)).rows[0];
  const v = await one(`SELECT current_setting('server_version_num')::int / 10000 AS major, current_setting('wal_level') AS wal_level,
      current_setting('max_replication_slots')::int AS max_slots, (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
      current_setting('max_wal_senders')::int AS max_senders, (SELECT count(*) FROM pg_stat_replication)::int AS used_senders,
      (SELECT count(*) FROM pg_largeobject_metadata)::int AS large_objects,
      (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`);
  const ext = await c.query(`SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1`);
  const unsupported = await c.query(`
    SELECT 'view' AS kind, n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${USER_NS} AND ${NOT_EXT("c.oid", "pg_class")}
    UNION ALL
    SELECT 'foreign table', n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'f' AND ${USER_NS}
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END, n.nspname || '.' || p.proname
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_NS} AND ${NOT_EXT("p.oid", "pg_proc")}
    UNION ALL
    SELECT 'trigger', c.relname || '.' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND ${USER_NS}
    UNION ALL
    SELECT 'type', n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('c', 'r', 'm') AND ${USER_NS} AND ${NOT_EXT("t.oid", "pg_type")}
        AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
    ORDER BY 1, 2`);
  return {
    major: v.major,
    walLevel: v.wal_level,
    maxReplicationSlots: v.max_slots,
    usedReplicationSlots: v.used_slots,
    maxWalSenders: v.max_senders,
    usedWalSenders: v.used_senders,
    largeObjects: v.large_objects,
    superuser: !!v.superuser,
    extensions: ext.rows.map((r) => r.extname),
    unsupportedObjects: unsupported.rows.map((r) => ({ kind: r.kind, name: r.name })),
  };
}

export async function schemaSnapshot(c: Client, excludeSchemas: string[] = []): Promise<SchemaSnapshot> {
  const ex = excludeSchemas.length ? ` AND n.nspname <> ALL($1::text[])` : "";
  const params = excludeSchemas.length ? [excludeSchemas] : [];
  const q = async (sql: string) => (await c.query(sql, params)).rows;

  const schemas = (await q(`SELECT n.nspname FROM pg_namespace n WHERE ${USER_NS}${ex} AND ${NOT_EXT("n.oid", "pg_namespace")} ORDER BY n.oid`)).map(
    (r) => r.nspname,
  );
  const enumRows = await q(`SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE ${USER_NS}${ex} AND ${NOT_EXT("t.oid", "pg_type")} GROUP BY n.nspname, t.typname, t.oid ORDER BY t.oid`);
  const domainRows = await q(`SELECT n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull, t.typdefault,
      COALESCE((SELECT json_agg(json_build_object('name', k.conname, 'def', pg_get_constraintdef(k.oid)) ORDER BY k.conname)
                FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'), '[]') AS checks
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype = 'd' AND ${USER_NS}${ex} AND ${NOT_EXT("t.oid", "pg_type")} ORDER BY t.oid`);
  const seqRows = await q(`SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL) AS data_type, s.seqstart::text AS start,
      s.seqincrement::text AS inc, s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle,
      dn.nspname AS own_schema, dc.relname AS own_table, a.attname AS own_column, d.deptype
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      LEFT JOIN pg_class dc ON dc.oid = d.refobjid LEFT JOIN pg_namespace dn ON dn.oid = dc.relnamespace
      LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE ${USER_NS}${ex} AND ${NOT_EXT("c.oid", "pg_class")} ORDER BY c.oid`);
  const tableRows = await q(`SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relreplident, c.reltuples::float8 AS reltuples,
      (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid AND i.indisreplident) AS replident_index,
      (c.relispartition OR EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid OR h.inhparent = c.oid)) AS inherits
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_NS}${ex} AND ${NOT_EXT("c.oid", "pg_class")} ORDER BY c.oid`);
  const tables: TableInfo[] = [];
  for (const t of tableRows) {
    const cols = await c.query(
      `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid) AS def,
          a.attidentity, a.attgenerated,
          CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN (SELECT quote_ident(co.collname) FROM pg_collation co WHERE co.oid = a.attcollation) END AS coll
        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [t.oid],
    );
    const cons = await c.query(
      `SELECT conname, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1 AND contype IN ('p', 'u', 'c', 'f', 'x') ORDER BY oid`,
      [t.oid],
    );
    const idx = await c.query(
      `SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
        WHERE i.indrelid = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
        ORDER BY i.indexrelid`,
      [t.oid],
    );
    tables.push({
      schema: t.nspname,
      name: t.relname,
      relkind: t.relkind,
      persistence: t.relpersistence,
      replident: t.relreplident,
      replidentIndex: t.replident_index,
      hasInheritance: t.inherits,
      estimatedRows: Number(t.reltuples),
      columns: cols.rows.map((r) => ({
        name: r.attname,
        type: r.type,
        notNull: r.attnotnull,
        default: r.def,
        identity: r.attidentity ?? "",
        generated: r.attgenerated ?? "",
        collation: r.coll,
      })),
      constraints: cons.rows.map((r) => ({ name: r.conname, type: r.contype, def: r.def })),
      indexes: idx.rows.map((r) => r.def),
    });
  }
  return {
    schemas,
    enums: enumRows.map((r) => ({ schema: r.nspname, name: r.typname, labels: pgArray(r.labels) })),
    domains: domainRows.map((r) => ({
      schema: r.nspname,
      name: r.typname,
      baseType: r.base,
      notNull: r.typnotnull,
      default: r.typdefault,
      checks: typeof r.checks === "string" ? JSON.parse(r.checks) : r.checks,
    })),
    sequences: seqRows.map((r) => ({
      schema: r.nspname,
      name: r.relname,
      dataType: r.data_type,
      start: r.start,
      increment: r.inc,
      min: r.min,
      max: r.max,
      cache: r.cache,
      cycle: r.seqcycle,
      ownedBy: r.own_table ? { schema: r.own_schema, table: r.own_table, column: r.own_column } : null,
      identity: r.deptype === "i",
    })),
    tables,
  };
}

function pgArray(v: unknown): string[] {
  if (Array.isArray(v)) return v as string[];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- postgres-array ships no types
  return require("postgres-array").parse(String(v));
}

export async function sequenceValues(c: Client): Promise<SequenceValue[]> {
  const r = await c.query(`SELECT schemaname, sequencename, last_value::text AS last_value FROM pg_sequences
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`);
  return r.rows.map((x) => ({ schema: x.schemaname, name: x.sequencename, lastValue: x.last_value }));
}

/** Quoted names of the user tables that have at least one user table (a target must be empty). */
export async function userTables(c: Client): Promise<string[]> {
  const r = await c.query(`SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_NS} ORDER BY 1`);
  return r.rows.map((x) => x.t);
}
