/**
 * Pure planning for the blue/green major upgrade: preflight findings, the schema DDL for green,
 * sequence sync, cutover decisions and pgBouncer config rewrites. No I/O here: the facts come from
 * catalog.ts, the decisions go to orchestrator.ts, and everything is table-tested.
 */
import { formatLsn, parseLsn } from "../cdc/lsn";

export { formatLsn, parseLsn };

// ---------------------------------------------------------------- catalog snapshot (facts)

export interface ColumnInfo {
  name: string;
  /** format_type(atttypid, atttypmod) */
  type: string;
  notNull: boolean;
  /** pg_get_expr of the default, or null */
  default: string | null;
  /** "" | "a" (ALWAYS) | "d" (BY DEFAULT) */
  identity: string;
  /** "" | "s" (stored generated) */
  generated: string;
  /** collation name when not the type's default, else null */
  collation: string | null;
}

export interface ConstraintInfo {
  name: string;
  /** p primary key, u unique, c check, f foreign key, x exclusion */
  type: string;
  /** pg_get_constraintdef */
  def: string;
}

export interface TableInfo {
  schema: string;
  name: string;
  /** r ordinary, p partitioned */
  relkind: string;
  /** p permanent, u unlogged, t temp */
  persistence: string;
  /** d default, n nothing, f full, i index */
  replident: string;
  /** name of the REPLICA IDENTITY USING INDEX index, when replident = i */
  replidentIndex: string | null;
  hasInheritance: boolean;
  columns: ColumnInfo[];
  constraints: ConstraintInfo[];
  /** pg_get_indexdef of indexes that do not back a constraint */
  indexes: string[];
  /** estimated rows (pg_class.reltuples, -1 unknown) */
  estimatedRows: number;
}

export interface SequenceInfo {
  schema: string;
  name: string;
  dataType: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  /** "schema.table.column" owning it (OWNED BY), or null */
  ownedBy: { schema: string; table: string; column: string } | null;
  /** true when it backs an identity column (created with the column, not separately) */
  identity: boolean;
}

export interface EnumInfo {
  schema: string;
  name: string;
  labels: string[];
}

export interface DomainInfo {
  schema: string;
  name: string;
  baseType: string;
  notNull: boolean;
  default: string | null;
  checks: { name: string; def: string }[];
}

export interface SchemaSnapshot {
  schemas: string[];
  enums: EnumInfo[];
  domains: DomainInfo[];
  sequences: SequenceInfo[];
  tables: TableInfo[];
}

export interface ServerFacts {
  /** server_version_num / 10000 */
  major: number;
  walLevel: string;
  maxReplicationSlots: number;
  usedReplicationSlots: number;
  maxWalSenders: number;
  usedWalSenders: number;
  largeObjects: number;
  /** extensions other than plpgsql */
  extensions: string[];
  /** kinds of objects the schema copy does not carry: {kind, name} */
  unsupportedObjects: { kind: string; name: string }[];
  /** this role may create publications/subscriptions (superuser or rds_superuser-like) */
  superuser: boolean;
}

// ---------------------------------------------------------------- preflight

export type Severity = "error" | "warning";

export interface Finding {
  code: string;
  severity: Severity;
  object: string;
  message: string;
  fix: string;
}

export const qi = (ident: string): string => `"${ident.replace(/"/g, '""')}"`;
export const qn = (schema: string, name: string): string => `${qi(schema)}.${qi(name)}`;
export const ql = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** Slots and wal senders an upgrade needs on a server: the forward (or reverse) subscription plus one tablesync worker slot at a time. */
export const SLOTS_NEEDED = 2;

export function hasKey(t: TableInfo): boolean {
  return t.constraints.some((c) => c.type === "p") || t.replident === "f" || (t.replident === "i" && !!t.replidentIndex);
}

/**
 * Everything that would make the upgrade fail or lose data, each with why and how to fix it.
 * `green` is optional: when given, it is checked as the target (newer major, logical wal, slots).
 */
