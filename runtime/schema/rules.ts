/**
 * The schema policy rules. Each rule looks at one parsed statement (plus what the file did before
 * it) and returns messages. Families follow Atlas's analyzers (destructive, backward-incompatible,
 * data-dependent, concurrent-index), squawk's Postgres rules, and floe's own CDC rules (changes the
 * CDC writer and the upgrade cutover cannot follow).
 */
import { Statement, UNVERIFIABLE } from "./parse";
import {
  calledFunctions,
  cmds,
  columnTypes,
  constraints,
  isNew,
  LOCKING_KINDS,
  relKey,
  relName,
  SLOT_FUNCTIONS,
  typeName,
  volatileCall,
  type FileContext,
} from "./rule-ast";

export type { FileContext };
export { relName, typeName };

export type Severity = "error" | "warn" | "off";

export interface Rule {
  id: string;
  family: "destructive" | "backward-incompatible" | "data-dependent" | "concurrent-index" | "locking" | "types" | "transactions" | "unverifiable" | "cdc";
  /** Severity under the default policy. */
  defaultSeverity: Exclude<Severity, "off">;
  summary: string;
  /** How to make the change safely. */
  hint: string;
  /** Messages for this statement (empty when the rule does not fire). */
  check(s: Statement, ctx: FileContext): string[];
  /** Findings about the file as a whole, reported at a statement, once every statement was seen. */
  atEnd?(ctx: FileContext): { at: Statement; message: string }[];
}

// ---- the rules ---------------------------------------------------------------------------------

