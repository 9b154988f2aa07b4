/**
 * `floe maintain`: inspect or run table maintenance on demand, for the tables a CDC config's writer
 * replicates (the writer itself maintains them between commits: runtime/cdc/maintenance.ts). Runs
 * beside a live writer safely: every step commits optimistically and retries, and the writer's
 * commits retry against it.
 */
import { parseArgs } from "node:util";
import { NoSuchNamespaceError, tableIdString, type Catalog, type TableIdentifier } from "../iceberg/catalog";
import type { MaintenanceStatus } from "../iceberg/maintenance-run";
import { maintenancePolicy, type MaintenancePolicy } from "../iceberg/maintenance-plan";
import { Table } from "../iceberg/table";
import { openCatalog } from "./catalog";
import { loadCdcConfig, type CdcConfig } from "./config";
import { isS3Tables, tablePolicy } from "./maintenance";

export const usage = `usage: floe maintain --config FILE [--table NAME]... [policy flags] [--run [--orphans] [--every DURATION]] [--json]

Shows the maintenance state of the Iceberg tables a CDC config replicates (every table of its
namespace, or the --table ones): snapshots, data files, delete files and deletion vectors,
manifests, bytes, the last compaction, and what a maintenance pass would do now. With --run, runs
one pass per table (compaction, manifest rewriting, snapshot expiry; --orphans adds the orphan
file scan), printing each step as it starts and ends (and every 10 s while a step runs).
Safe beside a running writer and other engines: every step commits optimistically and retries.

The policy is the config's maintenance section with its per-table overrides (docs/maintenance.md),
even where it turns maintenance off in the writer, then the policy flags below (for every table
named; durations are milliseconds or a number with ms, s, m, h or d).

options:
  --config FILE             CDC config (JSON; \${ENV} references are expanded)
  --table NAME              a table of the config's namespace (repeatable). Defaults to all of them.
  --run                     run a pass instead of only showing what it would do
  --orphans                 with --run: also delete unreferenced files older than the orphan min age
  --every DURATION          with --run: a pass every DURATION until SIGTERM / SIGINT
  --json                    one JSON document on one line of stdout (a line per pass with --every)
  --target-file-bytes N     compacted files aim at N bytes
  --min-input-files N       files merged at once per size tier
  --delete-ratio X          rewrite a data file once this fraction of its rows is deleted (0 < X <= 1)
  --converge-ratio X        rewrite a partition that fits in one file into one file once its deleted
                            rows plus the rows outside its largest file reach X of its rows (0 < X <= 1)
  --max-manifests N         merge the manifests of a snapshot with more than N
  --keep-snapshots N        snapshots kept (newest first)
  --max-snapshot-age DUR    snapshots older than this are expired (the current one never)
  --expired-file-grace DUR  data and delete files of expired snapshots are deleted this long after
                            the expiry (queries planned before it may still read them); the last
                            pass waits for them (progress on stderr) unless stopped by a signal
  --orphan-min-age DUR      with --orphans: only files older than this (at least 1h: younger files
                            may belong to a commit in flight)
  --help                    this text

Progress goes to stderr. Exit codes: 0 ok, 1 a table's maintenance failed (the others still ran),
2 bad usage, config or table name, or --run against S3 Tables (it maintains its tables itself).`;

