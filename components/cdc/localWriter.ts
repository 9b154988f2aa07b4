import * as pulumi from "@pulumi/pulumi";
import type { CdcConfigInput } from "../../runtime/cdc/config";
import { CLI_PATH, runtimeModule } from "../runtime";

const CLI = CLI_PATH;

export interface LocalCdcWriterArgs {
  /** Directory for the rendered config, the pid file and the log (removed on delete). Required. */
  dir: pulumi.Input<string>;
  /**
   * The writer's config (runtime/cdc/config.ts), validated with parseCdcConfig before anything
   * starts. Holds connection strings: kept secret. `http.port` 0 (the default here) picks a free port. Required.
   */
  config: pulumi.Input<CdcConfigInput>;
  /** Node.js binary. Defaults to the one running Pulumi. */
  node?: pulumi.Input<string>;
}

interface Inputs {
  dir: string;
  config: CdcConfigInput;
  node: string;
}
interface Outputs extends Inputs {
  pid: number;
  httpPort: number;
  configFile: string;
  logFile: string;
}

/**
 * Supervisor: restart the writer after a crash; stop on exit 0 (stopped), 1 (a change it cannot
 * follow: restarting would not help) and 2 (bad config). `exec` keeps one process per restart.
 */
const SUPERVISOR = `umask 077; while :; do "$0" "$1" cdc run --config "$2"; code=$?; case $code in 0|1|2) exit $code;; esac; echo "floe cdc exited with $code; restarting in 2s" >&2; sleep 2; done`;

const provider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: Inputs, news: Inputs) {
    const { parseCdcConfig } = runtimeModule("cdc/config");
    try {
      parseCdcConfig(news.config, "LocalCdcWriter config");
    } catch (e) {
      return { inputs: news, failures: [{ property: "config", reason: (e as Error).message }] };
    }
    return { inputs: news };
  },

  async create(inputs: Inputs) {
    return { id: inputs.dir, outs: await start(inputs, 0) };
  },

  async read(id: string, props: Outputs) {
    return { id, props: { ...props, pid: alive(props.pid) ? props.pid : 0 } };
  },

  async diff(_id: string, olds: Outputs, news: Inputs) {
    const changed = (["dir", "config", "node"] as const).filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    const dead = !alive(olds.pid);
    return {
      changes: changed.length > 0 || dead,
      replaces: changed.includes("dir") ? ["dir"] : [],
      deleteBeforeReplace: true,
      // eslint-disable-next-line no-restricted-syntax -- the dynamic provider passes detailedDiff through, but its DiffResult type has no detailedDiff (a kind is "update")
      detailedDiff: dead && changed.length === 0 ? { pid: { kind: "update" as any, inputDiff: false } } : undefined,
    };
  },

  async update(_id: string, olds: Outputs, news: Inputs) {
    // A new config means a restart: the writer resumes from the LSNs committed in Iceberg.
    await stop(olds.pid);
    // A SQL catalog that moved to another database (retiring blue after a local upgrade): its rows
    // move while the writer, the catalog's only committer, is stopped.
    const from = olds.config.catalog as { type: string; uri?: string; name?: string };
    const to = news.config.catalog as { type: string; uri?: string; name?: string };
    if (from.type === "sql" && to.type === "sql" && from.uri && to.uri && from.uri !== to.uri && (from.name ?? "floe") === (to.name ?? "floe")) {
      const { moveSqlCatalog } = runtimeModule("local/catalog-move");
      await moveSqlCatalog(from.uri, to.uri, to.name ?? "floe", news.config.warehouse);
    }
    return { outs: await start(news, olds.httpPort) };
  },

  async delete(_id: string, props: Outputs) {
    await stop(props.pid);
    require("node:fs").rmSync(props.dir, { recursive: true, force: true });
  },
};

function alive(pid: number): boolean {
  return runtimeModule("local/process").isAlive(pid);
}

async function start(inputs: Inputs, previousHttpPort: number): Promise<Outputs> {
  const fs = require("node:fs");
  const path = require("node:path");
  const { spawn } = require("node:child_process");
  const { parseCdcConfig } = runtimeModule("cdc/config");
  const proc = runtimeModule("local/process");
  const requested = inputs.config.http?.port ?? 0;
  const httpPort = requested || previousHttpPort || (await proc.freePort());
  const config = parseCdcConfig({ ...inputs.config, http: { host: "127.0.0.1", ...inputs.config.http, port: httpPort } }, "LocalCdcWriter config");
  fs.mkdirSync(inputs.dir, { recursive: true, mode: 0o700 });
  proc.handOver(inputs.dir);
  const configFile = path.join(inputs.dir, "cdc.json");
  const logFile = path.join(inputs.dir, "cdc.log");
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  proc.handOver(configFile);
  const log = fs.openSync(logFile, "a", 0o600);
  proc.handOver(logFile);
  const child = spawn("sh", ["-c", SUPERVISOR, inputs.node, CLI, configFile], {
    ...proc.asServerUser({ cwd: inputs.dir }),
    detached: true,
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  child.unref();
  const pid: number = child.pid;
  fs.writeFileSync(path.join(inputs.dir, "cdc.pid"), String(pid) + "\n");
  // Healthy when /healthz answers; a writer that exits early fails the create with its log.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!alive(pid)) {
      const tail = fs.readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n");
      throw new Error(`the CDC writer exited at start; its log (${logFile}):\n${tail}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      if (res.status < 500 || Date.now() > deadline) break;
    } catch {
      if (Date.now() > deadline) throw new Error(`the CDC writer did not answer on http://127.0.0.1:${httpPort}/healthz within 30 s; log: ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ...inputs, pid, httpPort, configFile, logFile };
}

/** Stops the supervisor and the writer (one process group, detached): SIGTERM, then SIGKILL after 15 s. */
async function stop(pid: number): Promise<void> {
  await runtimeModule("local/process").stopProcess(
    pid,
    [
      ["SIGTERM", 15_000],
      ["SIGKILL", 2_000],
    ],
    "the CDC writer and its supervisor",
    true,
  );
}

/**
 * The CDC writer as a supervised local process: `node dist/runtime/cli.js cdc run --config FILE`,
 * detached (it outlives `pulumi up`), run as the unprivileged server user when Pulumi runs as root,
 * restarted by a small supervisor after a crash. A config change restarts it in place (it resumes
 * from the LSNs committed in Iceberg); `pulumi refresh` notices it stopped; `pulumi destroy` stops
 * it and removes its directory.
 */
export class LocalCdcWriter extends pulumi.dynamic.Resource {
  declare readonly pid: pulumi.Output<number>;
  declare readonly httpPort: pulumi.Output<number>;
  declare readonly configFile: pulumi.Output<string>;
  declare readonly logFile: pulumi.Output<string>;

  constructor(name: string, args: LocalCdcWriterArgs, opts: pulumi.CustomResourceOptions = {}) {
    const inputs = {
      dir: args.dir,
      config: pulumi.secret(args.config),
      node: args.node ?? process.execPath,
      pid: undefined,
      httpPort: undefined,
      configFile: undefined,
      logFile: undefined,
    };
    super(provider, name, inputs, { ...opts, additionalSecretOutputs: ["config"] }, "floe", "LocalCdcWriter");
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localCdcWriterProvider };
