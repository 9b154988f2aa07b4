/**
 * `floe maintain`: inspect or run table maintenance on demand, for the tables a CDC config's writer
 * replicates (the writer itself maintains them between commits: runtime/cdc/maintenance.ts). Runs
 * beside a live writer safely: every step commits optimistically and retries, and the writer's
 * commits retry against it.
 */
import { parseArgs } from "node:util";
import { NoSuchNamespaceError, tableIdString, type Catalog, type TableIdentifier } from "../iceberg/catalog";
import type { MaintenanceStatus } from "../iceberg/maintenance";
import { maintenancePolicy, type MaintenancePolicy } from "../iceberg/maintenance-plan";
import { Table } from "../iceberg/table";
import { openCatalog } from "./catalog";
import { loadCdcConfig, type CdcConfig } from "./config";
import { isS3Tables, tablePolicy } from "./maintenance";

export const usage = `usage: floe maintain --config FILE [--table NAME]... [--run [--orphans] [--every MS]] [--json]

Shows the maintenance state of the Iceberg tables a CDC config replicates (every table of its
namespace, or the --table ones): snapshots, data files, delete files and deletion vectors,
manifests, bytes, the last compaction, and what a maintenance pass would do now. With --run, runs
one pass per table (compaction, manifest rewriting, snapshot expiry; --orphans adds the orphan
file scan), printing each step as it ends. The policy is the config's maintenance section (per
table overrides included; docs/maintenance.md), even where it disables maintenance in the writer.

options:
  --config FILE   CDC config (JSON; \${ENV} references are expanded)
  --table NAME    a table of the config's namespace (repeatable). Defaults to all of them.
  --run           run a pass instead of only showing what it would do
  --orphans       with --run: also delete unreferenced files older than orphanMinAgeMs
  --every MS      with --run: run passes every MS milliseconds until SIGTERM / SIGINT
  --json          one JSON document on stdout (per pass with --every)
  --help          this text
Progress goes to stderr. Exit codes: 0 ok, 1 a table's maintenance failed, 2 bad usage or config,
or --run against S3 Tables (it maintains its tables itself).`;

interface StepReport {
  step: string;
  ms: number;
  result: unknown;
}

const stringify = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x), 2);

function ago(ms: number | undefined, now: number): string {
  if (ms === undefined) return "never";
  const s = Math.round((now - ms) / 1000);
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function statusLine(s: MaintenanceStatus, now: number): string {
  const p = s.plan;
  const todo = [
    p.rewriteFiles ? `rewrite ${p.rewriteFiles} data files (${p.reasons.tiers} to merge, ${p.reasons.deleteRatio} past the delete ratio)` : "",
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

async function tablesOf(catalog: Catalog, config: CdcConfig, names: string[]): Promise<TableIdentifier[]> {
  if (names.length) return names.map((name) => ({ namespace: [config.namespace], name }));
  try {
    return await catalog.listTables([config.namespace]);
  } catch (e) {
    if (e instanceof NoSuchNamespaceError) return [];
    throw e;
  }
}

/** One pass over one table, step by step, reporting each step on stderr. */
async function runPass(t: Table, policy: MaintenancePolicy, orphans: boolean, progress: (line: string) => void): Promise<StepReport[]> {
  const name = tableIdString(t.id);
  const steps: StepReport[] = [];
  const step = async (label: string, fn: () => Promise<unknown>, describe: (r: any) => string) => {
    progress(`${name}: ${label}...`);
    const started = Date.now();
    const result = await fn();
    const ms = Date.now() - started;
    steps.push({ step: label, ms, result: result ?? null });
    progress(`${name}: ${label}: ${describe(result)} (${ms} ms)`);
  };
  await step("compaction", () => t.compact({ policy }), (r) => (r ? `rewrote ${r.rewrittenDataFiles} data files into ${r.addedDataFiles}, dropped ${r.droppedDataFiles}, removed ${r.removedDeleteFiles} delete files, wrote ${r.addedDeleteFiles}` : "nothing to do"));
  await step("manifests", () => t.rewriteManifests({ maxManifests: policy.maxManifests }), (r) => (r ? "merged" : "nothing to do"));
  await step("expiry", () => t.expireSnapshots({ keepSnapshots: policy.keepSnapshots, maxSnapshotAgeMs: policy.maxSnapshotAgeMs }), (r) => `expired ${r.snapshots} snapshots, deleted ${r.files} files (read ${r.filesRead})`);
  if (orphans) await step("orphans", () => t.removeOrphanFiles({ olderThanMs: Date.now() - policy.orphanMinAgeMs }), (r) => `deleted ${r.length} orphan files`);
  return steps;
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: "string" }, table: { type: "string", multiple: true }, run: { type: "boolean" }, orphans: { type: "boolean" }, every: { type: "string" }, json: { type: "boolean" } },
    }));
  } catch (e) {
    process.stderr.write(`floe maintain: ${(e as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`floe maintain: --config FILE is required\n\n${usage}\n`);
    return 2;
  }
  const every = values.every === undefined ? undefined : Number(values.every);
  if (every !== undefined && (!Number.isInteger(every) || every < 1 || !values.run)) {
    process.stderr.write(`floe maintain: --every takes a whole number of milliseconds (got "${values.every}") and needs --run\n`);
    return 2;
  }
  if (values.orphans && !values.run) {
    process.stderr.write("floe maintain: --orphans needs --run\n");
    return 2;
  }
  let config: CdcConfig;
  try {
    config = loadCdcConfig(values.config);
  } catch (e) {
    process.stderr.write(`floe maintain: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.run && isS3Tables(config)) {
    process.stderr.write("floe maintain: the catalog is S3 Tables, which compacts, expires snapshots and removes unreferenced files itself; floe does not run maintenance against it\n");
    return 2;
  }
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
    const ids = await tablesOf(catalog, config, values.table ?? []);
    if (ids.length === 0) progress(`floe maintain: no tables in namespace ${config.namespace}`);
    const tables = new Map<string, Table>();
    do {
      const now = Date.now();
      const out: Record<string, unknown> = {};
      for (const id of ids) {
        const name = tableIdString(id);
        // the config's policy even where it turns maintenance off in the writer
        const policy = tablePolicy({ ...config, maintenance: { ...config.maintenance, enabled: true } }, id.name) ?? maintenancePolicy();
        try {
          let t = tables.get(name);
          if (!t) tables.set(name, (t = await Table.load(catalog, id)));
          else await t.refresh();
          if (values.run) {
            const steps = await runPass(t, policy, !!values.orphans, progress);
            out[name] = { steps, after: await t.maintenanceStatus(policy) };
          } else {
            const status = await t.maintenanceStatus(policy, now);
            out[name] = status;
            if (!values.json) process.stdout.write(statusLine(status, now) + "\n");
          }
        } catch (e) {
          failed = true;
          out[name] = { error: (e as Error).message };
          progress(`${name}: maintenance failed: ${(e as Error).message}`);
        }
      }
      if (values.json) process.stdout.write(stringify({ at: new Date(now).toISOString(), tables: out }) + "\n");
      else if (values.run) for (const v of Object.values(out)) if ((v as { after?: MaintenanceStatus }).after) process.stdout.write(statusLine((v as { after: MaintenanceStatus }).after, Date.now()) + "\n");
      if (every !== undefined && !stopping) await new Promise<void>((r) => ((wake = r), setTimeout(r, every)));
    } while (every !== undefined && !stopping);
  } finally {
    await (catalog as { close?: () => Promise<void> }).close?.();
  }
  return failed ? 1 : 0;
}
