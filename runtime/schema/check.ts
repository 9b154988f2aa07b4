/**
 * `floe schema check`: the second half of the gate. Lint first; then branch the target database,
 * apply the migrations to the branch, and validate what they did to the data:
 *   - no table lost rows, no column lost non-NULL values;
 *   - a column whose type changed still holds the same values (each value cast back to the old type
 *     compares equal: catches truncation, rounding, overflow-to-NULL);
 *   - every constraint is valid (NOT VALID ones are validated on the branch) and every index usable;
 *   - every table that was published is still in its publication;
 *   - changes to the published tables still decode through pgoutput (a temporary logical slot on the
 *     branch, one UPDATE per table, pg_logical_slot_peek_binary_changes, Relation + Update messages).
 * The branch is deleted in every case (unless keepBranch). Fingerprints scan each table once
 * (count, count(col), and the sum of 64-bit hashes of the text values per column, which is
 * order-independent and needs constant memory): time grows with the data size.
 */
import { readFileSync } from "node:fs";
import { Client } from "pg";
import { createLogger } from "../core/log";
import { BranchInterrupted, BranchStrategy, cancelBackend, createBranch, deleteBranch, redact } from "./branch";
import { formatText as formatLintText, lintFiles, LintReport, migrationFiles, Policy } from "./lint";
import { parseMigration } from "./parse";
import { Message, PgoutputDecoder, Tuple } from "../cdc/pgoutput";
import { COLUMNS_SQL, mapColumn, PgColumn } from "../cdc/types";

const log = createLogger({ component: "schema-check" });

export interface CheckOptions {
  /** URL of the database to branch (the parent). */
  url: string;
  files: string[];
  policy?: Policy;
  /** Keep the branch for inspection. Defaults to false (always deleted). */
  keepBranch?: boolean;
  /** How the branch is made (createBranch). Defaults to "instance" (never touches the parent's sessions), or "file_copy" with terminateConnections. */
  strategy?: BranchStrategy;
  /** Template strategies: terminate the parent's sessions instead of waiting for them. Defaults to false. */
  terminateConnections?: boolean;
  /** Stops the check: the running statement on the branch is cancelled, the branch deleted; rejects with BranchInterrupted. */
  signal?: AbortSignal;
}

export interface Validation {
  check: "apply" | "rows" | "nulls" | "values" | "constraints" | "indexes" | "publication" | "decode" | "dropped";
  severity: "error" | "warn" | "info";
  table?: string;
  column?: string;
  message: string;
}

export interface CheckResult {
  lint: LintReport;
  branch?: string;
  branchDeleted: boolean;
  branchMs?: number;
  /** "instance", "file_copy" or "wal_log". */
  branchStrategy?: string;
  /** Instance branches: the branch holds the parent's WAL before this LSN. */
  branchLsn?: string;
  applied: { file: string; transactional: boolean; ok: boolean; error?: string }[];
  validations: Validation[];
  /** 0 allowed, 1 refused (lint or validation), 2 unparsable input. */
  exitCode: 0 | 1 | 2;
}