export const RULES: Rule[] = [
  // Destructive (Atlas DS1xx, squawk ban-drop-*)
  {
    id: "ban-drop-database",
    family: "destructive",
    defaultSeverity: "error",
    summary: "DROP DATABASE in a migration",
    hint: "Drop databases by hand, outside migrations, after a backup.",
    check: (s) => (s.kind === "DropdbStmt" ? [`drops database "${s.node.dbname}"`] : []),
  },
  {
    id: "drop-schema",
    family: "destructive",
    defaultSeverity: "error",
    summary: "DROP SCHEMA (Atlas DS101)",
    hint: "Stop all readers and the CDC pipeline for the schema first, then drop it in a separate, reviewed migration.",
    check: (s) =>
      s.kind === "DropStmt" && s.node.removeType === "OBJECT_SCHEMA"
        ? (s.node.objects ?? []).map((o: any) => `drops schema "${o.String?.sval ?? "?"}"${s.node.behavior === "DROP_CASCADE" ? " with CASCADE" : ""}`)
        : [],
  },
  {
    id: "drop-table",
    family: "destructive",
    defaultSeverity: "error",
    summary: "DROP TABLE (Atlas DS102)",
    hint: "Remove the table from the publication and stop readers first; keep the data (rename to a _deprecated table) until consumers have moved.",
    check: (s) =>
      s.kind === "DropStmt" && s.node.removeType === "OBJECT_TABLE"
        ? (s.node.objects ?? []).map((o: any) => `drops table "${(o.List?.items ?? []).map((i: any) => i.String?.sval).join(".")}"`)
        : [],
  },
  {
    id: "drop-column",
    family: "destructive",
    defaultSeverity: "error",
    summary: "ALTER TABLE ... DROP COLUMN (Atlas DS103, squawk ban-drop-column)",
    hint: "Stop writing and reading the column first (deploy code that ignores it), then drop it in a later migration with an opt-out comment.",
    check: (s) =>
      cmds(s)
        .filter((c) => c.subtype === "AT_DropColumn")
        .map((c) => `drops column "${c.name}" of "${relName(s.node.relation)}"`),
  },
  // Backward incompatible (Atlas BC1xx)
  {
    id: "renaming-table",
    family: "backward-incompatible",
    defaultSeverity: "error",
    summary: "ALTER TABLE ... RENAME TO or SET SCHEMA (Atlas BC101)",
    hint: "Create the new table (or a view with the new name), dual-write, move readers, then drop the old name.",
    check: (s) => {
      if (s.kind === "RenameStmt" && s.node.renameType === "OBJECT_TABLE") return [`renames table "${relName(s.node.relation)}" to "${s.node.newname}"`];
      if (s.kind === "AlterObjectSchemaStmt" && s.node.objectType === "OBJECT_TABLE")
        return [`moves table "${relName(s.node.relation)}" to schema "${s.node.newschema}"`];
      return [];
    },
  },
  {
    id: "renaming-column",
    family: "backward-incompatible",
    defaultSeverity: "error",
    summary: "ALTER TABLE ... RENAME COLUMN (Atlas BC102)",
    hint: "Add the new column, backfill and dual-write, move readers, then drop the old one. Iceberg consumers see a rename as drop + add.",
    check: (s) =>
      s.kind === "RenameStmt" && s.node.renameType === "OBJECT_COLUMN" && s.node.relationType === "OBJECT_TABLE"
        ? [`renames column "${s.node.subname}" of "${relName(s.node.relation)}" to "${s.node.newname}"`]
        : [],
  },
  {
    id: "ban-drop-not-null",
    family: "backward-incompatible",
    defaultSeverity: "warn",
    summary: "ALTER COLUMN ... DROP NOT NULL",
    hint: "Consumers may rely on the column never being NULL; make sure every reader handles NULL before dropping the constraint.",
    check: (s) =>
      cmds(s)
        .filter((c) => c.subtype === "AT_DropNotNull")
        .map((c) => `column "${c.name}" of "${relName(s.node.relation)}" may become NULL`),
  },
  // Data-dependent (Atlas MF1xx)
  {
    id: "adding-required-field",
    family: "data-dependent",
    defaultSeverity: "error",
    summary: "ADD COLUMN ... NOT NULL without a DEFAULT (Atlas MF103)",
    hint: "Add the column nullable (or with a non-volatile DEFAULT), backfill, then add NOT NULL through a NOT VALID CHECK constraint.",
    check: (s, ctx) =>
      isNew(s.node.relation, ctx)
        ? []
        : cmds(s)
            .filter((c) => c.subtype === "AT_AddColumn")
            .filter((c) => {
              const cs = constraints(c.def?.ColumnDef);
              const notNull = cs.some((x) => x.contype === "CONSTR_NOTNULL" || x.contype === "CONSTR_PRIMARY");
              const filled = cs.some((x) => ["CONSTR_DEFAULT", "CONSTR_GENERATED", "CONSTR_IDENTITY"].includes(x.contype));
              const serial = /serial$/.test(typeName(c.def?.ColumnDef?.typeName).name);
              return notNull && !filled && !serial;
            })
            .map((c) => `adds required column "${c.def.ColumnDef.colname}" to "${relName(s.node.relation)}": fails on any existing row`),
  },
  {
    id: "setting-not-null",
    family: "data-dependent",
    defaultSeverity: "error",
    summary: "ALTER COLUMN ... SET NOT NULL on an existing table (Atlas MF104)",
    hint: "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a separate migration, then SET NOT NULL (it uses the valid check and skips the scan).",
    check: (s, ctx) =>
      isNew(s.node.relation, ctx)
        ? []
        : cmds(s)
            .filter((c) => c.subtype === "AT_SetNotNull")
            .map((c) => `sets "${c.name}" of "${relName(s.node.relation)}" NOT NULL: fails if any row is NULL, scans under an ACCESS EXCLUSIVE lock`),
  },
  {
    id: "adding-unique-index",
    family: "data-dependent",
    defaultSeverity: "warn",
    summary: "CREATE UNIQUE INDEX on an existing table (Atlas MF101)",
    hint: "Check for duplicates first (GROUP BY ... HAVING count(*) > 1); build it CONCURRENTLY.",
    check: (s, ctx) =>
      s.kind === "IndexStmt" && s.node.unique && !isNew(s.node.relation, ctx)
        ? [`unique index on "${relName(s.node.relation)}" fails if existing rows have duplicates`]
        : [],
  },
  {
    id: "disallowed-unique-constraint",
    family: "data-dependent",
    defaultSeverity: "error",
    summary: "ADD CONSTRAINT ... UNIQUE without USING INDEX (squawk)",
    hint: "CREATE UNIQUE INDEX CONCURRENTLY first, then ALTER TABLE ... ADD CONSTRAINT name UNIQUE USING INDEX idx.",
    check: (s, ctx) =>
      isNew(s.node.relation, ctx)
        ? []
        : cmds(s)
            .filter((c) => c.subtype === "AT_AddConstraint" && c.def?.Constraint?.contype === "CONSTR_UNIQUE" && !c.def.Constraint.indexname)
            .map(() => `builds a unique index on "${relName(s.node.relation)}" under an ACCESS EXCLUSIVE lock`),
  },
  {
    id: "changing-column-type",
    family: "data-dependent",
    defaultSeverity: "error",
    summary: "ALTER COLUMN ... TYPE (squawk changing-column-type)",
    hint: "Most type changes rewrite the table under an ACCESS EXCLUSIVE lock and change what CDC consumers decode: add a new column, backfill, switch readers, drop the old one.",
    check: (s, ctx) =>
      cmds(s)
        .filter((c) => c.subtype === "AT_AlterColumnType" && !isNew(s.node.relation, ctx))
        .map((c) => `changes the type of "${c.name}" of "${relName(s.node.relation)}" to ${typeName(c.def?.ColumnDef?.typeName).name}`),
  },
  {
    id: "type-change-may-truncate",
    family: "data-dependent",
    defaultSeverity: "error",
    summary: "type change to a bounded type or with a USING expression (may truncate, round or fail)",
    hint: "Check the data fits first (max(length(col)), max(scale)), or run `floe schema check` against a branch of production.",
    check: (s, ctx) =>
      cmds(s)
        .filter((c) => c.subtype === "AT_AlterColumnType" && !isNew(s.node.relation, ctx))
        .flatMap((c) => {
          const t = typeName(c.def?.ColumnDef?.typeName);
          const why: string[] = [];
          if (t.mods.length) why.push(`${t.name}(${t.mods.join(",")}) is bounded`);
          if (["int2", "int4", "float4", "bpchar", "char"].includes(t.name)) why.push(`${t.name} is narrow`);
          if (c.def?.ColumnDef?.raw_default) why.push("a USING expression rewrites the values");
          return why.length ? [`"${c.name}" of "${relName(s.node.relation)}": ${why.join("; ")}`] : [];
        }),
  },
  // Concurrent index (Atlas PG1xx, squawk require-concurrent-index-*)
  {
    id: "require-concurrent-index-creation",
    family: "concurrent-index",
    defaultSeverity: "error",
    summary: "CREATE INDEX without CONCURRENTLY on an existing table",
    hint: "Use CREATE INDEX CONCURRENTLY (outside a transaction block); it does not block writes.",
    check: (s, ctx) =>
      s.kind === "IndexStmt" && !s.node.concurrent && !isNew(s.node.relation, ctx)
        ? [`index on "${relName(s.node.relation)}" blocks writes while it builds`]
        : [],
  },
  {
    id: "require-concurrent-index-deletion",
    family: "concurrent-index",
    defaultSeverity: "error",
    summary: "DROP INDEX without CONCURRENTLY",
    hint: "Use DROP INDEX CONCURRENTLY (outside a transaction block).",
    check: (s) =>
      s.kind === "DropStmt" && s.node.removeType === "OBJECT_INDEX" && !s.node.concurrent ? [`DROP INDEX takes an ACCESS EXCLUSIVE lock on the table`] : [],
  },
  {
    id: "ban-concurrent-index-creation-in-transaction",
    family: "concurrent-index",
    defaultSeverity: "error",
    summary: "CREATE/DROP INDEX CONCURRENTLY inside BEGIN ... COMMIT",
    hint: "Move the concurrent index statement out of the transaction block (its own migration file).",
    check: (s, ctx) =>
      ctx.inTransaction &&
      ((s.kind === "IndexStmt" && s.node.concurrent) || (s.kind === "DropStmt" && s.node.removeType === "OBJECT_INDEX" && s.node.concurrent))
        ? ["CONCURRENTLY cannot run inside a transaction block"]
        : [],
  },
  // Locking (squawk)
  {
    id: "constraint-missing-not-valid",
    family: "locking",
    defaultSeverity: "error",
    summary: "ADD CONSTRAINT (CHECK / FOREIGN KEY) without NOT VALID on an existing table",
    hint: "ADD CONSTRAINT ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a separate migration (it only takes a SHARE UPDATE EXCLUSIVE lock).",
    check: (s, ctx) =>
      isNew(s.node.relation, ctx)
        ? []
        : cmds(s)
            .filter(
              (c) =>
                c.subtype === "AT_AddConstraint" &&
                ["CONSTR_CHECK", "CONSTR_FOREIGN"].includes(c.def?.Constraint?.contype) &&
                !c.def.Constraint.skip_validation,
            )
            .map(
              (c) =>
                `${c.def.Constraint.contype === "CONSTR_FOREIGN" ? "foreign key" : "check"} constraint ${c.def.Constraint.conname ? `"${c.def.Constraint.conname}" ` : ""}scans "${relName(s.node.relation)}" while holding its lock`,
            ),
  },
  {
    id: "adding-field-with-volatile-default",
    family: "locking",
    defaultSeverity: "error",
    summary: "ADD COLUMN with a volatile DEFAULT (rewrites the table)",
    hint: "Add the column without a default (or a constant one), then backfill in batches.",
    check: (s, ctx) =>
      isNew(s.node.relation, ctx)
        ? []
        : cmds(s)
            .filter((c) => c.subtype === "AT_AddColumn")
            .flatMap((c) => {
              const d = constraints(c.def?.ColumnDef).find((x) => x.contype === "CONSTR_DEFAULT");
              const fn = d && volatileCall(d.raw_expr);
              return fn ? [`default ${fn}() on "${c.def.ColumnDef.colname}" rewrites "${relName(s.node.relation)}" under an ACCESS EXCLUSIVE lock`] : [];
            }),
  },
  {
    id: "require-lock-timeout",
    family: "locking",
    defaultSeverity: "warn",
    summary: "locking statement on an existing table without SET lock_timeout",
    hint: "Start the migration with SET lock_timeout = '2s' so a blocked ALTER does not queue every other query behind it.",
    check: (s, ctx) => {
      if (ctx.lockTimeoutSet || ctx.lockTimeoutReported || s.nested || !LOCKING_KINDS.has(s.kind)) return [];
      if ((s.kind === "IndexStmt" || s.kind === "DropStmt") && s.node.concurrent) return [];
      if (s.kind === "DropStmt" && !["OBJECT_TABLE", "OBJECT_INDEX"].includes(s.node.removeType)) return [];
      if (s.kind === "AlterTableStmt" && s.node.objtype !== "OBJECT_TABLE") return [];
      if (s.kind === "RenameStmt" && !s.node.relation) return [];
      if (s.node.relation && isNew(s.node.relation, ctx)) return [];
      ctx.lockTimeoutReported = true;
      return ["no lock_timeout is set before the first locking statement"];
    },
  },
  // Types (squawk)
  {
    id: "prefer-bigint-over-int",
    family: "types",
    defaultSeverity: "warn",
    summary: "int / smallint / serial columns (squawk prefer-bigint-over-int, prefer-bigint-over-smallint)",
    hint: "Use bigint (or bigint GENERATED ... AS IDENTITY): running out of 32-bit ids needs a rewrite of the table.",
    check: (s) =>
      columnTypes(s)
        .filter(({ type }) => ["int2", "int4", "serial", "serial4", "smallserial", "serial2", "smallint", "integer", "int"].includes(typeName(type).name))
        .map(({ column, type }) => `column "${column}" is ${typeName(type).name}`),
  },
  {
    id: "prefer-identity",
    family: "types",
    defaultSeverity: "warn",
    summary: "serial columns",
    hint: "Use bigint GENERATED ALWAYS AS IDENTITY: serial's sequence has separate ownership and permissions, and is not carried by logical replication either way.",
    check: (s) =>
      columnTypes(s)
        .filter(({ type }) => ["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"].includes(typeName(type).name))
        .map(({ column, type }) => `column "${column}" is ${typeName(type).name}`),
  },
  {
    id: "ban-char-field",
    family: "types",
    defaultSeverity: "error",
    summary: "char(n) columns",
    hint: "Use text (with a CHECK on length if needed): char(n) pads with spaces.",
    check: (s) =>
      columnTypes(s)
        .filter(({ type }) => typeName(type).name === "bpchar")
        .map(({ column }) => `column "${column}" is char(n)`),
  },
  {
    id: "prefer-text-field",
    family: "types",
    defaultSeverity: "warn",
    summary: "varchar(n) columns",
    hint: "Use text with a CHECK (length(col) <= n): changing a varchar limit later takes an ACCESS EXCLUSIVE lock.",
    check: (s) =>
      columnTypes(s)
        .filter(({ type }) => typeName(type).name === "varchar" && typeName(type).mods.length > 0)
        .map(({ column, type }) => `column "${column}" is varchar(${typeName(type).mods[0]})`),
  },
  {
    id: "prefer-timestamptz",
    family: "types",
    defaultSeverity: "warn",
    summary: "timestamp without time zone",
    hint: "Use timestamptz: Iceberg maps it to timestamptz and values stay unambiguous across time zones.",
    check: (s) =>
      columnTypes(s)
        .filter(({ type }) => typeName(type).name === "timestamp")
        .map(({ column }) => `column "${column}" is timestamp without time zone`),
  },
  {
    id: "ban-create-domain-with-constraint",
    family: "types",
    defaultSeverity: "warn",
    summary: "CREATE DOMAIN with a CHECK constraint",
    hint: "Domain constraints are hard to change later (ALTER DOMAIN ADD CONSTRAINT scans every table using it); use table CHECK constraints.",
    check: (s) =>
      s.kind === "CreateDomainStmt" && (s.node.constraints ?? []).some((c: any) => c.Constraint?.contype === "CONSTR_CHECK")
        ? [`domain with a CHECK constraint`]
        : [],
  },
  {
    id: "ban-alter-domain-with-add-constraint",
    family: "types",
    defaultSeverity: "error",
    summary: "ALTER DOMAIN ... ADD CONSTRAINT",
    hint: "It validates every column using the domain while holding locks; use NOT VALID, or table CHECK constraints.",
    check: (s) =>
      s.kind === "AlterDomainStmt" && s.node.subtype === "C" && !s.node.def?.Constraint?.skip_validation
        ? ["adds a domain constraint, validating every column that uses it"]
        : [],
  },
  // Transactions (squawk transaction-nesting)
  {
    id: "transaction-nesting",
    family: "transactions",
    defaultSeverity: "error",
    summary: "BEGIN inside a transaction, or COMMIT/ROLLBACK without BEGIN",
    hint: "The gate applies each migration in one transaction: leave BEGIN/COMMIT out, or pair them exactly once.",
    check: (s, ctx) => {
      if (s.kind !== "TransactionStmt") return [];
      const k = s.node.kind;
      if ((k === "TRANS_STMT_BEGIN" || k === "TRANS_STMT_START") && ctx.inTransaction) return ["BEGIN inside an open transaction"];
      if ((k === "TRANS_STMT_COMMIT" || k === "TRANS_STMT_ROLLBACK") && !ctx.inTransaction)
        return [`${k === "TRANS_STMT_COMMIT" ? "COMMIT" : "ROLLBACK"} without a BEGIN`];
      return [];
    },
  },
  {
    id: "ban-uncommitted-transaction",
    family: "transactions",
    defaultSeverity: "error",
    summary: "BEGIN without a COMMIT by the end of the file",
    hint: "End the transaction block with COMMIT (or leave BEGIN out: the gate applies each file in one transaction).",
    check: () => [],
    atEnd: (ctx) => (ctx.openBegin ? [{ at: ctx.openBegin, message: "the transaction opened here is never committed" }] : []),
  },
  // What the gate cannot see: a statement it cannot check could be any of the above.
  {
    id: "dynamic-sql",
    family: "unverifiable",
    defaultSeverity: "error",
    summary: "SQL the gate cannot verify: EXECUTE of a string built at run time, a DO block or called function in another language or that does not parse",
    hint:
      "Write the statement as plain SQL (or EXECUTE a constant string) so the gate can check it. If it must stay dynamic, " +
      "opt out with a reason (-- floe:allow dynamic-sql <reason>) on the EXECUTE line or before the DO block / CREATE FUNCTION, and let `floe schema check` try it on a branch.",
    check: (s) => (s.kind === UNVERIFIABLE ? [`cannot verify ${s.node.what}: ${s.node.detail}`] : []),
  },
  // floe CDC rules: what the CDC writer and the upgrade cutover cannot follow
  {
    id: "cdc-primary-key-change",
    family: "cdc",
    defaultSeverity: "error",
    summary: "adding, dropping or replacing a table's primary key",
    hint: "The CDC writer keys Iceberg deletes/updates by the replica identity (the primary key): create a new table with the new key and migrate, or pause CDC and resnapshot the table.",
    check: (s, ctx) => {
      const out: string[] = [];
      for (const c of cmds(s)) {
        const con = c.def?.Constraint;
        if (c.subtype === "AT_AddConstraint" && con?.contype === "CONSTR_PRIMARY" && !isNew(s.node.relation, ctx))
          out.push(`adds a primary key to "${relName(s.node.relation)}"`);
        if (c.subtype === "AT_DropConstraint" && /_pkey$|^pk_|_pk$/i.test(c.name ?? ""))
          out.push(`drops constraint "${c.name}" (the primary key) of "${relName(s.node.relation)}"`);
      }
      return out;
    },
  },
  {
    id: "cdc-replica-identity",
    family: "cdc",
    defaultSeverity: "error",
    summary: "ALTER TABLE ... REPLICA IDENTITY",
    hint: "Changing the replica identity changes what UPDATE/DELETE carry in the WAL; coordinate with the CDC writer (resnapshot) instead of changing it in a migration.",
    check: (s) =>
      cmds(s)
        .filter((c) => c.subtype === "AT_ReplicaIdentity")
        .map(
          (c) =>
            `sets replica identity ${({ d: "DEFAULT", f: "FULL", n: "NOTHING", i: "USING INDEX" } as Record<string, string>)[c.def?.ReplicaIdentityStmt?.identity_type] ?? "?"} on "${relName(s.node.relation)}"`,
        ),
  },
  {
    id: "cdc-publication-change",
    family: "cdc",
    defaultSeverity: "error",
    summary: "removing tables from (or dropping) a publication",
    hint: "Publications are owned by the platform (CdcPipeline): change the pipeline's table list instead of the publication.",
    check: (s) => {
      if (s.kind === "AlterPublicationStmt" && (s.node.action === "AP_DropObjects" || s.node.action === "AP_SetObjects"))
        return [`${s.node.action === "AP_DropObjects" ? "drops tables from" : "replaces the table list of"} publication "${s.node.pubname}"`];
      if (s.kind === "DropStmt" && s.node.removeType === "OBJECT_PUBLICATION")
        return [`drops publication ${(s.node.objects ?? []).map((o: any) => `"${o.String?.sval}"`).join(", ")}`];
      return [];
    },
  },
  {
    id: "cdc-type-change",
    family: "cdc",
    defaultSeverity: "error",
    summary: "DROP or ALTER of a type or domain (enum values, composite attributes)",
    hint: "Replicated columns of this type decode differently afterwards: add new enum values only (ALTER TYPE ... ADD VALUE), never rename or drop them.",
    check: (s) => {
      if (s.kind === "DropStmt" && (s.node.removeType === "OBJECT_TYPE" || s.node.removeType === "OBJECT_DOMAIN"))
        return [`drops ${s.node.removeType === "OBJECT_TYPE" ? "type" : "domain"}`];
      if (s.kind === "AlterEnumStmt" && s.node.oldVal) return [`renames enum value '${s.node.oldVal}' to '${s.node.newVal}'`];
      if (s.kind === "RenameStmt" && ["OBJECT_TYPE", "OBJECT_ATTRIBUTE", "OBJECT_DOMAIN"].includes(s.node.renameType))
        return [`renames a type or one of its attributes`];
      if (s.kind === "AlterTableStmt" && s.node.objtype === "OBJECT_TYPE") return [`alters the attributes of a composite type`];
      return [];
    },
  },
  {
    id: "cdc-replication-slot",
    family: "cdc",
    defaultSeverity: "error",
    summary: "dropping, advancing or copying replication slots (or origins) from a migration",
    hint: "Replication slots belong to the CDC writer and the upgrade orchestrator: manage them with floe, never from a migration.",
    check: (s) =>
      calledFunctions(s.node)
        .filter((f) => SLOT_FUNCTIONS.has(f))
        .map((f) => `calls ${f}()`),
  },
  {
    id: "cdc-truncate",
    family: "cdc",
    defaultSeverity: "error",
    summary: "TRUNCATE in a migration",
    hint: "TRUNCATE empties the Iceberg table downstream too and takes an ACCESS EXCLUSIVE lock; delete in batches, or do it by hand, not in a migration.",
    check: (s) =>
      s.kind === "TruncateStmt"
        ? [
            `truncates ${(s.node.relations ?? []).map((r: any) => `"${relName(r.RangeVar)}"`).join(", ")}${s.node.behavior === "DROP_CASCADE" ? " with CASCADE" : ""}`,
          ]
        : [],
  },
  {
    id: "cdc-unlogged-table",
    family: "cdc",
    defaultSeverity: "error",
    summary: "unlogged tables (not in the WAL, so never replicated)",
    hint: "Keep replicated tables logged; use a separate schema outside the publication for scratch data.",
    check: (s) => {
      if (s.kind === "CreateStmt" && s.node.relation?.relpersistence === "u") return [`creates unlogged table "${relName(s.node.relation)}"`];
      return cmds(s)
        .filter((c) => c.subtype === "AT_SetUnLogged")
        .map(() => `sets "${relName(s.node.relation)}" UNLOGGED`);
    },
  },
];

export const RULE_IDS = RULES.map((r) => r.id);

export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}

/** Updates the file context after a statement has been checked. */
export function advanceContext(s: Statement, ctx: FileContext): void {
  if (s.kind === "CreateStmt" && s.node.relation) ctx.createdTables.add(relKey(s.node.relation));
  if (s.kind === "CreateTableAsStmt" && s.node.into?.rel) ctx.createdTables.add(relKey(s.node.into.rel));
  if (s.kind === "TransactionStmt") {
    const k = s.node.kind;
    if ((k === "TRANS_STMT_BEGIN" || k === "TRANS_STMT_START") && !ctx.inTransaction) {
      ctx.inTransaction = true;
      ctx.openBegin = s;
    }
    if (k === "TRANS_STMT_COMMIT" || k === "TRANS_STMT_ROLLBACK") {
      ctx.inTransaction = false;
      ctx.openBegin = undefined;
    }
  }
  if (s.kind === "VariableSetStmt" && String(s.node.name ?? "").toLowerCase() === "lock_timeout") ctx.lockTimeoutSet = true;
}
