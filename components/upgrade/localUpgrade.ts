import * as pulumi from "@pulumi/pulumi";
import { CLI_PATH, ENGINE_PROTO, pgModule, runtimeModule } from "../runtime";

const CLI = CLI_PATH;
const PROTO = ENGINE_PROTO;

export interface LocalUpgradeArgs {
  /** Blue (the old major): superuser URL including the application database. Kept secret. Required. */
  blueUrl: pulumi.Input<string>;
  /** Green (the new major): superuser URL including the same database, which must hold no tables yet. Kept secret. Required. */
  greenUrl: pulumi.Input<string>;
  /** Directory of the local pgBouncer: its pgbouncer.ini is repointed, its listen_port is the admin console's. Required. */
  poolerDir: pulumi.Input<string>;
  /** pgBouncer admin console user and password (an `admin_users` entry). Kept secret. Required. */
  poolerAdmin: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
  /** The pgbouncer.ini [databases] entry that moves to green. Required. */
  poolerDatabase: pulumi.Input<string>;
  /** Other [databases] entries that point at the same server; they pause and move with it. Defaults to none. */
  poolerAliases?: pulumi.Input<pulumi.Input<string>[]>;
  /** The orchestrator's state file (what `floe upgrade status|rollback|cleanup --state` reads). Required. */
  statePath: pulumi.Input<string>;
  /** Hard budget (ms) for green to apply blue's final LSN while the pooler is paused. Defaults to 1000. */
  budgetMs?: pulumi.Input<number>;
  /** The CDC writer's publication and slot on blue: recreated on green before the pause, so the writer can follow. Defaults to none. */
  cdc?: pulumi.Input<{ publication: pulumi.Input<string>; slot: pulumi.Input<string> }>;
  /**
   * Finish the upgrade: once green serves and the CDC writer has moved past the handoff, drop
   * every replication object on both sides (`floe upgrade cleanup`). Rollback is then impossible;
   * blue itself is stopped and removed by LocalRetiredServers. Defaults to false.
   */
  retireBlue?: pulumi.Input<boolean>;
}

interface Target {
  host: string;
  port: number;
  dbname: string;
}

interface Inputs {
  blueUrl: string;
  greenUrl: string;
  poolerDir: string;
  poolerAdmin: { user: string; password: string };
  poolerDatabase: string;
  poolerAliases: string[];
  statePath: string;
  budgetMs: number;
  cdc?: { publication: string; slot: string };
  retireBlue: boolean;
}

interface Outputs extends Inputs {
  /** The orchestrator's phase (state.ts): "upgraded" once green serves the pooler. */
  phase: string;
  /** Where the pooler's entries point now: green once upgraded, blue before and after a rollback. */
  poolerTarget: Target;
  blueTarget: Target;
  greenTarget: Target;
  /** The last switchover's numbers (pausedMs, waitMs, finalLsn, ...), JSON. */
  lastCutover: string;
  logFile: string;
  /** `node …/cli.js upgrade rollback …` with every flag this upgrade needs (holds passwords: secret). */
  rollbackCommand: string;
}

const REPLACE_KEYS: (keyof Inputs)[] = ["blueUrl", "greenUrl", "poolerDatabase", "statePath"];
const UPDATE_KEYS: (keyof Inputs)[] = ["poolerDir", "poolerAdmin", "poolerAliases", "budgetMs", "cdc", "retireBlue"];

/** The marker a finished cutover leaves next to pgbouncer.ini; LocalPgBouncer refuses to repoint its entries back to blue while it says "upgraded". */
export function markerName(poolerDatabase: string): string {
  return `floe-upgrade-${poolerDatabase}.json`;
}

function targetOf(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432), dbname: decodeURIComponent(u.pathname.slice(1)) };
}