interface ColumnSnap {
  attnum: number;
  name: string;
  type: string;
  /** A generated column: not sent by pgoutput, not updatable. */
  generated: boolean;
  /** GENERATED ALWAYS AS IDENTITY: cannot be set by an UPDATE. */
  identityAlways: boolean;
  nonNull: number;
  fingerprint: string | null;
}
interface TableSnap {
  oid: number;
  name: string;
  /** pg_class.relkind: 'r' table, 'p' partitioned table. */
  kind: string;
  rows: number;
  columns: Map<number, ColumnSnap>;
  published: string[];
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

async function userTables(c: Client): Promise<{ oid: number; name: string; schema: string; rel: string; kind: string }[]> {
  const r = await c.query(
    `SELECT c.oid::int AS oid, c.relkind AS kind, n.nspname AS schema, c.relname AS rel, format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY 1`,
  );
  return r.rows;
}

async function columns(c: Client, oid: number): Promise<{ attnum: number; name: string; type: string; generated: boolean; identityAlways: boolean }[]> {
  const r = await c.query(
    `SELECT attnum, attname AS name, format_type(atttypid, atttypmod) AS type,
            attgenerated <> '' AS generated, attidentity = 'a' AS "identityAlways" FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [oid],
  );
  return r.rows;
}

async function publications(c: Client): Promise<Map<number, string[]>> {
  const r = await c.query(`SELECT format('%I.%I', schemaname, tablename)::regclass::oid::int AS oid, pubname FROM pg_publication_tables`);
  const out = new Map<number, string[]>();
  for (const row of r.rows) out.set(row.oid, [...(out.get(row.oid) ?? []), row.pubname]);
  return out;
}

/** One scan per table: row count, non-NULL count and a fingerprint of the values per column. */
async function snapshot(c: Client, castBack?: Map<number, Map<number, string>>): Promise<Map<number, TableSnap>> {
  const pubs = await publications(c);
  const out = new Map<number, TableSnap>();
  for (const t of await userTables(c)) {
    const cols = await columns(c, t.oid);
    const exprs = ["count(*)::bigint AS rows"];
    cols.forEach((col, i) => {
      const cast = castBack?.get(t.oid)?.get(col.attnum);
      const v = cast ? `(${ident(col.name)}::${cast})::text` : `${ident(col.name)}::text`;
      // An order-independent multiset fingerprint in constant memory: the sum of 64-bit hashes.
      exprs.push(`count(${ident(col.name)})::bigint AS n${i}`, `coalesce(sum(hashtextextended(${v}, 0)::numeric), 0)::text AS f${i}`);
    });
    const row = (await c.query(`SELECT ${exprs.join(", ")} FROM ${t.name}`)).rows[0];
    const snap: TableSnap = { oid: t.oid, name: t.name, kind: t.kind, rows: Number(row.rows), columns: new Map(), published: pubs.get(t.oid) ?? [] };
    cols.forEach((col, i) => snap.columns.set(col.attnum, { ...col, nonNull: Number(row[`n${i}`]), fingerprint: row[`f${i}`] }));
    out.set(t.oid, snap);
  }
  return out;
}

/** Whether every statement of a file can run inside one transaction block. */
async function transactional(text: string, file: string): Promise<{ ok: boolean; statements: string[] }> {
  const stmts = (await parseMigration(text, file)).filter((s) => !s.nested);
  const ok = !stmts.some(
    (s) =>
      s.kind === "TransactionStmt" ||
      (s.kind === "IndexStmt" && s.node.concurrent) ||
      (s.kind === "DropStmt" && s.node.concurrent) ||
      s.kind === "CreatedbStmt" ||
      s.kind === "DropdbStmt" ||
      s.kind === "VacuumStmt" ||
      (s.kind === "ReindexStmt" && JSON.stringify(s.node).includes("concurrently")),
  );
  return { ok, statements: stmts.map((s) => s.text) };
}

export function compare(before: Map<number, TableSnap>, after: Map<number, TableSnap>): Validation[] {
  const v: Validation[] = [];
  for (const [oid, b] of before) {
    const a = after.get(oid);
    if (!a) {
      v.push({ check: "dropped", severity: "info", table: b.name, message: `table ${b.name} was dropped (${b.rows} rows), as the policy allowed` });
      continue;
    }
    if (a.rows < b.rows) v.push({ check: "rows", severity: "error", table: a.name, message: `${a.name} lost ${b.rows - a.rows} of ${b.rows} rows` });
    for (const [attnum, bc] of b.columns) {
      const ac = a.columns.get(attnum);
      if (!ac) {
        v.push({
          check: "dropped",
          severity: "info",
          table: a.name,
          column: bc.name,
          message: `column ${a.name}.${bc.name} was dropped (${bc.nonNull} values), as the policy allowed`,
        });
        continue;
      }
      if (ac.nonNull < bc.nonNull) {
        v.push({
          check: "nulls",
          severity: "error",
          table: a.name,
          column: ac.name,
          message: `${a.name}.${ac.name}: ${bc.nonNull - ac.nonNull} of ${bc.nonNull} values became NULL`,
        });
      } else if (a.rows >= b.rows && ac.fingerprint !== bc.fingerprint) {
        const retyped = ac.type !== bc.type;
        v.push({
          check: "values",
          severity: retyped ? "error" : "warn",
          table: a.name,
          column: ac.name,
          message: retyped
            ? `${a.name}.${ac.name}: the type change ${bc.type} -> ${ac.type} changed stored values (they no longer equal the originals cast back to ${bc.type}: truncated, rounded or rewritten)`
            : `${a.name}.${ac.name}: values were changed by the migration (same type ${ac.type})`,
        });
      }
    }
    for (const pub of b.published) {
      if (!a.published.includes(pub))
        v.push({
          check: "publication",
          severity: "error",
          table: a.name,
          message: `${a.name} is no longer in publication ${pub}: its changes stop flowing to the lake`,
        });
    }
  }
  return v;
}

const INVALID_CONSTRAINTS_SQL = `SELECT conrelid::regclass::text AS tbl, conname FROM pg_constraint
  WHERE NOT convalidated AND conrelid <> 0 AND connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)`;
const INVALID_INDEXES_SQL = `SELECT indrelid::regclass::text AS tbl, indexrelid::regclass::text AS idx FROM pg_index WHERE NOT indisvalid`;

/** NOT VALID constraints and invalid indexes that exist before the migration (not its doing). */
async function invalidObjects(c: Client): Promise<Set<string>> {
  const out = new Set<string>();
  for (const row of (await c.query(INVALID_CONSTRAINTS_SQL)).rows) out.add(`c:${row.tbl}:${row.conname}`);
  for (const row of (await c.query(INVALID_INDEXES_SQL)).rows) out.add(`i:${row.idx}`);
  return out;
}

async function validateConstraints(c: Client, preexisting: Set<string>): Promise<Validation[]> {
  const v: Validation[] = [];
  const invalid = await c.query(INVALID_CONSTRAINTS_SQL);
  for (const row of invalid.rows) {
    if (preexisting.has(`c:${row.tbl}:${row.conname}`)) continue;
    try {
      await c.query(`ALTER TABLE ${row.tbl} VALIDATE CONSTRAINT ${ident(row.conname)}`);
      v.push({ check: "constraints", severity: "info", table: row.tbl, message: `NOT VALID constraint ${row.conname} validates against the existing rows` });
    } catch (e) {
      v.push({
        check: "constraints",
        severity: "error",
        table: row.tbl,
        message: `constraint ${row.conname} does not hold for existing rows: ${(e as Error).message}`,
      });
    }
  }
  const badIdx = await c.query(INVALID_INDEXES_SQL);
  for (const row of badIdx.rows)
    if (!preexisting.has(`i:${row.idx}`)) v.push({ check: "indexes", severity: "error", table: row.tbl, message: `index ${row.idx} is invalid` });
  return v;
}

/** One UPDATE per published table on the branch, decoded through a temporary pgoutput slot. */
async function validateDecoding(c: Client, after: Map<number, TableSnap>, broken: Map<number, string>): Promise<Validation[]> {
  // Plain tables only: changes to a partitioned table are published under its partitions' oids.
  const published = [...after.values()].filter((t) => t.kind === "r" && t.published.length && t.rows > 0).slice(0, 20);
  if (!published.length) return [];
  const v: Validation[] = [];
  const walLevel = (await c.query("SHOW wal_level")).rows[0].wal_level;
  if (walLevel !== "logical") {
    return [
      {
        check: "decode",
        severity: "warn",
        message: `decoding not checked: wal_level is ${walLevel} on the branch's server (logical decoding needs wal_level = logical)`,
      },
    ];
  }
  const slot = `floe_check_${Math.random().toString(36).slice(2, 10)}`;
  const pubs = [...new Set(published.flatMap((t) => t.published))];
  // Not a temporary slot: those are dropped on the first error, and a failing UPDATE is a finding here.
  // The text forms the CDC writer's converters expect (runtime/cdc/types.ts SESSION_OPTIONS).
  await c.query("SET DateStyle = ISO, YMD; SET TimeZone = 'UTC'; SET IntervalStyle = iso_8601; SET extra_float_digits = 3; SET bytea_output = hex");
  await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
  try {
    return await decodeSample(c, slot, published, pubs, v, broken);
  } finally {
    await c.query("SELECT pg_drop_replication_slot($1)", [slot]);
  }
}

