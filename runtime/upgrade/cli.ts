/**
 * `floe upgrade plan|run|status|rollback|cleanup`: the blue/green major upgrade behind pgBouncer.
 * Exit codes: 0 ok, 1 the command ran and failed (blocking findings, cutover aborted), 2 bad usage.
 */
import { parseArgs } from "node:util";
import { createLogger } from "../core/log";
import { Upgrade, UpgradeAborted } from "./orchestrator";
import { blocking, schemaDdl } from "./plan";
import { GroupedPoolerControl, PgBouncerControl } from "./pooler";

export const usage = `floe upgrade: zero-downtime major-version upgrade (blue/green, logical replication, pgBouncer cutover)

usage: floe upgrade <plan|run|status|rollback|cleanup> [options] [--json]

commands:
  plan      preflight blue and green: every finding with why and how to fix it, and the schema DDL for green
  run       copy the schema, replicate blue -> green, catch up, cut over behind pgBouncer, start reverse replication
            (resumable: re-run after a crash; a pooler left paused is resumed first)
  status    the state file, where the pooler points, replication progress and lag
  rollback  after a cutover: switch the pooler back to blue (same budgeted pause), stop replication
  cleanup   drop every publication, subscription and slot the upgrade created (servers and data stay)

options (env var in brackets):
  --blue URL               blue (old major) superuser URL, including the database [FLOE_UPGRADE_BLUE_URL]
  --green URL              green (new major) superuser URL, same database name [FLOE_UPGRADE_GREEN_URL]
  --blue-from-green URL    how green reaches blue, if different (forward subscription). Defaults to --blue [FLOE_UPGRADE_BLUE_FROM_GREEN]
  --green-from-blue URL    how blue reaches green, if different (reverse subscription). Defaults to --green [FLOE_UPGRADE_GREEN_FROM_BLUE]
  --pooler-admin URL       pgBouncer admin console, e.g. postgres://pgbouncer@host:6432/pgbouncer [FLOE_UPGRADE_POOLER_ADMIN]
  --pooler-ini PATH        the pgbouncer.ini that RELOAD re-reads (its [databases] entry is repointed) [FLOE_UPGRADE_POOLER_INI]
  --pooler-db NAME         the [databases] entry. Defaults to the database name
  --pooler-alias NAME      another [databases] entry on the same server, paused and repointed with --pooler-db
                           (repeatable; the local target's shard 0 is "app" and "app_shard0")
  --green-host H --green-port P   what the pooler should point at after cutover. Defaults to --green's host/port
  --state PATH             state file. Defaults to ./floe-upgrade-state.json [FLOE_UPGRADE_STATE]
  --name NAME              base name of publications/subscriptions/slots. Defaults to floe_upgrade
  --budget-ms N            hard budget for green to apply blue's final LSN while paused. Defaults to 1000 [FLOE_UPGRADE_BUDGET_MS]
  --pause-timeout-ms N     longest wait for PAUSE to drain server connections. Defaults to 5000
  --query-wait-timeout S   query_wait_timeout (s) during the cutover. Defaults to 30
  --max-lag-bytes N        lag under which the cutover may pause. Defaults to 1048576
  --sample-rows N          rows per table checksummed at verification. Defaults to 1000
  --cdc-publication NAME   the CDC writer's publication and slot on blue (both or neither): recreated on green before
  --cdc-slot NAME          the pause; after the switch a handoff message moves the running writer to green by itself
  --skip-ownership         do not give green's schemas, tables, sequences and types blue's owners, grants and default privileges before
                           the pause (the schema copy creates them as the superuser; roles green lacks are skipped)
  --allow OBJECT           accept a preflight finding on OBJECT (repeatable)
  --json                   machine-readable output on stdout`;