export function preflight(blue: ServerFacts, schema: SchemaSnapshot, green?: ServerFacts): Finding[] {
  const out: Finding[] = [];
  const f = (code: string, severity: Severity, object: string, message: string, fix: string) => out.push({ code, severity, object, message, fix });

  const checkServer = (role: "blue" | "green", s: ServerFacts) => {
    if (s.walLevel !== "logical") {
      f(
        "wal-level",
        "error",
        role,
        `wal_level is "${s.walLevel}" on ${role}: logical replication needs "logical" (${role === "blue" ? "forward" : "reverse, for rollback,"} replication decodes ${role}'s WAL)`,
        "set wal_level = logical (Aurora: rds.logical_replication = 1) and restart",
      );
    }
    const freeSlots = s.maxReplicationSlots - s.usedReplicationSlots;
    if (freeSlots < SLOTS_NEEDED) {
      f(
        "replication-slots",
        "error",
        role,
        `${freeSlots} free replication slot(s) of ${s.maxReplicationSlots} on ${role}; the upgrade needs ${SLOTS_NEEDED} (the subscription's slot and one for the initial table copy)`,
        "raise max_replication_slots (restart) or drop unused slots (pg_replication_slots)",
      );
    }
    const freeSenders = s.maxWalSenders - s.usedWalSenders;
    if (freeSenders < SLOTS_NEEDED) {
      f(
        "wal-senders",
        "error",
        role,
        `${freeSenders} free wal sender(s) of ${s.maxWalSenders} on ${role}; the upgrade needs ${SLOTS_NEEDED}`,
        "raise max_wal_senders (restart)",
      );
    }
    if (!s.superuser) {
      f(
        "privileges",
        "error",
        role,
        `the upgrade role is not a superuser on ${role}: it must create publications, subscriptions and set sequences`,
        "connect as a superuser (Aurora/RDS: a member of rds_superuser)",
      );
    }
  };
  checkServer("blue", blue);
  if (green) {
    checkServer("green", green);
    if (green.major <= blue.major) {
      f(
        "major-version",
        "error",
        "green",
        `green runs Postgres ${green.major}, not newer than blue's ${blue.major}`,
        "point --green at the cluster of the new major version",
      );
    }
    const missing = blue.extensions.filter((e) => !green.extensions.includes(e));
    if (missing.length) {
      // the extensions are reported as unsupported below; nothing more to add here
    }
  }

  if (blue.largeObjects > 0) {
    f(
      "large-objects",
      "error",
      "pg_largeobject",
      `${blue.largeObjects} large object(s): logical replication does not carry large objects, green would miss them`,
      "move them into bytea columns, or copy them separately before cutover",
    );
  }
  for (const e of blue.extensions) {
    f(
      "extension",
      "error",
      e,
      `extension "${e}" is installed: the schema copy creates only tables, sequences, indexes, constraints, enums and domains, and cannot know whether green has "${e}" at a compatible version`,
      `CREATE EXTENSION ${e} on green beforehand and re-run with --allow-extension ${e}`,
    );
  }
  for (const o of blue.unsupportedObjects) {
    f(
      "unsupported-object",
      "error",
      o.name,
      `${o.kind} "${o.name}" is not copied to green by the schema copy (only tables, sequences, indexes, constraints, enums and domains are)`,
      `create it on green yourself before cutover and re-run with --allow-object ${o.name}, or drop it`,
    );
  }
  if (schema.tables.length === 0) {
    f("no-tables", "error", "database", "no user tables to replicate", "check --database");
  }
  for (const t of schema.tables) {
    const name = `${t.schema}.${t.name}`;
    if (t.persistence === "u") {
      f(
        "unlogged-table",
        "error",
        name,
        "unlogged table: its changes are not written to WAL, so logical replication cannot carry them",
        `ALTER TABLE ${qn(t.schema, t.name)} SET LOGGED`,
      );
    }
    if (t.relkind === "p" || t.hasInheritance) {
      f(
        "partitioned-table",
        "error",
        name,
        "partitioned or inherited table: the schema copy does not recreate partition hierarchies",
        "upgrade this database with a dump/restore of the schema on green, or flatten the table",
      );
    }
    if (!hasKey(t)) {
      f(
        "no-replica-identity",
        "error",
        name,
        `no primary key and REPLICA IDENTITY ${t.replident === "n" ? "NOTHING" : "DEFAULT"}: UPDATE and DELETE on it would fail on blue once it is published, and green could not locate rows`,
        `add a primary key, or ALTER TABLE ${qn(t.schema, t.name)} REPLICA IDENTITY FULL (slower apply)`,
      );
    } else if (!t.constraints.some((c) => c.type === "p")) {
      f("no-primary-key", "warning", name, "no primary key: the cutover verification can only compare row counts, not a checksum sample", "add a primary key");
    }
  }
  return out;
}