/** A duration flag: milliseconds, or a number with a unit (ms, s, m, h, d). */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} takes a duration such as 30000, 90s, 15m, 12h or 7d (got "${text}")`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "ms") as "ms"];
  return Math.round(Number(m[1]) * unit);
}

export class UsageError extends Error {}

/** Orphans younger than this may be files of a commit in flight (a writer's or another engine's). */
export const MIN_ORPHAN_AGE_MS = 3_600_000;

const POLICY_FLAGS = {
  "target-file-bytes": "targetFileBytes",
  "min-input-files": "minInputFiles",
  "delete-ratio": "deleteRatio",
  "converge-ratio": "convergeRatio",
  "max-manifests": "maxManifests",
  "keep-snapshots": "keepSnapshots",
  "max-snapshot-age": "maxSnapshotAgeMs",
  "expired-file-grace": "expiredFileGraceMs",
  "orphan-min-age": "orphanMinAgeMs",
} as const satisfies Record<string, keyof MaintenancePolicy>;

export interface MaintainOptions {
  config: string;
  tables: string[];
  run: boolean;
  orphans: boolean;
  everyMs?: number;
  json: boolean;
  /** The policy flags, applied on top of each table's policy from the config. */
  policy: Partial<MaintenancePolicy>;
}

/** The command line, checked (UsageError names the flag and the value). */
export function parseMaintainArgs(argv: string[]): MaintainOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        table: { type: "string", multiple: true },
        run: { type: "boolean" },
        orphans: { type: "boolean" },
        every: { type: "string" },
        json: { type: "boolean" },
        ...Object.fromEntries(Object.keys(POLICY_FLAGS).map((k) => [k, { type: "string" as const }])),
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = values as Record<string, string | string[] | boolean | undefined>;
  if (!v.config) throw new UsageError("--config FILE is required");
  const policy: Partial<MaintenancePolicy> = {};
  for (const [flag, key] of Object.entries(POLICY_FLAGS)) {
    const text = v[flag] as string | undefined;
    if (text === undefined) continue;
    const n = key.endsWith("Ms") ? parseDuration(`--${flag}`, text) : Number(text);
    if (!Number.isFinite(n) || text.trim() === "") throw new UsageError(`--${flag} takes a number (got "${text}")`);
    if (!key.endsWith("Ratio") && !Number.isInteger(n)) throw new UsageError(`--${flag} takes a whole number (got "${text}")`);
    policy[key] = n;
  }
  try {
    maintenancePolicy(policy);
  } catch (e) {
    throw new UsageError(
      `${(e as Error).message.replace(/^maintenance policy (\w+)/, (_m, k: string) => `--${Object.entries(POLICY_FLAGS).find(([, x]) => x === k)?.[0] ?? k}`)}`,
    );
  }
  if (policy.orphanMinAgeMs !== undefined && policy.orphanMinAgeMs < MIN_ORPHAN_AGE_MS) {
    throw new UsageError(
      `--orphan-min-age must be at least 1h (got "${v["orphan-min-age"]}"): a younger unreferenced file may belong to a commit in flight, and deleting it would lose that commit's data`,
    );
  }
  const everyMs = v.every === undefined ? undefined : parseDuration("--every", v.every as string);
  if (everyMs !== undefined && (everyMs < 1 || !v.run)) throw new UsageError(`--every needs --run and a duration of at least 1 ms (got "${v.every}")`);
  if (v.orphans && !v.run) throw new UsageError("--orphans needs --run");
  if (v["orphan-min-age"] !== undefined && !v.orphans) throw new UsageError("--orphan-min-age needs --orphans");
  return { config: v.config as string, tables: (v.table as string[] | undefined) ?? [], run: !!v.run, orphans: !!v.orphans, everyMs, json: !!v.json, policy };
}

interface StepReport {
  step: string;
  ms: number;
  result: unknown;
}

const stringify = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));