/** A no-op UPDATE of one row (the decode sample); undefined when no column can be set. */
function sampleUpdate(t: TableSnap): string | undefined {
  const col = [...t.columns.values()].find((x) => !x.generated && !x.identityAlways);
  return col && `UPDATE ${t.name} SET ${ident(col.name)} = ${ident(col.name)} WHERE ctid = (SELECT ctid FROM ${t.name} LIMIT 1)`;
}

/** Published tables whose sample UPDATE already fails before the migration (rolled back). */
async function failingBefore(c: Client, before: Map<number, TableSnap>): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const t of before.values()) {
    const sql = t.kind === "r" && t.published.length && t.rows > 0 ? sampleUpdate(t) : undefined;
    if (!sql) continue;
    await c.query("BEGIN");
    try {
      await c.query(sql);
    } catch (e) {
      out.set(t.oid, (e as Error).message);
    } finally {
      await c.query("ROLLBACK");
    }
  }
  return out;
}

async function decodeSample(
  c: Client,
  slot: string,
  published: TableSnap[],
  pubs: string[],
  v: Validation[],
  broken: Map<number, string>,
): Promise<Validation[]> {
  const touched: TableSnap[] = [];
  for (const t of published) {
    const sql = sampleUpdate(t);
    if (!sql) {
      v.push({ check: "decode", severity: "warn", table: t.name, message: `${t.name} has no column a no-op UPDATE can set; its decoding was not sampled` });
      continue;
    }
    try {
      await c.query(sql);
      touched.push(t);
    } catch (e) {
      const was = broken.get(t.oid);
      if (was)
        v.push({
          check: "decode",
          severity: "warn",
          table: t.name,
          message: `an UPDATE on ${t.name} already failed before the migration (${was}); its decoding was not sampled`,
        });
      else v.push({ check: "decode", severity: "error", table: t.name, message: `an UPDATE on ${t.name} fails after the migration: ${(e as Error).message}` });
    }
  }
  const r = await c.query(`SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`, [
    slot,
    pubs.join(","),
  ]);
  // Decode with the CDC writer's own decoder, then convert every new value with its type mapping.
  const decoder = new PgoutputDecoder();
  const relations = new Map<number, { name: string; columns: string[] }>();
  const updated = new Map<number, Tuple[]>();
  for (const { data } of r.rows as { data: Buffer }[]) {
    let m: Message;
    try {
      m = decoder.decode(data);
    } catch (e) {
      v.push({ check: "decode", severity: "error", message: `a pgoutput message does not decode: ${(e as Error).message}` });
      continue;
    }
    if (m.tag === "relation") relations.set(m.oid, { name: `${m.schema}.${m.name}`, columns: m.columns.map((x) => x.name) });
    if (m.tag === "update") updated.set(m.oid, [...(updated.get(m.oid) ?? []), m.newTuple]);
  }
  let decoded = 0;
  for (const t of touched) {
    const rel = relations.get(t.oid);
    const tuples = updated.get(t.oid) ?? [];
    if (!rel || !tuples.length) {
      v.push({
        check: "decode",
        severity: "error",
        table: t.name,
        message: `a change to ${t.name} did not come out of pgoutput (${rel ? "no Update message" : "no Relation message"})`,
      });
      continue;
    }
    // pgoutput leaves generated columns out (unless publish_generated_columns, Postgres 18).
    const want = [...t.columns.values()].filter((c2) => !c2.generated || rel.columns.includes(c2.name)).map((c2) => c2.name);
    if (want.join(",") !== rel.columns.join(",")) {
      v.push({
        check: "decode",
        severity: "error",
        table: t.name,
        message: `pgoutput describes ${t.name} with columns (${rel.columns.join(", ")}), the table has (${want.join(", ")})`,
      });
      continue;
    }
    const cols: PgColumn[] = (await c.query(COLUMNS_SQL, [t.name])).rows;
    let ok = true;
    cols.forEach((col) => {
      const i = rel.columns.indexOf(col.name);
      if (i < 0) return; // not replicated (generated)
      try {
        const mapped = mapColumn(col, t.name);
        for (const tuple of tuples) {
          const value = tuple[i];
          if (typeof value === "string") mapped.convert(value);
        }
      } catch (e) {
        ok = false;
        v.push({
          check: "decode",
          severity: "error",
          table: t.name,
          column: col.name,
          message: `${t.name}.${col.name}: the CDC writer cannot map the decoded value: ${(e as Error).message}`,
        });
      }
    });
    if (ok) decoded++;
  }
  if (decoded)
    v.push({
      check: "decode",
      severity: "info",
      message: `${decoded} sample change(s) decoded through pgoutput and the CDC writer's type mapping (publications ${pubs.join(", ")})`,
    });
  return v;
}