export const blocking = (findings: Finding[], allow: string[] = []): Finding[] => findings.filter((x) => x.severity === "error" && !allow.includes(x.object));

// ---------------------------------------------------------------- schema DDL for green

function columnDdl(c: ColumnInfo, seq: SequenceInfo | undefined): string {
  let s = `${qi(c.name)} ${c.type}`;
  if (c.collation) s += ` COLLATE ${c.collation}`;
  if (c.generated === "s" && c.default !== null) return `${s} GENERATED ALWAYS AS (${c.default}) STORED`;
  if (c.identity) {
    // the same sequence name as on blue, so that sequence sync finds it by name
    const opts = seq ? ` (SEQUENCE NAME ${qn(seq.schema, seq.name)} ${sequenceOptions(seq)})` : "";
    s += ` GENERATED ${c.identity === "a" ? "ALWAYS" : "BY DEFAULT"} AS IDENTITY${opts}`;
  } else if (c.default !== null) {
    s += ` DEFAULT ${c.default}`;
  }
  if (c.notNull) s += " NOT NULL";
  return s;
}

function sequenceOptions(s: SequenceInfo): string {
  return `INCREMENT BY ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} START WITH ${s.start} CACHE ${s.cache}${s.cycle ? " CYCLE" : " NO CYCLE"}`;
}

/**
 * DDL statements that recreate blue's schema on an empty green database, in dependency order:
 * schemas, enums, domains, free sequences, tables (columns, defaults, identity), primary/unique/
 * check/exclusion constraints, indexes, foreign keys, sequence ownership, replica identities.
 */
export function schemaDdl(s: SchemaSnapshot): string[] {
  const out: string[] = [];
  for (const sc of s.schemas) if (sc !== "public") out.push(`CREATE SCHEMA IF NOT EXISTS ${qi(sc)}`);
  for (const e of s.enums) out.push(`CREATE TYPE ${qn(e.schema, e.name)} AS ENUM (${e.labels.map(ql).join(", ")})`);
  for (const d of s.domains) {
    let ddl = `CREATE DOMAIN ${qn(d.schema, d.name)} AS ${d.baseType}`;
    if (d.default !== null) ddl += ` DEFAULT ${d.default}`;
    if (d.notNull) ddl += " NOT NULL";
    for (const c of d.checks) ddl += ` CONSTRAINT ${qi(c.name)} ${c.def}`;
    out.push(ddl);
  }
  for (const q of s.sequences.filter((x) => !x.identity)) {
    out.push(`CREATE SEQUENCE ${qn(q.schema, q.name)} AS ${q.dataType} ${sequenceOptions(q)}`);
  }
  const identitySeq = (t: TableInfo, col: string) =>
    s.sequences.find((q) => q.identity && q.ownedBy && q.ownedBy.schema === t.schema && q.ownedBy.table === t.name && q.ownedBy.column === col);
  for (const t of s.tables) {
    const cols = t.columns.map((c) => columnDdl(c, c.identity ? identitySeq(t, c.name) : undefined));
    out.push(`CREATE TABLE ${qn(t.schema, t.name)} (${cols.join(", ")})`);
  }
  const order = ["p", "u", "x", "c"];
  for (const t of s.tables) {
    for (const type of order) {
      for (const c of t.constraints.filter((x) => x.type === type)) out.push(`ALTER TABLE ${qn(t.schema, t.name)} ADD CONSTRAINT ${qi(c.name)} ${c.def}`);
    }
    out.push(...t.indexes);
  }
  for (const t of s.tables) {
    for (const c of t.constraints.filter((x) => x.type === "f")) out.push(`ALTER TABLE ${qn(t.schema, t.name)} ADD CONSTRAINT ${qi(c.name)} ${c.def}`);
  }
  for (const q of s.sequences.filter((x) => !x.identity && x.ownedBy)) {
    const o = q.ownedBy!;
    out.push(`ALTER SEQUENCE ${qn(q.schema, q.name)} OWNED BY ${qn(o.schema, o.table)}.${qi(o.column)}`);
  }
  for (const t of s.tables) {
    if (t.replident === "f") out.push(`ALTER TABLE ${qn(t.schema, t.name)} REPLICA IDENTITY FULL`);
    else if (t.replident === "i" && t.replidentIndex) out.push(`ALTER TABLE ${qn(t.schema, t.name)} REPLICA IDENTITY USING INDEX ${qi(t.replidentIndex)}`);
  }
  return out;
}