function ago(ms: number | undefined, now: number): string {
  if (ms === undefined) return "never";
  const s = Math.round((now - ms) / 1000);
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function statusLine(s: MaintenanceStatus, now: number): string {
  const p = s.plan;
  const todo = [
    p.rewriteFiles
      ? `rewrite ${p.rewriteFiles} data files (${p.reasons.tiers} to merge, ${p.reasons.deleteRatio} past the delete ratio, ${p.reasons.converge} into one file per partition)`
      : "",
    p.dropFiles ? `drop ${p.dropFiles} fully deleted data files` : "",
    p.removeDeleteFiles ? `remove ${p.removeDeleteFiles} delete files` : "",
    p.rewriteManifests ? "merge manifests" : "",
    p.expireSnapshots ? `expire ${p.expireSnapshots} snapshots` : "",
  ].filter(Boolean);
  return (
    `${s.table} (v${s.formatVersion}): ${s.snapshots} snapshots (oldest ${ago(s.oldestSnapshotMs, now)}), ${s.dataFiles} data files, ` +
    `${s.deleteFiles} delete files${s.deletionVectors ? ` (${s.deletionVectors} deletion vectors)` : ""}, ${s.records - s.deletedRows} rows (${s.deletedRows} deleted), ` +
    `${s.manifests} manifests, ${(s.bytes / 2 ** 20).toFixed(1)} MiB; last compaction ${ago(s.lastReplaceMs, now)}; ` +
    `a pass would ${todo.length ? todo.join(", ") : "do nothing"}`
  );
}

/** The tables to maintain: the named ones (each must exist: UsageError otherwise), or every table of the namespace. */
async function tablesOf(catalog: Catalog, config: CdcConfig, names: string[]): Promise<TableIdentifier[]> {
  let all: TableIdentifier[];
  try {
    all = await catalog.listTables([config.namespace]);
  } catch (e) {
    if (!(e instanceof NoSuchNamespaceError)) throw e;
    all = [];
  }
  for (const name of names) {
    if (!all.some((t) => t.name === name)) {
      throw new UsageError(
        `--table ${name}: no such table in namespace ${config.namespace} (${all.length ? `its tables: ${all.map((t) => t.name).join(", ")}` : "it has no tables"})`,
      );
    }
  }
  return names.length ? names.map((name) => ({ namespace: [config.namespace], name })) : all;
}

/** Progress of long steps: a line every `everyMs` while a step runs. */
const HEARTBEAT_MS = 10_000;

/** One pass over one table, step by step, reporting each step on stderr. */
async function runPass(t: Table, policy: MaintenancePolicy, orphans: boolean, progress: (line: string) => void): Promise<StepReport[]> {
  const name = tableIdString(t.id);
  const steps: StepReport[] = [];
  const step = async <R>(label: string, fn: () => Promise<R>, describe: (r: R) => string) => {
    progress(`${name}: ${label}...`);
    const started = Date.now();
    const beat = setInterval(() => progress(`${name}: ${label} still running (${Math.round((Date.now() - started) / 1000)} s)`), HEARTBEAT_MS);
    let result: R;
    try {
      result = await fn();
    } finally {
      clearInterval(beat);
    }
    const ms = Date.now() - started;
    steps.push({ step: label, ms, result: result ?? null });
    progress(`${name}: ${label}: ${describe(result)} (${ms} ms)`);
  };
  await step(
    "compaction",
    () => t.compact({ policy }),
    (r) =>
      r
        ? `rewrote ${r.rewrittenDataFiles} data files into ${r.addedDataFiles}, dropped ${r.droppedDataFiles}, removed ${r.removedDeleteFiles} delete files, wrote ${r.addedDeleteFiles}`
        : "nothing to do",
  );
  await step(
    "manifests",
    () => t.rewriteManifests({ maxManifests: policy.maxManifests }),
    (r) => (r ? "merged" : "nothing to do"),
  );
  await step(
    "expiry",
    () => t.expireSnapshots({ keepSnapshots: policy.keepSnapshots, maxSnapshotAgeMs: policy.maxSnapshotAgeMs, expiredFileGraceMs: policy.expiredFileGraceMs }),
    (r) => `expired ${r.snapshots} snapshots, deleted ${r.files} files, ${r.deferred} more after the grace (read ${r.filesRead})`,
  );
  if (orphans)
    await step(
      "orphans",
      () => t.removeOrphanFiles({ olderThanMs: Date.now() - policy.orphanMinAgeMs }),
      (r) => `deleted ${r.length} orphan files`,
    );
  return steps;
}

/** Waits for the data and delete files expiry deferred (expiredFileGraceMs), then deletes them. */
async function deletePending(tables: Map<string, Table>, progress: (line: string) => void): Promise<void> {
  for (const [name, t] of tables) {
    const { files, lastDueMs } = t.pendingDeletes;
    if (files === 0 || lastDueMs === undefined) continue;
    const waitMs = Math.max(0, lastDueMs - Date.now());
    progress(
      `${name}: deleting ${files} data and delete files of expired snapshots in ${Math.ceil(waitMs / 1000)} s (queries planned before the expiry may still read them; SIGTERM leaves them to the orphan scan)`,
    );
    await new Promise((r) => setTimeout(r, waitMs));
    progress(`${name}: deleted ${await t.deleteDueFiles(Infinity)} files of expired snapshots`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const fail = (message: string, withUsage = false) => {
    process.stderr.write(`floe maintain: ${message}\n${withUsage ? `\n${usage}\n` : ""}`);
    return 2;
  };
  let opts: MaintainOptions;
  let config: CdcConfig;
  try {
    opts = parseMaintainArgs(argv);
  } catch (e) {
    return fail((e as Error).message, true);
  }
  try {
    config = loadCdcConfig(opts.config);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (opts.run && isS3Tables(config)) {
    return fail("the catalog is S3 Tables, which compacts, expires snapshots and removes unreferenced files itself; floe does not run maintenance against it");
  }
  // each table's policy: the config's (even where it turns maintenance off in the writer), then the flags
  const policies = new Map<string, MaintenancePolicy>();
  const policyOf = (table: string) => {
    let p = policies.get(table);
    if (!p)
      policies.set(
        table,
        (p = maintenancePolicy({ ...tablePolicy({ ...config, maintenance: { ...config.maintenance, enabled: true } }, table), ...opts.policy })),
      );
    return p;
  };
  const progress = (line: string) => process.stderr.write(line + "\n");
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const catalog = await openCatalog(config);
  let failed = false;
  try {
    let ids: TableIdentifier[];
    try {
      ids = await tablesOf(catalog, config, opts.tables);
    } catch (e) {
      if (e instanceof UsageError) return fail(e.message);
      throw e;
    }
    if (ids.length === 0) progress(`floe maintain: no tables in namespace ${config.namespace}${opts.everyMs === undefined ? "" : " yet"}`);
    const tables = new Map<string, Table>();
    for (let pass = 1; ; pass++) {
      // without --table, every pass takes the namespace's tables as they are now (the writer creates new ones)
      if (pass > 1 && opts.tables.length === 0) {
        const now = await tablesOf(catalog, config, []);
        for (const id of now) if (!ids.some((x) => tableIdString(x) === tableIdString(id))) progress(`floe maintain: new table ${tableIdString(id)}`);
        ids = now;
      }
      const now = Date.now();
      const out: Record<string, unknown> = {};
      for (const id of ids) {
        if (stopping) break;
        const name = tableIdString(id);
        const policy = policyOf(id.name);
        try {
          let t = tables.get(name);
          if (!t) tables.set(name, (t = await Table.load(catalog, id)));
          else await t.refresh();
          if (opts.run) {
            const steps = await runPass(t, policy, opts.orphans, progress);
            const after = await t.maintenanceStatus(policy);
            out[name] = { steps, after };
            if (!opts.json) process.stdout.write(statusLine(after, Date.now()) + "\n");
          } else {
            const status = await t.maintenanceStatus(policy, now);
            out[name] = status;
            if (!opts.json) process.stdout.write(statusLine(status, now) + "\n");
          }
        } catch (e) {
          failed = true;
          out[name] = { error: (e as Error).message };
          progress(`${name}: maintenance failed: ${(e as Error).message}`);
        }
      }
      if (opts.json) process.stdout.write(stringify({ at: new Date(now).toISOString(), pass, tables: out }) + "\n");
      if (opts.everyMs === undefined || stopping) break;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, opts.everyMs);
        wake = () => (clearTimeout(timer), r());
      });
      if (stopping) break;
    }
    if (!stopping) await deletePending(tables, progress);
  } finally {
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
    await (catalog as { close?: () => Promise<void> }).close?.();
  }
  return failed ? 1 : 0;
}
