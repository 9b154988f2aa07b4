/**
 * SchemaUpdate: schema evolution as one metadata commit (no snapshot): add an optional column,
 * drop, rename, and the type widenings Iceberg allows (int->long, float->double, decimal
 * precision), with table properties set in the same commit. Field ids are never reused; a
 * conflict re-applies the changes to the latest schema.
 */
import { CommitConflictError, ValidationError, type TableRequirement, type TableUpdate } from "./catalog";
import type { NestedField, Schema } from "./spec";
import type { TableOps } from "./table-ops";
import { defaultToJson } from "./defaults";
import { schemaIdFor } from "./metadata";
import { canPromote, isPrimitive, maxFieldId, parsePrimitive, toIcebergType, type ColumnType } from "./types";

/**
 * Commits a new current schema (no snapshot) and table properties, in one metadata commit;
 * requirements pin the base schema and field ids. Without schema changes only the properties move.
 */
async function commitSchema(ops: TableOps, s: Schema | undefined, lastColumnId: number, properties: Record<string, string>): Promise<void> {
  const m = ops.metadata;
  const requirements: TableRequirement[] = [{ type: "assert-table-uuid", uuid: m["table-uuid"] }];
  const updates: TableUpdate[] = [];
  if (s) {
    requirements.push(
      { type: "assert-current-schema-id", "current-schema-id": m["current-schema-id"] },
      { type: "assert-last-assigned-field-id", "last-assigned-field-id": m["last-column-id"] },
    );
    updates.push({ action: "add-schema", schema: s, "last-column-id": lastColumnId }, { action: "set-current-schema", "schema-id": -1 });
  }
  if (Object.keys(properties).length) updates.push({ action: "set-properties", updates: properties });
  if (updates.length) ops.loaded = await ops.catalog.commitTable(ops.id, requirements, updates);
}

/** A schema change staged for a write that commits it with its snapshot (SchemaUpdate.stage). */
export interface StagedSchema {
  schema: Schema;
  lastColumnId: number;
  /** The table's current schema id and last column id the change was made against. */
  baseSchemaId: number;
  baseLastColumnId: number;
  properties: Record<string, string>;
}

export class SchemaUpdate {
  private readonly ops: TableOps;
  private readonly refresh: () => Promise<void>;
  private readonly changes: ((s: Schema, nextId: () => number) => void)[] = [];
  private properties: Record<string, string> = {};

  /** `refresh` reloads the table and catches its index up (after a conflict). */
  constructor(ops: TableOps, refresh: () => Promise<void>) {
    this.ops = ops;
    this.refresh = refresh;
  }

  /**
   * Adds an optional column (new field id). Existing rows read it as null, or, on a format
   * version 3 table, as `initialDefault` (a canonical JS value of the type, see index.ts; stored
   * as the field's initial-default; `writeDefault`, the value a writer stores when it supplies
   * none, as its write-default).
   */
  addColumn(name: string, type: ColumnType, options: { required?: false; doc?: string; initialDefault?: unknown; writeDefault?: unknown } = {}): this {
    if (options.required) throw new ValidationError(`column "${name}": a new column must be optional (existing rows have no value)`);
    const withDefault = (options.initialDefault ?? null) !== null || (options.writeDefault ?? null) !== null;
    if (withDefault && this.ops.formatVersion < 3) {
      throw new ValidationError(
        `column "${name}": a default value for existing rows (initial-default) needs format version 3; ${this.ops.name} is version ${this.ops.formatVersion}, so its existing rows must be rewritten instead`,
      );
    }
    this.changes.push((s, nextId) => {
      if (s.fields.some((f) => f.name === name)) throw new ValidationError(`cannot add column "${name}": it already exists`);
      const id = nextId();
      let t = toIcebergType(type, `column "${name}"`, 0);
      if (typeof t.type !== "string") t = toIcebergType(type, `column "${name}"`, nextId());
      const field: NestedField = { id, name, required: false, type: t.type, ...(options.doc ? { doc: options.doc } : {}) };
      if ((options.initialDefault ?? null) !== null) field["initial-default"] = defaultToJson(field, options.initialDefault);
      if ((options.writeDefault ?? null) !== null) field["write-default"] = defaultToJson(field, options.writeDefault);
      s.fields.push(field);
    });
    return this;
  }