// ---------------------------------------------------------------- sequences

export interface SequenceValue {
  schema: string;
  name: string;
  /** pg_sequences.last_value: null when never used. Never below any value handed out (it counts the cached/WAL-logged-ahead values). */
  lastValue: string | null;
}

/** setval statements that put every sequence on the target at or past the source's value. */
export function sequenceSync(source: SequenceValue[]): string[] {
  return source.filter((s) => s.lastValue !== null).map((s) => `SELECT setval(${ql(qn(s.schema, s.name))}, ${s.lastValue}, true)`);
}

// ---------------------------------------------------------------- replication progress

export interface RelState {
  table: string;
  /** pg_subscription_rel.srsubstate: i init, d data copy, f finished copy, s synchronized, r ready */
  state: string;
}

export interface Progress {
  tables: number;
  ready: number;
  copying: string[];
  lagBytes: bigint;
  /** every table ready and the lag under the threshold */
  caughtUp: boolean;
}

export function progress(rels: RelState[], blueLsn: bigint, appliedLsn: bigint | null, maxLagBytes: bigint): Progress {
  const ready = rels.filter((r) => r.state === "r").length;
  const lagBytes = appliedLsn === null ? blueLsn : blueLsn > appliedLsn ? blueLsn - appliedLsn : 0n;
  return {
    tables: rels.length,
    ready,
    copying: rels.filter((r) => r.state === "d" || r.state === "i").map((r) => r.table),
    lagBytes,
    caughtUp: rels.length > 0 && ready === rels.length && appliedLsn !== null && lagBytes <= maxLagBytes,
  };
}

/** Green has applied blue's final LSN. */
export const applied = (finalLsn: bigint, appliedLsn: bigint | null): boolean => appliedLsn !== null && appliedLsn >= finalLsn;

// ---------------------------------------------------------------- verification

export interface TableCheck {
  table: string;
  blueCount: number | null;
  greenCount: number | null;
  blueSample: string | null;
  greenSample: string | null;
}

/** Mismatches between blue and green, as readable sentences (empty = verified). */
export function verifyMismatches(checks: TableCheck[]): string[] {
  const out: string[] = [];
  for (const c of checks) {
    if (c.blueCount !== c.greenCount) out.push(`${c.table}: ${c.blueCount} rows on blue, ${c.greenCount} on green`);
    if (c.blueSample !== c.greenSample) out.push(`${c.table}: the checksum of the sample (highest primary keys) differs between blue and green`);
  }
  return out;
}

// ---------------------------------------------------------------- pgBouncer config

// pgbouncer.ini is rendered and parsed by runtime/pgbouncer/config.ts; re-exported for the plan's users.
export { connString, databaseEntry, parseConnString, repointDatabase, type DbTarget } from "../pgbouncer/config";