/** Log messages for `pulumi up`'s output: the engine's Log RPC, when running inside Pulumi's dynamic provider host. */
function engineLogger(): { log(severity: string, message: string): void; flush(): Promise<void> } {
  const addr = process.argv.slice(2).find((a) => /^(\[[^\]]+\]|[\w.-]+):\d+$/.test(a));
  let client: any;
  if (addr && /dynamic-provider/.test(process.argv[1] ?? "")) {
    try {
      const grpc = require(PROTO.grpc);
      const { EngineClient } = require(PROTO.engineGrpc);
      client = new EngineClient(addr, grpc.credentials.createInsecure());
    } catch {
      client = undefined;
    }
  }
  const pending: Promise<void>[] = [];
  return {
    log(severity: string, message: string) {
      if (!client) return;
      try {
        const pb = require(PROTO.engine);
        const req = new pb.LogRequest();
        req.setSeverity(severity === "error" ? pb.LogSeverity.ERROR : severity === "warn" ? pb.LogSeverity.WARNING : pb.LogSeverity.INFO);
        req.setMessage(message);
        pending.push(new Promise<void>((resolve) => client.log(req, () => resolve())));
      } catch {
        /* logging must never fail the upgrade */
      }
    },
    async flush() {
      await Promise.all(pending);
      client?.close?.();
    },
  };
}

/** Everything the orchestrator needs, from the inputs and the pooler's own config file. */
function orchestrator(i: Inputs, log: { log(severity: string, message: string): void }, needPooler = true) {
  const fs = require("node:fs");
  const path = require("node:path");
  const { Upgrade } = runtimeModule("upgrade/orchestrator");
  const { GroupedPoolerControl, PgBouncerControl } = runtimeModule("upgrade/pooler");
  const { createLogger } = runtimeModule("core/log");
  const ini = path.join(i.poolerDir, "pgbouncer.ini");
  const iniExists = fs.existsSync(ini);
  if (!iniExists && needPooler) {
    throw new Error(
      `the pooler's ${ini} does not exist: an upgrade moves a running platform. For a new platform, set postgres.version to the new major and remove upgrade.`,
    );
  }
  // cleanup without a pooler (it is deleted first on destroy) never reaches the admin console
  const port = iniExists ? /^\s*listen_port\s*=\s*(\d+)/m.exec(fs.readFileSync(ini, "utf8"))?.[1] : "0";
  if (!port) throw new Error(`${ini} has no listen_port`);
  const adminUrl = `postgresql://${encodeURIComponent(i.poolerAdmin.user)}:${encodeURIComponent(i.poolerAdmin.password)}@127.0.0.1:${port}/pgbouncer`;
  const logFile = i.statePath.replace(/\.json$/, "") + ".log";
  fs.mkdirSync(path.dirname(i.statePath), { recursive: true, mode: 0o700 });
  const shard = i.poolerDatabase;
  const sink = (line: string) => {
    fs.appendFileSync(logFile, line + "\n", { mode: 0o600 });
    try {
      const r = JSON.parse(line);
      const { ts: _ts, level, msg, upgrade: _u, database: _d, ...fields } = r;
      const extra = Object.keys(fields).length ? " " + JSON.stringify(fields) : "";
      log.log(level, `floe upgrade [${shard}]: ${msg}${extra}`);
    } catch {
      log.log("info", `floe upgrade [${shard}]: ${line}`);
    }
  };
  const pooler = new GroupedPoolerControl(new PgBouncerControl(adminUrl, ini), { [i.poolerDatabase]: i.poolerAliases });
  const green = targetOf(i.greenUrl);
  const up = new Upgrade({
    blueUrl: i.blueUrl,
    greenUrl: i.greenUrl,
    // host/port/dbname only: the entry keeps logging in as the connecting client, never as green's superuser
    greenTarget: green,
    pooler,
    poolerDatabase: i.poolerDatabase,
    statePath: i.statePath,
    budgetMs: i.budgetMs,
    cdc: i.cdc,
    log: createLogger({}, sink),
  });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const rollbackCommand = [
    q(process.execPath),
    q(CLI),
    "upgrade rollback",
    `--blue ${q(i.blueUrl)}`,
    `--green ${q(i.greenUrl)}`,
    `--pooler-admin ${q(adminUrl)}`,
    `--pooler-ini ${q(ini)}`,
    `--pooler-db ${q(i.poolerDatabase)}`,
    ...i.poolerAliases.map((a) => `--pooler-alias ${q(a)}`),
    `--state ${q(i.statePath)}`,
    `--budget-ms ${i.budgetMs}`,
  ].join(" ");
  return { up, ini, logFile, green, rollbackCommand };
}