  dropColumn(name: string): this {
    this.changes.push((s) => {
      const f = this.find(s, name);
      if ((s["identifier-field-ids"] ?? []).includes(f.id)) throw new ValidationError(`cannot drop column "${name}": it is part of the primary key`);
      const spec = this.ops.spec();
      if (spec.fields.some((p) => p["source-id"] === f.id)) throw new ValidationError(`cannot drop column "${name}": the table is partitioned by it`);
      s.fields = s.fields.filter((x) => x.id !== f.id);
    });
    return this;
  }

  renameColumn(from: string, to: string): this {
    this.changes.push((s) => {
      const f = this.find(s, from);
      if (s.fields.some((x) => x.name === to)) throw new ValidationError(`cannot rename "${from}" to "${to}": "${to}" already exists`);
      f.name = to;
    });
    return this;
  }

  /** Widen: int->long, float->double, decimal(p,s)->decimal(P,s) with P >= p. */
  updateColumnType(name: string, type: string): this {
    this.changes.push((s) => {
      const f = this.find(s, name);
      if (!isPrimitive(f.type)) throw new ValidationError(`cannot change the type of list column "${name}"`);
      const target = parsePrimitive(type, `column "${name}"`);
      const targetName = target.kind === "decimal" ? `decimal(${target.precision}, ${target.scale})` : type;
      if (!canPromote(f.type, targetName))
        throw new ValidationError(
          `cannot change column "${name}" from ${f.type} to ${type}: Iceberg allows int->long, float->double and decimal precision increases only`,
        );
      f.type = targetName;
    });
    return this;
  }

  /** Table properties set in the same metadata commit as the schema change (e.g. a writer's own bookkeeping). */
  setProperties(props: Record<string, string>): this {
    for (const [k, v] of Object.entries(props)) if (typeof v !== "string") throw new ValidationError(`table property "${k}" must be a string`);
    this.properties = { ...this.properties, ...props };
    return this;
  }

  private find(s: Schema, name: string): NestedField {
    const f = s.fields.find((x) => x.name === name);
    if (!f) throw new ValidationError(`column "${name}" does not exist; columns are ${s.fields.map((x) => x.name).join(", ")}`);
    return f;
  }

  /** The changes applied to the current schema: the new schema (with the id it will get) and the last field id. */
  private apply(): { schema: Schema; lastColumnId: number } {
    const m = this.ops.metadata;
    const s: Schema = structuredClone(this.ops.schema());
    let last = Math.max(m["last-column-id"], maxFieldId(s));
    for (const c of this.changes) c(s, () => ++last);
    s["schema-id"] = schemaIdFor(m.schemas, s);
    return { schema: s, lastColumnId: last };
  }

  /**
   * The new schema without committing it, for a write that commits it together with its snapshot
   * (`table.newWrite({ schema })`: the write's data files are written in it; the commit fails if
   * the table's schema moved meanwhile). Properties set here go with that commit too.
   */
  stage(): StagedSchema {
    const m = this.ops.metadata;
    return { ...this.apply(), baseSchemaId: m["current-schema-id"], baseLastColumnId: m["last-column-id"], properties: { ...this.properties } };
  }

  /** Commits the new schema (retrying on conflicts by re-applying the changes to the latest schema). */
  async commit(): Promise<Schema> {
    const t = this.ops;
    return t.serialize(async () => {
      for (let n = 1; ; n++) {
        const { schema: s, lastColumnId: last } = this.apply();
        try {
          await commitSchema(t, this.changes.length ? s : undefined, last, this.properties);
          return t.schema();
        } catch (e) {
          if (!(e instanceof CommitConflictError) || n >= 8) throw e;
          await new Promise((r) => setTimeout(r, 20 * 2 ** n * Math.random()));
          await this.refresh();
        }
      }
    });
  }
}