const OPTIONS = {
  blue: { type: "string" },
  green: { type: "string" },
  "blue-from-green": { type: "string" },
  "green-from-blue": { type: "string" },
  "pooler-admin": { type: "string" },
  "pooler-ini": { type: "string" },
  "pooler-db": { type: "string" },
  "pooler-alias": { type: "string", multiple: true },
  "green-host": { type: "string" },
  "green-port": { type: "string" },
  state: { type: "string" },
  name: { type: "string" },
  "budget-ms": { type: "string" },
  "pause-timeout-ms": { type: "string" },
  "query-wait-timeout": { type: "string" },
  "max-lag-bytes": { type: "string" },
  "sample-rows": { type: "string" },
  "cdc-publication": { type: "string" },
  "cdc-slot": { type: "string" },
  "skip-ownership": { type: "boolean" },
  allow: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const;

class UsageError extends Error {}

function pooler(control: PgBouncerControl, db: string, aliases: string[]) {
  return aliases.length ? new GroupedPoolerControl(control, { [db]: aliases }) : control;
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

function required(name: string, v: string | undefined, env: string): string {
  const x = v ?? process.env[env];
  if (!x) throw new UsageError(`--${name} is required (or set ${env})`);
  return x;
}

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + "\n");
  const err = (s: string) => process.stderr.write(s + "\n");
  let cmd: string | undefined;
  // SIGINT/SIGTERM cancel the waits (catch-up) but never interrupt a switchover half-way: the pause
  // ends by itself (switched, or resumed on the old primary) within its budget.
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error("interrupted by a signal"));
  let up: Upgrade;
  let json = false;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    cmd = positionals[0];
    json = !!values.json;
    if (!cmd || !["plan", "run", "status", "rollback", "cleanup"].includes(cmd) || positionals.length > 1) {
      throw new UsageError(cmd ? `unknown command "${positionals.join(" ")}"` : "a command is required");
    }
    if (!values["cdc-publication"] !== !values["cdc-slot"]) throw new UsageError("--cdc-publication and --cdc-slot go together");
    const greenUrl = required("green", values.green, "FLOE_UPGRADE_GREEN_URL");
    const g = new URL(greenUrl);
    up = new Upgrade({
      blueUrl: required("blue", values.blue, "FLOE_UPGRADE_BLUE_URL"),
      greenUrl,
      blueUrlFromGreen: values["blue-from-green"] ?? (process.env.FLOE_UPGRADE_BLUE_FROM_GREEN || undefined),
      greenUrlFromBlue: values["green-from-blue"] ?? (process.env.FLOE_UPGRADE_GREEN_FROM_BLUE || undefined),
      // host, port and database only: the pooler entry must keep logging in as the connecting
      // client, never as the superuser named in --green (its user= would be written into pgbouncer.ini)
      greenTarget: {
        host: values["green-host"] ?? g.hostname,
        port: int("green-port", values["green-port"]) ?? Number(g.port || 5432),
        dbname: decodeURIComponent(g.pathname.slice(1)) || "postgres",
      },
      pooler: pooler(
        new PgBouncerControl(
          required("pooler-admin", values["pooler-admin"], "FLOE_UPGRADE_POOLER_ADMIN"),
          required("pooler-ini", values["pooler-ini"], "FLOE_UPGRADE_POOLER_INI"),
        ),
        values["pooler-db"] ?? (decodeURIComponent(new URL(required("blue", values.blue, "FLOE_UPGRADE_BLUE_URL")).pathname.slice(1)) || "postgres"),
        values["pooler-alias"] ?? [],
      ),
      poolerDatabase: values["pooler-db"],
      statePath: values.state ?? process.env.FLOE_UPGRADE_STATE ?? "floe-upgrade-state.json",
      name: values.name,
      budgetMs: int("budget-ms", values["budget-ms"] ?? process.env.FLOE_UPGRADE_BUDGET_MS),
      pauseTimeoutMs: int("pause-timeout-ms", values["pause-timeout-ms"]),
      raisedQueryWaitTimeout: int("query-wait-timeout", values["query-wait-timeout"]),
      maxLagBytes: int("max-lag-bytes", values["max-lag-bytes"]),
      sampleRows: int("sample-rows", values["sample-rows"]),
      allow: values.allow ?? [],
      cdc: values["cdc-publication"] ? { publication: values["cdc-publication"], slot: values["cdc-slot"]! } : undefined,
      log: createLogger({ cmd: `upgrade ${cmd}` }),
      signal: stop.signal,
      ownership: !values["skip-ownership"],
    });
  } catch (e) {
    if (e instanceof UsageError || String((e as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS")) {
      err(`floe upgrade: ${(e as Error).message}\n\n${usage}`);
      return 2;
    }
    err(`floe upgrade: ${(e as Error).message}`);
    return 2;
  }

  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    switch (cmd) {
      case "plan": {
        const pf = await up.preflight();
        const bad = blocking(pf.findings, up.o.allow);
        const ddl = schemaDdl(pf.snapshot);
        if (json)
          out(
            JSON.stringify(
              { ok: bad.length === 0, blueMajor: pf.blueMajor, greenMajor: pf.greenMajor, findings: pf.findings, tables: pf.snapshot.tables.length, ddl },
              null,
              2,
            ),
          );
        else {
          out(
            `blue: Postgres ${pf.blueMajor}, green: Postgres ${pf.greenMajor}, ${pf.snapshot.tables.length} table(s), ${ddl.length} schema statement(s) for green`,
          );
          for (const f of pf.findings) out(`${f.severity.toUpperCase()} [${f.code}] ${f.object}: ${f.message}\n    fix: ${f.fix}`);
          out(bad.length ? `${bad.length} blocking finding(s): not ready` : "ready to upgrade");
        }
        return bad.length ? 1 : 0;
      }
      case "run": {
        const report = await up.run();
        if (json) out(JSON.stringify({ ok: true, report }, null, 2));
        else
          out(
            report
              ? `upgraded: green is primary (paused ${report.pausedMs} ms, waited ${report.waitMs} ms for blue's final LSN ${report.finalLsn}, ${report.sequences} sequence(s) synced, ${report.verifiedTables} table(s) verified)`
              : "already upgraded: green is primary",
          );
        return 0;
      }
      case "rollback": {
        const report = await up.rollback();
        if (json) out(JSON.stringify({ ok: true, report }, null, 2));
        else out(report ? `rolled back: blue is primary (paused ${report.pausedMs} ms)` : "already rolled back");
        return 0;
      }
      case "status": {
        const st = await up.status();
        if (json) out(JSON.stringify(st, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2));
        else if (!st.state) out("no upgrade state file: nothing started");
        else {
          out(
            `phase: ${st.state.phase}; pooler "${st.state.poolerDatabase}" -> ${st.pooler!.target.host}:${st.pooler!.target.port}${st.pooler!.paused ? " (PAUSED)" : ""}`,
          );
          if (st.progress) out(`replication: ${st.progress.ready}/${st.progress.tables} tables ready, lag ${st.progress.lagBytes} bytes`);
          if (st.state.lastCutover) out(`last switchover: ${JSON.stringify(st.state.lastCutover)}`);
          if (st.state.lastAbort) out(`last abort: ${st.state.lastAbort.at}: ${st.state.lastAbort.reason}`);
        }
        return 0;
      }
      case "cleanup": {
        await up.cleanup();
        if (json) out(JSON.stringify({ ok: true }));
        else out("replication objects dropped");
        return 0;
      }
    }
    return 2;
  } catch (e) {
    if (json) out(JSON.stringify({ ok: false, error: (e as Error).message, report: e instanceof UpgradeAborted ? e.report : undefined }, null, 2));
    err(`floe upgrade ${cmd}: ${(e as Error).message}`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