/** Outputs from the state file as it is now. */
function outputsFrom(i: Inputs, logFile: string, rollbackCommand: string): Outputs {
  const { loadState } = runtimeModule("upgrade/state");
  const s = loadState(i.statePath);
  const green = targetOf(i.greenUrl);
  const blue = s?.blueTarget ? { host: s.blueTarget.host, port: s.blueTarget.port, dbname: s.blueTarget.dbname } : targetOf(i.blueUrl);
  const phase: string = s?.phase ?? "planned";
  // green is the primary once upgraded, and stays it when cleaned up after a cutover (not after a rollback)
  const onGreen = phase === "upgraded" || (phase === "cleaned" && s?.lastCutover?.kind === "cutover");
  return {
    ...i,
    phase,
    poolerTarget: onGreen ? green : blue,
    blueTarget: blue,
    greenTarget: green,
    lastCutover: JSON.stringify(s?.lastCutover ?? null),
    logFile,
    rollbackCommand,
  };
}

/** Run (or resume) the upgrade to the end; record the marker the pooler checks. */
async function drive(i: Inputs): Promise<Outputs> {
  const fs = require("node:fs");
  const path = require("node:path");
  const log = engineLogger();
  try {
    const o = orchestrator(i, log);
    log.log("info", `floe upgrade [${i.poolerDatabase}]: blue ${targetOf(i.blueUrl).port} -> green ${o.green.port}; state ${i.statePath}, log ${o.logFile}`);
    const report = await o.up.run();
    if (report) {
      log.log(
        "info",
        `floe upgrade [${i.poolerDatabase}]: green serves the pooler (paused ${report.pausedMs} ms, waited ${report.waitMs} ms, ${report.sequences} sequence(s), ${report.verifiedTables} table(s) verified)`,
      );
    }
    const outs = outputsFrom(i, o.logFile, o.rollbackCommand);
    if (outs.phase !== "upgraded")
      throw new Error(`the upgrade of "${i.poolerDatabase}" ended in phase "${outs.phase}", not "upgraded" (state file ${i.statePath})`);
    const marker = { statePath: i.statePath, entries: [i.poolerDatabase, ...i.poolerAliases], blue: outs.blueTarget, green: outs.greenTarget };
    fs.writeFileSync(path.join(i.poolerDir, markerName(i.poolerDatabase)), JSON.stringify(marker, null, 2) + "\n", { mode: 0o600 });
    return i.retireBlue ? await retire(i, o, log) : outs;
  } catch (e) {
    log.log("error", `floe upgrade [${i.poolerDatabase}]: ${(e as Error).message}`);
    throw new Error(
      `${(e as Error).message}\nThe pooler is not paused and blue still serves unless the state file says "upgraded" (${i.statePath}). ` +
        `Run pulumi up again to resume; see docs/upgrade.md.`,
    );
  } finally {
    await log.flush();
  }
}

/**
 * Finish a cutover for good: wait (bounded) until the CDC writer has confirmed past the handoff on
 * blue (else blue's slot still holds changes it must read), then drop every replication object.
 */