export async function checkMigrations(opts: CheckOptions): Promise<CheckResult> {
  const lint = await lintFiles(opts.files, opts.policy);
  const result: CheckResult = { lint, branchDeleted: false, applied: [], validations: [], exitCode: lint.exitCode };
  if (lint.exitCode !== 0) return result;
  const signal = opts.signal;
  const branch = await createBranch(opts.url, { strategy: opts.strategy, terminateConnections: opts.terminateConnections, signal });
  result.branch = branch.name;
  result.branchMs = branch.elapsedMs;
  result.branchStrategy = branch.strategy;
  if (branch.lsn) result.branchLsn = branch.lsn;
  const stopped = () => {
    if (signal?.aborted)
      throw new BranchInterrupted(`interrupted (${String(signal.reason?.message ?? signal.reason)}) while checking on branch ${branch.name}`, "checking");
  };
  let cancel: (() => void) | undefined;
  try {
    const c = new Client({ connectionString: branch.url });
    await c.connect();
    const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    // from the branch's own server: an instance branch is not on the parent's
    cancel = () => void cancelBackend(branch.url, pid, new URL(branch.url).pathname.slice(1));
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      stopped();
      const before = await snapshot(c);
      const preexisting = await invalidObjects(c);
      const broken = await failingBefore(c, before);
      for (const file of migrationFiles(opts.files)) {
        const text = readFileSync(file, "utf8");
        const plan = await transactional(text, file);
        try {
          if (plan.ok) {
            await c.query("BEGIN");
            try {
              await c.query(text);
              await c.query("COMMIT");
            } catch (e) {
              await c.query("ROLLBACK");
              throw e;
            }
          } else for (const s of plan.statements) await c.query(s);
          result.applied.push({ file, transactional: plan.ok, ok: true });
        } catch (e) {
          result.applied.push({ file, transactional: plan.ok, ok: false, error: (e as Error).message });
          stopped(); // a cancelled statement is the interruption, not the migration's failure
          result.validations.push({ check: "apply", severity: "error", message: `${file} fails on the branch: ${(e as Error).message}` });
          break;
        }
        stopped();
      }
      if (result.applied.every((a) => a.ok)) {
        // Compare each surviving column with its original; retyped columns are cast back first.
        const castBack = new Map<number, Map<number, string>>();
        const now = await snapshot(c);
        for (const [oid, b] of before) {
          const a = now.get(oid);
          if (!a) continue;
          for (const [attnum, bc] of b.columns) {
            const ac = a.columns.get(attnum);
            if (ac && ac.type !== bc.type) castBack.set(oid, (castBack.get(oid) ?? new Map()).set(attnum, bc.type));
          }
        }
        let after = now;
        if (castBack.size) {
          try {
            after = await snapshot(c, castBack);
          } catch (e) {
            result.validations.push({
              check: "values",
              severity: "error",
              message: `retyped values cannot be cast back to their old type to compare: ${(e as Error).message}`,
            });
          }
        }
        // Types as they are now (for messages), fingerprints as compared.
        for (const [oid, t] of after) for (const [attnum, col] of t.columns) col.type = now.get(oid)?.columns.get(attnum)?.type ?? col.type;
        result.validations.push(...compare(before, after));
        result.validations.push(...(await validateConstraints(c, preexisting)));
        result.validations.push(...(await validateDecoding(c, now, broken)));
      }
      stopped();
    } catch (e) {
      stopped(); // whatever a cancelled validation query threw, the cause is the interruption
      throw e;
    } finally {
      await c.end();
    }
  } finally {
    if (cancel) signal?.removeEventListener("abort", cancel);
    if (opts.keepBranch) log.warn("keeping the branch", { branch: branch.name, url: redact(branch.url) });
    else {
      await deleteBranch(opts.url, branch.name);
      result.branchDeleted = true;
    }
  }
  result.exitCode = result.validations.some((v) => v.severity === "error") ? 1 : 0;
  return result;
}

export function formatCheckText(r: CheckResult): string {
  const lines = [formatLintText(r.lint)];
  if (r.lint.exitCode !== 0) {
    lines.push("not applied to a branch: the policy refused the migration");
    return lines.join("\n");
  }
  lines.push(
    `branch ${r.branch} (${r.branchStrategy}${r.branchLsn ? `, the parent's WAL before ${r.branchLsn}` : ""}) created in ${r.branchMs} ms, ${r.branchDeleted ? "deleted afterwards" : "kept"}`,
  );
  for (const a of r.applied)
    lines.push(`applied ${a.file} ${a.transactional ? "in one transaction" : "statement by statement"}: ${a.ok ? "ok" : `FAILED: ${a.error}`}`);
  for (const v of r.validations) lines.push(`${v.severity.padEnd(5)} [${v.check}] ${v.message}`);
  lines.push(r.exitCode === 0 ? "check passed: allowed" : "check failed: refused");
  return lines.join("\n");
}
