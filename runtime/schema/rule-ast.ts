/**
 * What the schema rules (rules.ts) read from libpg-query's tree: relation and type names, the
 * ALTER TABLE commands of a statement, column types and constraints, volatile and called
 * functions; and the file context a rule sees.
 */
import { Statement } from "./parse";

/** What the file did before the statement being checked. */
export interface FileContext {
  /** Tables (schema-qualified as written, lower-cased) created earlier in this file: new tables are empty and unused. */
  createdTables: Set<string>;
  /** Inside an explicit BEGIN ... COMMIT written in the file. */
  inTransaction: boolean;
  /** `SET lock_timeout` appeared earlier in the file. */
  lockTimeoutSet: boolean;
  /** require-lock-timeout already reported for this file. */
  lockTimeoutReported: boolean;
  /** The BEGIN of the transaction block still open, if any. */
  openBegin?: Statement;
}

// ---- AST helpers -------------------------------------------------------------------------------

export function relName(rv: any): string {
  if (!rv) return "?";
  return [rv.schemaname, rv.relname].filter(Boolean).join(".");
}
export const relKey = (rv: any) => relName(rv).toLowerCase();
export const isNew = (rv: any, ctx: FileContext) => ctx.createdTables.has(relKey(rv));

export function cmds(s: Statement): any[] {
  if (s.kind !== "AlterTableStmt" || s.node.objtype !== "OBJECT_TABLE") return [];
  return (s.node.cmds ?? []).map((c: any) => c.AlterTableCmd).filter(Boolean);
}

/** Last part of a type name, lower-cased: pg_catalog.int4 -> int4, "timestamp" -> timestamp. */
export function typeName(tn: any): { name: string; mods: number[]; array: boolean } {
  const names: string[] = (tn?.names ?? []).map((n: any) => n.String?.sval ?? "");
  const mods: number[] = (tn?.typmods ?? []).map((m: any) => m.A_Const?.ival?.ival ?? 0);
  return { name: (names[names.length - 1] ?? "").toLowerCase(), mods, array: (tn?.arrayBounds ?? []).length > 0 };
}

/** Column definitions a statement introduces or retypes: CREATE TABLE, ADD COLUMN, ALTER COLUMN TYPE. */
export function columnTypes(s: Statement): { column: string; type: any }[] {
  const out: { column: string; type: any }[] = [];
  if (s.kind === "CreateStmt") {
    for (const e of s.node.tableElts ?? []) if (e.ColumnDef) out.push({ column: e.ColumnDef.colname, type: e.ColumnDef.typeName });
  }
  for (const c of cmds(s)) {
    if (c.subtype === "AT_AddColumn" && c.def?.ColumnDef) out.push({ column: c.def.ColumnDef.colname, type: c.def.ColumnDef.typeName });
    if (c.subtype === "AT_AlterColumnType" && c.def?.ColumnDef) out.push({ column: c.name, type: c.def.ColumnDef.typeName });
  }
  return out;
}

export function constraints(col: any): any[] {
  return (col?.constraints ?? []).map((c: any) => c.Constraint).filter(Boolean);
}

/** Functions whose default forces a table rewrite (volatile), after squawk's list. */
export const VOLATILE = new Set([
  "random",
  "gen_random_uuid",
  "uuid_generate_v1",
  "uuid_generate_v1mc",
  "uuid_generate_v4",
  "uuidv4",
  "uuidv7",
  "clock_timestamp",
  "timeofday",
  "nextval",
  "txid_current",
  "statement_timestamp",
  "setseed",
]);
export function volatileCall(expr: any): string | undefined {
  let hit: string | undefined;
  const walk = (n: any) => {
    if (hit || !n || typeof n !== "object") return;
    if (Array.isArray(n)) return n.forEach(walk);
    if (n.FuncCall) {
      const names = (n.FuncCall.funcname ?? []).map((x: any) => x.String?.sval ?? "");
      const fn = String(names[names.length - 1] ?? "").toLowerCase();
      if (VOLATILE.has(fn)) hit = fn;
    }
    for (const v of Object.values(n)) walk(v);
  };
  walk(expr);
  return hit;
}

/** Names of every function called anywhere in a node. */
export function calledFunctions(node: any): string[] {
  const out: string[] = [];
  const walk = (n: any) => {
    if (!n || typeof n !== "object") return;
    if (Array.isArray(n)) return n.forEach(walk);
    if (n.FuncCall) {
      const names = (n.FuncCall.funcname ?? []).map((x: any) => x.String?.sval ?? "");
      out.push(String(names[names.length - 1] ?? "").toLowerCase());
    }
    for (const v of Object.values(n)) walk(v);
  };
  walk(node);
  return out;
}

export const SLOT_FUNCTIONS = new Set([
  "pg_drop_replication_slot",
  "pg_replication_slot_advance",
  "pg_replication_origin_drop",
  "pg_copy_logical_replication_slot",
]);

export const LOCKING_KINDS = new Set(["AlterTableStmt", "IndexStmt", "RenameStmt", "DropStmt", "TruncateStmt"]);
