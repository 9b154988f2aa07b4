/**
 * The CDC writer's tables: which source tables it replicates, their Iceberg tables (loaded, or
 * created from the source's columns), and following the source's schema changes.
 *
 * Schema changes are followed from the stream, in WAL order, whatever happened while the writer
 * was down: the layout the writer holds comes from the Iceberg table (with the attnums it recorded
 * there, per source, in the table property `floe.attnums.<source>`), never from the live catalog,
 * which may be ahead of the stream. Each relation message's columns are placed on attnums
 * (runtime/cdc/layout.ts; attnums are stable across renames and never reused) and typed as the
 * message says. Before a transaction applies, each table it changes follows the layout of the
 * transaction's last change to it: one Iceberg schema commit of drops, renames, widenings and adds
 * (with the attnums), after the changes read before it are committed. What Iceberg cannot follow (a
 * dropped primary-key column, a narrowing or unrelated type change, a new column reusing an Iceberg
 * name) stops the writer with a CdcStopError naming the table and column.
 */
import type { Client } from "pg";
import { NoSuchTableError, TableIdentifier } from "../iceberg/catalog";
import { Table as IcebergTable } from "../iceberg";
import type { IndexKey } from "../iceberg/pkindex";
import type { StagedSchema } from "../iceberg/schema-update";
import type { IcebergType } from "../iceberg/spec";
import { fieldCodec } from "../iceberg/values";
import type { Table } from "../iceberg/table";
import { canPromote, ColumnDef, ColumnType, parsePrimitive, primitiveName } from "../iceberg/types";
import { PermanentError } from "../core/errors";
import type { CdcConfig } from "./config";
import { ATTRIBUTES_SQL, attnumsByName, CatalogAttribute, relationLayout, resolveAttnums, TypeCache } from "./layout";
import { tablePolicy } from "./maintenance";
import type { Message } from "./pgoutput";
import { qualified, quoteTable, ReplicationSource, SourceTable } from "./source";
import { CdcStopError, Column, lsnSummary, TableState, Txn, WriterDeps } from "./state";
import { PreviousVersions } from "./toast";
import { existingRows, liveValues, type ExistingRows } from "./defaults";
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

/** A table's columns (mapped to Iceberg types) and primary key, read through `c` (in a snapshot transaction: as of that snapshot). */
export async function describeWith(c: Client, t: SourceTable): Promise<{ columns: Column[]; pk: string[] }> {
  const rel = quoteTable(t);
  // A client may return every value as text (the copy's does): numbers and booleans are normalised.
  const cols = (await c.query(COLUMNS_SQL, [rel])).rows.map((r): PgColumn => ({
    ...r,
    attnum: Number(r.attnum),
    typeMod: Number(r.typeMod),
    notNull: r.notNull === true || r.notNull === "t",
    elemTypeName: r.elemTypeName ?? undefined,
    elemTypType: r.elemTypType ?? undefined,
  }));
  const pk = (await c.query(PRIMARY_KEY_SQL, [rel])).rows.map((r) => r.name as string);
  const columns = cols.map((pg) => ({ pg, mapped: mapColumn(pg, qualified(t)) }));
  return { columns, pk };
}

/** A table's live columns and primary key, read from the source's catalog now. */
export function describe(src: ReplicationSource, t: SourceTable): Promise<{ columns: Column[]; pk: string[] }> {
  return src.withClient((c) => describeWith(c, t));
}

/** The table property holding, for one source (by key), the attnum of each column by its Iceberg name. */
export const attnumsProperty = (sourceKey: string): string => `floe.attnums.${sourceKey}`;

/** A layout's attnums by column name, as recorded in attnumsProperty (unknown attnums left out). */
const attnumsJson = (layout: readonly Column[]): string =>
  JSON.stringify(Object.fromEntries(layout.filter((c) => c.pg.attnum > 0).map((c) => [c.pg.name, c.pg.attnum])));

/** A type as one comparable string ("decimal(10, 2)" and "decimal(10,2)" alike; lists by element). */
function typeKey(t: ColumnType | IcebergType): string {
  if (typeof t === "string") return primitiveName(parsePrimitive(t));
  if ("list" in t) return `list<${typeKey(t.list)}>`;
  if (t.type === "list") return `list<${typeKey(t.element)}>`;
  return JSON.stringify(t);
}

