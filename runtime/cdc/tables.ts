/**
 * The CDC writer's tables: which source tables it replicates, their Iceberg tables (loaded, or
 * created from the source's columns), and following the source's schema changes.
 *
 * Columns are followed by attnum (stable across renames, never reused after a drop): a relation
 * message whose layout differs from the one the writer holds becomes one Iceberg schema commit of
 * renames, drops, adds and type widenings. What Iceberg cannot follow (a dropped primary-key
 * column, a narrowing or unrelated type change, a new column reusing an Iceberg name) stops the
 * writer with a CdcStopError naming the table and column.
 */
import { NoSuchTableError, TableIdentifier } from "../iceberg/catalog";
import { Table as IcebergTable } from "../iceberg";
import type { Table } from "../iceberg/table";
import { canPromote, ColumnDef } from "../iceberg/types";
import type { CdcConfig } from "./config";
import { qualified, quoteTable, ReplicationSource, SourceTable } from "./source";
import { CdcStopError, Column, TableState, WriterDeps } from "./state";
import { PreviousVersions } from "./toast";
import { COLUMNS_SQL, mapColumn, PgColumn, PRIMARY_KEY_SQL } from "./types";

/** Changelog tables get these columns after the source columns. */
export const CHANGELOG_COLUMNS: ColumnDef[] = [
  { name: "_op", type: "string", required: true, doc: "I insert, U update, D delete, T truncate, R initial snapshot" },
  { name: "_lsn", type: "long", required: true, doc: "commit LSN of the source transaction" },
  { name: "_commit_time", type: "timestamptz", required: true, doc: "commit time of the source transaction" },
  { name: "_xid", type: "long", required: true, doc: "source transaction id" },
  { name: "_source", type: "string", required: true, doc: "floe source name" },
];

/** "schema.table" (schema defaults to public) as a SourceTable. */
const sourceTable = (text: string): SourceTable => {
  const [schema, name] = text.includes(".") ? text.split(".", 2) : ["public", text];
  return { schema, name };
};

/** A table's live columns (mapped to Iceberg types) and primary key, read from the source's catalog. */
export async function describe(src: ReplicationSource, t: SourceTable): Promise<{ columns: Column[]; pk: string[] }> {
  return src.withClient(async (c) => {
    const rel = quoteTable(t);
    const cols = (await c.query(COLUMNS_SQL, [rel])).rows as PgColumn[];
    const pk = (await c.query(PRIMARY_KEY_SQL, [rel])).rows.map((r) => r.name as string);
    const columns = cols.map((pg) => ({ pg, mapped: mapColumn(pg, qualified(t)) }));
    return { columns, pk };
  });
}

const layoutKey = (names: string[]): string => names.join("\u0000");

/** The tables one writer replicates, by source table ("schema.table"), whatever source feeds them. */
export class Tables {
  private readonly states = new Map<string, TableState>();

  constructor(
    private readonly config: CdcConfig,
    private readonly deps: WriterDeps,
    /** Aborted when the writer stops (see TableOptions.signal). */
    private readonly signal?: AbortSignal,
  ) {}

  get(key: string): TableState | undefined {
    return this.states.get(key);
  }

  values(): IterableIterator<TableState> {
    return this.states.values();
  }

  /** Whether any table has changes not yet committed. */
  hasPending(): boolean {
    for (const s of this.states.values()) if (s.pending) return true;
    return false;
  }

  private tableConfig(t: SourceTable) {
    return this.config.tables.find((c) => {
      const want = sourceTable(c.source);
      return want.schema === t.schema && want.name === t.name;
    });
  }

  /** Whether the writer replicates a source table (every published table when none is configured). */
  wanted(t: SourceTable): boolean {
    return this.config.tables.length === 0 || this.tableConfig(t) !== undefined;
  }

  private configuredTables(): SourceTable[] {
    return this.config.tables.map((c) => sourceTable(c.source));
  }

  /** A source's publication (created if needed) and the state of every table it publishes that the writer wants. */
  async open(src: ReplicationSource): Promise<TableState[]> {
    await src.ensurePublication(this.configuredTables());
    const published = (await src.publishedTables()).filter((t) => this.wanted(t));
    const missing = this.configuredTables().filter((t) => !published.some((p) => p.schema === t.schema && p.name === t.name));
    if (missing.length) {
      throw new CdcStopError(`source ${src.name}: tables ${missing.map(qualified).join(", ")} are configured but not in publication ${src.config.publication}`);
    }
    const states: TableState[] = [];
    for (const t of published) states.push(await this.ensure(src, t));
    return states;
  }