async function retire(i: Inputs, o: ReturnType<typeof orchestrator>, log: { log(severity: string, message: string): void }): Promise<Outputs> {
  const { loadState } = runtimeModule("upgrade/state");
  const { Client } = pgModule();
  const s = loadState(i.statePath);
  const onGreen = s && (s.phase === "upgraded" || (s.phase === "cleaned" && s.lastCutover?.kind === "cutover"));
  if (!onGreen)
    throw new Error(
      `retireBlue needs green to serve the pooler, but the upgrade of "${i.poolerDatabase}" is "${s?.phase ?? "not started"}" (state file ${i.statePath})`,
    );
  if (s.phase !== "cleaned") {
    const sent = s.handoffSent;
    if (i.cdc && sent && sent.on === "blue") {
      const { parseLsn: lsn } = runtimeModule("upgrade/plan");
      const deadline = Date.now() + 120_000;
      for (let logged = 0; ;) {
        const c = new Client({ connectionString: i.blueUrl });
        c.on("error", () => undefined);
        await c.connect();
        let confirmed: string | null = null;
        let exists = false;
        try {
          const r = await c.query("SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1", [i.cdc.slot]);
          exists = (r.rowCount ?? 0) > 0;
          confirmed = exists ? r.rows[0].l : null;
        } finally {
          await c.end().catch(() => undefined);
        }
        if (!exists || (confirmed && lsn(confirmed) > lsn(sent.lsn))) break;
        if (Date.now() > deadline) {
          throw new Error(
            `the CDC writer has not moved past the upgrade handoff on blue within 120 s (slot ${i.cdc.slot} confirmed ${confirmed}, handoff at ${sent.lsn}): is it running? Its log says why; run pulumi up again once it has`,
          );
        }
        if (Date.now() - logged > 5000) {
          log.log(
            "info",
            `floe upgrade [${i.poolerDatabase}]: waiting for the CDC writer to move past the handoff on blue (confirmed ${confirmed}, handoff ${sent.lsn})`,
          );
          logged = Date.now();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await o.up.cleanup();
    log.log("info", `floe upgrade [${i.poolerDatabase}]: finished: replication objects dropped on blue and green, blue can go`);
  }
  return outputsFrom(i, o.logFile, o.rollbackCommand);
}

const provider: pulumi.dynamic.ResourceProvider = {
  async check(olds: Partial<Inputs>, news: Inputs) {
    // Another target version (or state file) means another green: the one serving now would be deleted.
    if (olds?.statePath && typeof news.statePath === "string" && olds.statePath !== news.statePath) {
      const fs = require("node:fs");
      let st: { phase?: string; lastCutover?: { kind?: string } } | null = null;
      try {
        st = fs.existsSync(olds.statePath) ? JSON.parse(fs.readFileSync(olds.statePath, "utf8")) : null;
      } catch {
        st = null;
      }
      if (st && (st.phase === "upgraded" || (st.phase === "cleaned" && st.lastCutover?.kind === "cutover"))) {
        return {
          inputs: news,
          failures: [
            {
              property: "statePath",
              reason: `the upgrade recorded in ${olds.statePath} made its green the primary; changing upgrade.toVersion would delete that server with its data. Keep upgrade.toVersion as it is (a further major upgrade of this stack is not supported yet).`,
            },
          ],
        };
      }
    }
    return { inputs: news };
  },

  async create(inputs: Inputs) {
    return { id: inputs.statePath, outs: await drive(inputs) };
  },

  async read(id: string, props: Outputs) {
    const fs = require("node:fs");
    if (!fs.existsSync(props.statePath)) return { id, props };
    return { id, props: outputsFrom(props, props.logFile, props.rollbackCommand) };
  },

  async diff(_id: string, olds: Outputs, news: Inputs) {
    const { loadState } = runtimeModule("upgrade/state");
    const same = (k: keyof Inputs) => JSON.stringify(olds[k]) === JSON.stringify(news[k]);
    const replaces = REPLACE_KEYS.filter((k) => !same(k));
    const changed = UPDATE_KEYS.filter((k) => !same(k));
    // A rollback (or a cleanup) done with the CLI since the last up: the outputs follow the state file.
    let phase = olds.phase;
    try {
      phase = loadState(olds.statePath)?.phase ?? olds.phase;
    } catch {
      /* unreadable: leave it to update */
    }
    const drift = phase !== olds.phase;
    return {
      changes: replaces.length > 0 || changed.length > 0 || drift,
      replaces,
      deleteBeforeReplace: true,
      // eslint-disable-next-line no-restricted-syntax -- the dynamic provider passes detailedDiff through, but its DiffResult type has no detailedDiff (a kind is "update")
      detailedDiff: drift && !replaces.length && !changed.length ? { phase: { kind: "update" as any, inputDiff: false } } : undefined,
    };
  },

  async update(_id: string, olds: Outputs, news: Inputs) {
    const { loadState } = runtimeModule("upgrade/state");
    const phase = loadState(news.statePath)?.phase ?? "planned";
    // Not cut over yet (an aborted run): resume. Otherwise the state file is the truth.
    if (["planned", "schema-copied", "replicating", "cutover"].includes(phase)) return { outs: await drive(news) };
    if (news.retireBlue && phase !== "cleaned") {
      const log = engineLogger();
      try {
        return { outs: await retire(news, orchestrator(news, log, false), log) };
      } finally {
        await log.flush();
      }
    }
    const o = orchestrator(news, { log: () => undefined }, false);
    const outs = outputsFrom(news, o.logFile, o.rollbackCommand);
    if (outs.poolerTarget.port !== outs.greenTarget.port)
      require("node:fs").rmSync(require("node:path").join(news.poolerDir, markerName(news.poolerDatabase)), { force: true });
    return { outs: { ...outs, logFile: olds.logFile ?? outs.logFile } };
  },

  async delete(_id: string, props: Outputs) {
    const fs = require("node:fs");
    const path = require("node:path");
    // Drop the replication objects while both servers still run (best effort, bounded: on destroy
    // the servers go right after, and a stopped server has nothing left to drop).
    const log = engineLogger();
    const { loadState } = runtimeModule("upgrade/state");
    let cleaned = false;
    try {
      cleaned = loadState(props.statePath)?.phase === "cleaned";
    } catch {
      /* an unreadable state file: try the cleanup */
    }
    try {
      if (cleaned) return;
      const o = orchestrator(props, log, false);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        o.up.cleanup(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("cleanup took longer than 30 s")), 30_000))),
      ]).finally(() => clearTimeout(timer));
    } catch (e) {
      log.log("warn", `floe upgrade [${props.poolerDatabase}]: cleanup skipped: ${(e as Error).message}`);
    } finally {
      await log.flush();
      fs.rmSync(path.join(props.poolerDir, markerName(props.poolerDatabase)), { force: true });
      fs.rmSync(props.statePath, { force: true });
    }
  },
};

