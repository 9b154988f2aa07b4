/**
 * Iceberg types for the writer: parsing and validating type names, building schemas with field
 * ids from column definitions, and schema evolution rules (which type promotions are legal).
 * Pure functions, no I/O.
 */
import { ValidationError } from "./catalog";
import type { IcebergType, ListType, NestedField, Schema } from "./spec";

/** A type as users write it: a primitive name ("long", "decimal(10,2)", "fixed[16]") or { list: element }. */
export type ColumnType = string | { list: ColumnType; elementRequired?: boolean };

export interface ColumnDef {
  name: string;
  type: ColumnType;
  /** Defaults to false (the column is optional / nullable). */
  required?: boolean;
  doc?: string;
}

export type Primitive =
  | { kind: "boolean" | "int" | "long" | "float" | "double" | "date" | "time" | "timestamp" | "timestamptz" | "string" | "uuid" | "binary" }
  | { kind: "decimal"; precision: number; scale: number }
  | { kind: "fixed"; length: number };

const SIMPLE = new Set(["boolean", "int", "long", "float", "double", "date", "time", "timestamp", "timestamptz", "string", "uuid", "binary"]);

/** Parses a primitive type name; throws ValidationError naming the unsupported type. */
export function parsePrimitive(name: string, where = "type"): Primitive {
  const t = name.trim().toLowerCase();
  if (SIMPLE.has(t)) return { kind: t as "int" };
  let m = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(t);
  if (m) {
    const precision = Number(m[1]);
    const scale = Number(m[2]);
    if (precision < 1 || precision > 38 || scale > precision) {
      throw new ValidationError(`${where}: decimal(${precision},${scale}) is out of range; Iceberg decimals need 1 <= precision <= 38 and scale <= precision`);
    }
    return { kind: "decimal", precision, scale };
  }
  m = /^fixed\[\s*(\d+)\s*\]$/.exec(t);
  if (m && Number(m[1]) > 0) return { kind: "fixed", length: Number(m[1]) };
  throw new ValidationError(
    `${where}: unsupported type "${name}"; supported: boolean, int, long, float, double, decimal(p,s), date, time, timestamp, timestamptz, string, uuid, binary, fixed[n], and { list: <primitive> }`,
  );
}

export function primitiveName(p: Primitive): string {
  if (p.kind === "decimal") return `decimal(${p.precision}, ${p.scale})`;
  if (p.kind === "fixed") return `fixed[${p.length}]`;
  return p.kind;
}

/** True when `type` is a primitive type name (not list/map/struct). */
export function isPrimitive(type: IcebergType): type is string {
  return typeof type === "string";
}

/**
 * Builds an Iceberg schema from column definitions, assigning field ids 1..n to columns and
 * then ids to list elements. `identifier` names required primitive columns (the primary key).
 */
export function buildSchema(columns: ColumnDef[], identifier: string[] = [], schemaId = 0, firstId = 1): { schema: Schema; lastColumnId: number } {
  if (columns.length === 0) throw new ValidationError("schema: at least one column is required");
  const seen = new Set<string>();
  let next = firstId;
  const fields: NestedField[] = columns.map((c) => {
    if (!c.name) throw new ValidationError("schema: every column needs a name");
    if (seen.has(c.name)) throw new ValidationError(`schema: duplicate column "${c.name}"`);
    seen.add(c.name);
    return { id: next++, name: c.name, required: !!c.required, type: "" as IcebergType, ...(c.doc ? { doc: c.doc } : {}) };
  });
  columns.forEach((c, i) => {
    const r = toIcebergType(c.type, `column "${c.name}"`, next);
    fields[i].type = r.type;
    next = r.next;
  });
  const ids = identifier.map((name) => {
    const f = fields.find((x) => x.name === name);
    if (!f) throw new ValidationError(`schema: identifier column "${name}" is not a column; columns are ${fields.map((x) => x.name).join(", ")}`);
    if (!f.required) throw new ValidationError(`schema: identifier column "${name}" must be required (NOT NULL)`);
    if (!isPrimitive(f.type) || ["float", "double"].includes(f.type)) {
      throw new ValidationError(
        `schema: identifier column "${name}" has type ${JSON.stringify(f.type)}; identifier fields must be primitive and not float/double`,
      );
    }
    return f.id;
  });
  const schema: Schema = { type: "struct", "schema-id": schemaId, fields };
  if (ids.length > 0) schema["identifier-field-ids"] = ids;
  return { schema, lastColumnId: next - 1 };
}

/** Converts a user ColumnType to an Iceberg type, assigning ids to nested fields from `next`. */
export function toIcebergType(t: ColumnType, where: string, next: number): { type: IcebergType; next: number } {
  if (typeof t === "string") return { type: primitiveName(parsePrimitive(t, where)), next };
  if (t && typeof t === "object" && "list" in t) {
    if (typeof t.list !== "string") throw new ValidationError(`${where}: only lists of primitives are supported, got ${JSON.stringify(t.list)}`);
    const element = primitiveName(parsePrimitive(t.list, `${where} element`));
    const list: ListType = { type: "list", "element-id": next, element, "element-required": !!t.elementRequired };
    return { type: list, next: next + 1 };
  }
  throw new ValidationError(`${where}: unsupported type ${JSON.stringify(t)}`);
}

/** Validates a schema read from metadata or given by a caller: every type must be writable. */
export function assertWritableSchema(schema: Schema): void {
  for (const f of schema.fields) {
    if (isPrimitive(f.type)) parsePrimitive(f.type, `column "${f.name}"`);
    else if (f.type.type === "list" && isPrimitive(f.type.element)) parsePrimitive(f.type.element, `column "${f.name}" element`);
    else throw new ValidationError(`column "${f.name}": unsupported type ${JSON.stringify(f.type)}; the writer supports primitives and lists of primitives`);
  }
}

/** Whether a column of type `from` may be promoted to `to` (Iceberg type promotion rules). */
export function canPromote(from: string, to: string): boolean {
  const a = parsePrimitive(from);
  const b = parsePrimitive(to);
  if (primitiveName(a) === primitiveName(b)) return true;
  if (a.kind === "int" && b.kind === "long") return true;
  if (a.kind === "float" && b.kind === "double") return true;
  if (a.kind === "decimal" && b.kind === "decimal") return a.scale === b.scale && b.precision >= a.precision;
  return false;
}

/** Highest field id used anywhere in a schema (columns and nested elements). */
export function maxFieldId(schema: Schema): number {
  let max = 0;
  const visit = (t: IcebergType) => {
    if (typeof t === "string") return;
    if (t.type === "list") {
      max = Math.max(max, t["element-id"]);
      visit(t.element);
    } else if (t.type === "map") {
      max = Math.max(max, t["key-id"], t["value-id"]);
      visit(t.key);
      visit(t.value);
    } else
      for (const f of t.fields) {
        max = Math.max(max, f.id);
        visit(f.type);
      }
  };
  visit(schema);
  return max;
}