  /** Loads (or creates) the Iceberg table for a source table. */
  async ensure(src: ReplicationSource, t: SourceTable): Promise<TableState> {
    const key = qualified(t);
    const existing = this.states.get(key);
    if (existing) return existing;
    const cfg = this.tableConfig(t);
    const mode = cfg?.mode ?? "mirror";
    const id: TableIdentifier = { namespace: [this.config.namespace], name: cfg?.target ?? t.name };
    const { columns, pk } = await describe(src, t);
    if (mode === "mirror" && pk.length === 0) {
      throw new CdcStopError(
        `${key} has no primary key: a mirror table needs one to turn updates and deletes into position deletes; ` +
          `add a primary key, or set mode "changelog" for this table in the CDC config`,
      );
    }
    let table: Table;
    try {
      table = await IcebergTable.load(this.deps.catalog, id, this.tableOptions());
    } catch (e) {
      if (!(e instanceof NoSuchTableError)) throw e;
      if (!(await this.deps.catalog.namespaceExists(id.namespace))) {
        await this.deps.catalog.createNamespace(id.namespace).catch(() => undefined);
      }
      const defs: ColumnDef[] = columns.map((c) => ({ name: c.pg.name, type: c.mapped.iceberg, required: mode === "mirror" && pk.includes(c.pg.name) }));
      table = await IcebergTable.create(this.deps.catalog, id, {
        columns: mode === "changelog" ? [...defs, ...CHANGELOG_COLUMNS] : defs,
        identifier: mode === "mirror" ? pk : [],
        properties: { "floe.source-table": key, "floe.mode": mode },
      }, this.tableOptions());
      this.deps.log.info("created Iceberg table", { table: key, target: `${id.namespace.join(".")}.${id.name}`, mode });
    }
    const state: TableState = { key, source: t, mode, id, table, columns, pk, lsn: new Map(), latest: new Map(), previous: new PreviousVersions(table) };
    readLsns(state);
    checkSchemaMatches(state);
    this.states.set(key, state);
    return state;
  }

  /**
   * Options of the Iceberg tables this writer opens: pending writes spill past commit.spillBytes; a
   * commit whose outcome is unknown waits for the catalog until the writer stops.
   */
  private tableOptions(): { spillBytes: number; signal?: AbortSignal } {
    return { spillBytes: this.config.commit.spillBytes, signal: this.signal };
  }

  // ---- following schema changes -----------------------------------------------------------------

  /**
   * Whether a relation message's column names, or the types the catalog gives them now, differ
   * from the layout the writer holds: then the table must evolve before its next change.
   */
  async relationChanged(src: ReplicationSource, state: TableState, relationNames: string[]): Promise<boolean> {
    if (layoutKey(relationNames) !== layoutKey(state.columns.map((c) => c.pg.name))) return true;
    // Same names: a type change keeps names; compare type oids through the catalog.
    const { columns } = await describe(src, state.source);
    return columns.some((c, i) => c.pg.declared !== state.columns[i]?.pg.declared);
  }