/** An Iceberg field type as the writer's column type. */
function columnType(t: IcebergType): ColumnType {
  if (typeof t === "string") return t;
  if (t.type === "list" && typeof t.element === "string") return { list: t.element };
  throw new CdcStopError(`Iceberg type ${JSON.stringify(t)} is not one the CDC writer maps Postgres columns to`);
}

/** Whether two layouts have the same columns (attnum, name, Iceberg type) in the same order. */
export function sameLayout(a: readonly Column[], b: readonly Column[]): boolean {
  return (
    a.length === b.length &&
    a.every((c, i) => c.pg.attnum === b[i].pg.attnum && c.pg.name === b[i].pg.name && typeKey(c.mapped.iceberg) === typeKey(b[i].mapped.iceberg))
  );
}

/** Layouts whose attnums could not be placed for certain (see resolveAttnums), with why. */
const ambiguity = new WeakMap<readonly Column[], string>();

/** The tables one writer replicates, by source table ("schema.table"), whatever source feeds them. */
export class Tables {
  private readonly states = new Map<string, TableState>();
  /** Types per server (source key), by oid and modifier. */
  private readonly types = new Map<string, TypeCache>();

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
      // A config the source does not match: a person has to fix one or the other (exit 2, not a retry).
      throw new PermanentError(
        "publication",
        `source ${src.name}: tables ${missing.map(qualified).join(", ")} are configured but not in publication ${src.config.publication}: ` +
          `create them, add them as the tables' owner (ALTER PUBLICATION ${src.config.publication} ADD TABLE ${missing.map(qualified).join(", ")}), or remove them from tables`,
      );
    }
    const states: TableState[] = [];
    for (const t of published) states.push(await this.ensure(src, t));
    return states;
  }

  /** Loads (or creates) the Iceberg table for a source table, and the layout the writer holds for this source. */
  async ensure(src: ReplicationSource, t: SourceTable): Promise<TableState> {
    const key = qualified(t);
    const existing = this.states.get(key);
    if (existing) {
      if (!existing.layouts.has(src.key)) existing.layouts.set(src.key, await this.heldLayout(src, existing));
      return existing;
    }
    const cfg = this.tableConfig(t);
    const mode = cfg?.mode ?? "mirror";
    const id: TableIdentifier = { namespace: [this.config.namespace], name: cfg?.target ?? t.name };
    let table: Table;
    let created: { columns: Column[]; pk: string[] } | undefined;
    try {
      table = await IcebergTable.load(this.deps.catalog, id, this.tableOptions(id.name));
    } catch (e) {
      if (!(e instanceof NoSuchTableError)) throw e;
      const { columns, pk } = (created = await describe(src, t));
      if (mode === "mirror" && pk.length === 0) throw noPrimaryKey(key);
      if (!(await this.deps.catalog.namespaceExists(id.namespace))) {
        await this.deps.catalog.createNamespace(id.namespace).catch(() => undefined);
      }
      const defs: ColumnDef[] = columns.map((c) => ({ name: c.pg.name, type: c.mapped.iceberg, required: mode === "mirror" && pk.includes(c.pg.name) }));
      table = await IcebergTable.create(
        this.deps.catalog,
        id,
        {
          columns: mode === "changelog" ? [...defs, ...CHANGELOG_COLUMNS] : defs,
          identifier: mode === "mirror" ? pk : [],
          properties: { "floe.source-table": key, "floe.mode": mode, [attnumsProperty(src.key)]: attnumsJson(columns) },
          formatVersion: cfg?.formatVersion ?? this.config.formatVersion,
        },
        this.tableOptions(id.name),
      );
      this.deps.log.info("created Iceberg table", { table: key, target: `${id.namespace.join(".")}.${id.name}`, mode });
    }
    const schema = table.schema();
    const pk = created?.pk ?? (schema["identifier-field-ids"] ?? []).map((fid) => schema.fields.find((f) => f.id === fid)!.name);
    if (mode === "mirror" && pk.length === 0) throw noPrimaryKey(key);
    const state: TableState = {
      key,
      source: t,
      mode,
      id,
      table,
      layouts: new Map(),
      pk,
      lsn: new Map(),
      latest: new Map(),
      previous: new PreviousVersions(table),
    };
    state.layouts.set(src.key, created?.columns ?? (await this.heldLayout(src, state)));
    readLsns(state);
    this.states.set(key, state);
    return state;
  }

  /**
   * The layout held for a source of a table the writer did not create just now: the Iceberg
   * table's source columns, with the attnums recorded for that source (a table the writer never
   * recorded them in, or a source new to it, takes them from the live catalog by name; unknown
   * ones stay 0 and are placed by the next relation message).
   */
  private async heldLayout(src: ReplicationSource, state: TableState): Promise<Column[]> {
    const meta = new Set(state.mode === "changelog" ? CHANGELOG_COLUMNS.map((c) => c.name) : []);
    const fields = state.table.schema().fields.filter((f) => !meta.has(f.name));
    let attnums: Record<string, number> = {};
    const recorded = state.table.metadata.properties[attnumsProperty(src.key)];
    if (recorded) attnums = JSON.parse(recorded);
    else {
      const { columns } = await describe(src, state.source);
      attnums = Object.fromEntries(columns.map((c) => [c.pg.name, c.pg.attnum]));
      this.deps.log.info("no attnums recorded for this source in the Iceberg table: taking them from the catalog by name", {
        table: state.key,
        source: src.key,
      });
    }
    const layout = fields.map((f): Column => {
      const iceberg = columnType(f.type);
      const pg: PgColumn = {
        name: f.name,
        attnum: attnums[f.name] ?? 0,
        typeName: "",
        typType: "b",
        typeMod: -1,
        notNull: f.required,
        declared: typeKey(iceberg),
      };
      const convert = () => {
        throw new Error(`${state.key}.${f.name}: no relation message has typed this column yet`);
      };
      return { pg, mapped: { iceberg, convert } };
    });
    return layout.every((c) => c.pg.attnum > 0) ? layout.sort((a, b) => a.pg.attnum - b.pg.attnum) : layout;
  }

  /** The layout the writer holds for a source of a table. */
  layout(state: TableState, src: ReplicationSource): Column[] {
    const layout = state.layouts.get(src.key);
    if (!layout) throw new Error(`${state.key}: no column layout for source ${src.key}`);
    return layout;
  }

  /**
   * Options of the Iceberg tables this writer opens: pending writes spill past commit.spillBytes; a
   * commit whose outcome is unknown waits for the catalog until the writer stops; each commit merges
   * the manifests past the table's maintenance maxManifests.
   */
  private tableOptions(target: string): { spillBytes: number; signal?: AbortSignal; maxManifests?: number } {
    return { spillBytes: this.config.commit.spillBytes, signal: this.signal, maxManifests: tablePolicy(this.config, target)?.maxManifests };
  }

  // ---- following schema changes -----------------------------------------------------------------

  /**
   * The layout of a relation message: its columns placed on attnums against `reference` (the
   * layout this stream showed for the table before, or the one held) and the catalog now, typed
   * as the message says.
   */
  async relationLayout(src: ReplicationSource, state: TableState, msg: Extract<Message, { tag: "relation" }>, reference: readonly Column[]): Promise<Column[]> {
    let types = this.types.get(src.key);
    if (!types) this.types.set(src.key, (types = new TypeCache()));
    const cache = types;
    return src.withClient(async (c) => {
      const catalog = (await c.query(ATTRIBUTES_SQL, [msg.oid])).rows as CatalogAttribute[];
      const names = msg.columns.map((x) => x.name);
      const ref = reference.map((r) => ({ name: r.pg.name, attnum: r.pg.attnum > 0 ? r.pg.attnum : undefined }));
      const placed = resolveAttnums(ref, names, catalog);
      const attnums = placed.ambiguous ? attnumsByName(ref, names, catalog) : placed.attnums;
      const layout = await relationLayout(state.key, msg.columns, attnums, cache, async () => c);
      if (placed.ambiguous) ambiguity.set(layout, placed.reason);
      return layout;
    });
  }

  /**
   * Before a transaction applies: each table it changes (and has not applied yet) follows the
   * layout of the transaction's last change to it. `flush` commits the changes read before, once,
   * before the first schema change: they were read in the old layout.
   */
  async follow(src: ReplicationSource, txn: Txn, commitLsn: bigint, flush: () => Promise<void>): Promise<void> {
    let flushed = false;
    for (const [state, layout] of txn.layouts) {
      const tableLsn = state.lsn.get(src.key);
      if (tableLsn !== undefined && commitLsn <= tableLsn) continue; // already in Iceberg
      if (sameLayout(layout, this.layout(state, src))) continue;
      if (!flushed) await flush();
      flushed = true;
      const doubt = ambiguity.get(layout);
      if (doubt)
        this.deps.log.warn("schema change followed by column name: the stream's columns could not be placed on attnums for certain", {
          table: state.key,
          reason: doubt,
        });
      await this.evolve(src, state, layout);
    }
  }

  /**
   * Makes the Iceberg table follow `target` (a layout of this source) from the layout held, by
   * attnum: drops, renames, widenings and adds in one schema commit, with the attnums recorded.
   * The caller commits what is pending first: the new layout holds from here on.
   */
  async evolve(src: ReplicationSource, state: TableState, target: Column[], options: { backfill?: boolean } = {}): Promise<void> {
    const held = this.layout(state, src);
    const fields = new Map(state.table.schema().fields.map((f) => [f.name, f]));
    const byAttnum = new Map(target.filter((c) => c.pg.attnum > 0).map((c) => [c.pg.attnum, c]));
    const drops: string[] = [];
    const renames: [string, string][] = [];
    /** Each target column's Iceberg field before the change (by its old name), and its type then. */
    const before = new Map<Column, { name: string; declared: string }>();
    for (const old of held) {
      const cur = old.pg.attnum > 0 ? byAttnum.get(old.pg.attnum) : target.find((c) => c.pg.name === old.pg.name);
      if (!cur) {
        if (state.pk.includes(old.pg.name))
          throw new CdcStopError(`${state.key}: primary key column ${old.pg.name} was dropped; the mirror table cannot follow`);
        if (fields.has(old.pg.name)) drops.push(old.pg.name);
        continue;
      }
      if (!fields.has(old.pg.name)) continue; // another source of the table changed it: added below by name
      before.set(cur, { name: old.pg.name, declared: old.pg.typeName ? old.pg.declared : `${old.pg.declared} (in Iceberg)` });
      if (cur.pg.name !== old.pg.name) renames.push([old.pg.name, cur.pg.name]);
    }
    const leaving = new Set([...drops, ...renames.map(([from]) => from)]);
    const adds: Column[] = [];
    for (const c of target) {
      if (before.has(c)) continue;
      if (fields.has(c.pg.name) && !leaving.has(c.pg.name)) {
        // The same name in Iceberg: a column another source of the table added, or a clash.
        const shared = [...state.layouts].some(([k, l]) => k !== src.key && l.some((o) => o.pg.name === c.pg.name));
        if (!shared) throw new CdcStopError(`${state.key}.${c.pg.name}: a new column reuses the name of an Iceberg column; drop or rename it in Iceberg first`);
        before.set(c, { name: c.pg.name, declared: `${typeKey(fields.get(c.pg.name)!.type)} (in Iceberg)` });
        continue;
      }
      adds.push(c);
    }
    for (const [, to] of renames) {
      if (fields.has(to) && !leaving.has(to)) throw new CdcStopError(`${state.key}: column renamed to ${to}, which the Iceberg table already has`);
    }
    const update = state.table.updateSchema();
    const changes: string[] = [];
    for (const name of drops) {
      update.dropColumn(name);
      changes.push(`drop ${name}`);
    }
    // A rename onto a name another rename frees (a swap) goes through a temporary name.
    const swap = renames.some(([, to]) => leaving.has(to));
    if (swap) for (const [from] of renames) update.renameColumn(from, `${from}__floe_renaming`);
    for (const [from, to] of renames) {
      update.renameColumn(swap ? `${from}__floe_renaming` : from, to);
      changes.push(`rename ${from} -> ${to}`);
    }
    for (const [c, old] of before) {
      const from = fields.get(old.name)!.type;
      const to = c.mapped.iceberg;
      if (typeKey(from) === typeKey(to)) continue;
      if (typeof to !== "string" || typeof from !== "string") {
        throw new CdcStopError(`${state.key}.${c.pg.name}: type changed from ${old.declared} to ${c.pg.declared}, which Iceberg cannot follow`);
      }
      if (!canPromote(from, to)) {
        throw new CdcStopError(
          `${state.key}.${c.pg.name}: type changed from ${old.declared} to ${c.pg.declared}, which Iceberg cannot follow ` +
            `(it allows int->long, float->double and a larger decimal precision); replicate the new column under a new name instead`,
        );
      }
      update.updateColumnType(c.pg.name, to);
      changes.push(`widen ${c.pg.name} ${typeKey(from)} -> ${typeKey(to)}`);
    }
    // What the rows already in the table hold in each added column (defaults.ts): a mirror
    // table's rows are rewritten with it in the schema change's commit.
    const backfill = (options.backfill ?? true) && state.mode === "mirror" && adds.length > 0 && state.table.currentSnapshot() !== undefined;
    const existing = new Map<Column, ExistingRows>();
    if (backfill)
      await src.withClient(async (client) => {
        for (const c of adds) existing.set(c, await existingRows(client, state.source, c));
      });
    const v3 = state.table.metadata["format-version"] >= 3;
    for (const c of adds) {
      const old = existing.get(c);
      update.addColumn(c.pg.name, c.mapped.iceberg, old?.kind === "value" && v3 ? { initialDefault: old.value } : {});
      changes.push(
        old?.kind === "value"
          ? `add ${c.pg.name} (existing rows: ${old.text})`
          : old?.kind === "live"
            ? `add ${c.pg.name} (existing rows: read from the table, ${old.why})`
            : `add ${c.pg.name}`,
      );
    }
    update.setProperties({ [attnumsProperty(src.key)]: attnumsJson(target) });
    const fills = [...existing].filter(([, e]) => e.kind !== "null");
    if (fills.length === 0) await update.commit();
    else await this.rewriteWith(src, state, update.stage(), target, fills);
    state.layouts.set(src.key, target);
    if (changes.length) this.deps.log.info("followed schema change", { table: state.key, source: src.key, changes });
  }

  /**
   * Commits a staged schema change together with every live row of the table rewritten in it, each
   * added column in `fills` holding what that row holds in Postgres (one snapshot: readers see the
   * old schema and rows, then the new ones with the values, never nulls in between).
   */
  private async rewriteWith(src: ReplicationSource, state: TableState, staged: StagedSchema, layout: Column[], fills: [Column, ExistingRows][]): Promise<void> {
    const live = new Map<Column, Map<IndexKey, unknown>>();
    for (const [c, e] of fills) {
      if (e.kind === "live") live.set(c, await src.withClient((client) => liveValues(client, state.source, state.table, staged, layout, state.pk, c)));
    }
    const ids = new Set(staged.schema["identifier-field-ids"] ?? []);
    const keyCodecs = staged.schema.fields.filter((f) => ids.has(f.id)).map(fieldCodec);
    const tx = state.table.newWrite({ schema: staged, replace: true, spillBytes: this.config.commit.spillBytes });
    tx.setSummary(lsnSummary(state));
    let rows = 0;
    for await (const batch of state.table.rows(staged.schema.fields)) {
      for (const row of batch) {
        const key = live.size ? state.table.keyOf(row, keyCodecs) : undefined;
        for (const [c, e] of fills) row[c.pg.name] = e.kind === "value" ? e.value : (live.get(c)!.get(key!) ?? null);
      }
      tx.upsert(batch);
      rows += batch.length;
    }
    await tx.commit();
    this.deps.log.info("rewrote the table's rows with the values of added columns", { table: state.key, rows, columns: fills.map(([c]) => c.pg.name) });
  }
}

const noPrimaryKey = (key: string) =>
  new CdcStopError(
    `${key} has no primary key: a mirror table needs one to turn updates and deletes into position deletes; ` +
      `add a primary key, or set mode "changelog" for this table in the CDC config`,
  );

/**
 * Every `floe.lsn.*` of the table: the configured sources' and the servers they followed to. Read
 * from the summary the next commit carries: the current snapshot's, or when another engine's
 * maintenance wrote it without floe's keys, the newest ancestor's that has them.
 */
function readLsns(state: TableState): void {
  const summary: Record<string, string> = state.table.carriedSummary();
  for (const [k, v] of Object.entries(summary)) {
    if (k.startsWith("floe.lsn.") && /^\d+$/.test(v)) state.lsn.set(k.slice("floe.lsn.".length), BigInt(v));
  }
}