/**
 * One shard's blue/green major upgrade on the local target, run by `pulumi up`: the orchestrator
 * (runtime/upgrade) in-process copies the schema to green, replicates, pauses the local pgBouncer
 * within the budget, repoints its entries to green, resumes, and starts reverse replication
 * (rollback stays possible). Progress goes to the Pulumi log and to `logFile`.
 *
 * A failed or aborted run fails the `pulumi up` with the reason, blue still serving; the next
 * `pulumi up` resumes from the state file. A rollback done with `rollbackCommand` is noticed by
 * the next `pulumi up` (`poolerTarget` goes back to blue). Delete drops the replication objects.
 */
export class LocalUpgrade extends pulumi.dynamic.Resource {
  declare readonly phase: pulumi.Output<string>;
  declare readonly poolerTarget: pulumi.Output<Target>;
  declare readonly blueTarget: pulumi.Output<Target>;
  declare readonly greenTarget: pulumi.Output<Target>;
  declare readonly statePath: pulumi.Output<string>;
  declare readonly lastCutover: pulumi.Output<string>;
  declare readonly logFile: pulumi.Output<string>;
  declare readonly rollbackCommand: pulumi.Output<string>;

  constructor(name: string, args: LocalUpgradeArgs, opts: pulumi.CustomResourceOptions = {}) {
    const inputs = {
      blueUrl: pulumi.secret(args.blueUrl),
      greenUrl: pulumi.secret(args.greenUrl),
      poolerDir: args.poolerDir,
      poolerAdmin: pulumi.secret(args.poolerAdmin),
      poolerDatabase: args.poolerDatabase,
      poolerAliases: args.poolerAliases ?? [],
      statePath: args.statePath,
      budgetMs: args.budgetMs ?? 1000,
      cdc: args.cdc,
      retireBlue: args.retireBlue ?? false,
      phase: undefined,
      poolerTarget: undefined,
      blueTarget: undefined,
      greenTarget: undefined,
      lastCutover: undefined,
      logFile: undefined,
      rollbackCommand: undefined,
    };
    super(provider, name, inputs, { ...opts, additionalSecretOutputs: ["blueUrl", "greenUrl", "poolerAdmin", "rollbackCommand"] }, "floe", "LocalUpgrade");
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localUpgradeProvider };