  /**
   * Follows a schema change by attnum: renames, drops, adds and widenings, one Iceberg schema
   * commit. The caller commits what is pending first: the new layout holds from here on.
   */
  async evolve(src: ReplicationSource, state: TableState, relationNames: string[]): Promise<void> {
    let { columns: now } = await describe(src, state.source);
    if (layoutKey(now.map((c) => c.pg.name)) !== layoutKey(relationNames)) {
      // Several DDL statements in one transaction: the stream shows an intermediate layout. Adds
      // and drops alone are unambiguous by name; anything involving a rename is not.
      const inferred = inferLayout(state, relationNames, now);
      if (inferred) now = inferred;
    }
    if (layoutKey(now.map((c) => c.pg.name)) !== layoutKey(relationNames)) {
      throw new CdcStopError(
        `${state.key}: the table's columns changed again before the writer caught up (stream: ${relationNames.join(", ")}; catalog: ${now.map((c) => c.pg.name).join(", ")}); ` +
          `restart the writer once DDL on this table has settled`,
      );
    }
    const update = state.table.updateSchema();
    const changes: string[] = [];
    const byAttnum = new Map(now.map((c) => [c.pg.attnum, c]));
    for (const old of state.columns) {
      const cur = byAttnum.get(old.pg.attnum);
      if (!cur) {
        if (state.pk.includes(old.pg.name)) throw new CdcStopError(`${state.key}: primary key column ${old.pg.name} was dropped; the mirror table cannot follow`);
        update.dropColumn(old.pg.name);
        changes.push(`drop ${old.pg.name}`);
        continue;
      }
      if (cur.pg.name !== old.pg.name) {
        update.renameColumn(old.pg.name, cur.pg.name);
        changes.push(`rename ${old.pg.name} -> ${cur.pg.name}`);
      }
      const from = JSON.stringify(old.mapped.iceberg);
      const to = JSON.stringify(cur.mapped.iceberg);
      if (from !== to) {
        if (typeof cur.mapped.iceberg !== "string" || typeof old.mapped.iceberg !== "string") {
          throw new CdcStopError(`${state.key}.${cur.pg.name}: type changed from ${old.pg.declared} to ${cur.pg.declared}, which Iceberg cannot follow`);
        }
        if (!canPromote(old.mapped.iceberg, cur.mapped.iceberg)) {
          throw new CdcStopError(
            `${state.key}.${cur.pg.name}: type changed from ${old.pg.declared} to ${cur.pg.declared}, which Iceberg cannot follow ` +
              `(it allows int->long, float->double and a larger decimal precision); replicate the new column under a new name instead`,
          );
        }
        update.updateColumnType(cur.pg.name, cur.mapped.iceberg);
        changes.push(`widen ${cur.pg.name} ${old.mapped.iceberg} -> ${cur.mapped.iceberg}`);
      }
    }
    const oldAttnums = new Set(state.columns.map((c) => c.pg.attnum));
    const existingNames = new Set(state.table.schema().fields.map((f) => f.name));
    for (const c of now) {
      if (oldAttnums.has(c.pg.attnum)) continue;
      if (existingNames.has(c.pg.name) && !state.columns.some((o) => o.pg.name === c.pg.name)) {
        throw new CdcStopError(`${state.key}.${c.pg.name}: a new column reuses the name of an Iceberg column; drop or rename it in Iceberg first`);
      }
      update.addColumn(c.pg.name, c.mapped.iceberg);
      changes.push(`add ${c.pg.name}`);
    }
    await update.commit();
    state.columns = now;
    this.deps.log.info("followed schema change", { table: state.key, changes });
  }
}

/** Every `floe.lsn.*` of the table: the configured sources' and the servers they followed to. */
function readLsns(state: TableState): void {
  const summary: Record<string, string> = state.table.currentSnapshot()?.summary ?? {};
  for (const [k, v] of Object.entries(summary)) {
    if (k.startsWith("floe.lsn.") && /^\d+$/.test(v)) state.lsn.set(k.slice("floe.lsn.".length), BigInt(v));
  }
}

/** The Iceberg table must hold every source column (by name); differences are resolved by relation messages. */
function checkSchemaMatches(state: TableState): void {
  const names = new Set(state.table.schema().fields.map((f) => f.name));
  const missing = state.columns.filter((c) => !names.has(c.pg.name)).map((c) => c.pg.name);
  if (missing.length) {
    throw new CdcStopError(
      `${state.key}: columns ${missing.join(", ")} exist in Postgres but not in Iceberg table ${state.id.name}; ` +
        `the schema changed while the writer was not running in a way it cannot map by name`,
    );
  }
}

/**
 * The layout a relation message shows when the catalog has moved on (more DDL in the same
 * transaction): columns known by name keep their attnum, names new to us come from the catalog
 * by name. Undefined when that is ambiguous (a name neither known nor in the catalog: a rename).
 */
function inferLayout(state: TableState, names: string[], catalog: Column[]): Column[] | undefined {
  const out: Column[] = [];
  for (const name of names) {
    const known = state.columns.find((c) => c.pg.name === name) ?? catalog.find((c) => c.pg.name === name);
    if (!known) return undefined;
    const fresh = catalog.find((c) => c.pg.attnum === known.pg.attnum);
    out.push(fresh && fresh.pg.name === name ? fresh : known);
  }
  return out;
}
