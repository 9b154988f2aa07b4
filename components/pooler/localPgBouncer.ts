import * as pulumi from "@pulumi/pulumi";
import { runtimeModule } from "../runtime";

export interface LocalPgBouncerDatabase {
  /** Name clients connect to. Required. */
  name: pulumi.Input<string>;
  /** Server host. Required. */
  host: pulumi.Input<string>;
  /** Server port. Required. */
  port: pulumi.Input<number>;
  /** Database on the server. Defaults to `name`. */
  dbname?: pulumi.Input<string>;
}

export interface LocalPgBouncerArgs {
  /** Directory for pgbouncer.ini, userlist.txt, the pid file and the log (removed on delete). Required. */
  dir: pulumi.Input<string>;
  /** Port on 127.0.0.1; 0 picks a free port once, at create. Defaults to 0. */
  port?: pulumi.Input<number>;
  /** Databases clients can connect to, each mapped to a server. Required. */
  databases: pulumi.Input<pulumi.Input<LocalPgBouncerDatabase>[]>;
  /** Users and passwords pgBouncer authenticates (SCRAM) and logs in to the servers with. Kept secret. Required. */
  users: pulumi.Input<pulumi.Input<{ name: pulumi.Input<string>; password: pulumi.Input<string> }>[]>;
  /** Users allowed on the admin console (PAUSE/RESUME/RELOAD). Required. */
  adminUsers: pulumi.Input<pulumi.Input<string>[]>;
  /** "transaction", "session" or "statement". Defaults to "transaction". */
  poolMode?: pulumi.Input<string>;
  /** Defaults to 1000. */
  maxClientConnections?: pulumi.Input<number>;
  /** Defaults to 20. */
  defaultPoolSize?: pulumi.Input<number>;
}

interface Inputs {
  dir: string;
  requestedPort: number;
  databases: { name: string; host: string; port: number; dbname?: string }[];
  users: { name: string; password: string }[];
  adminUsers: string[];
  poolMode: string;
  maxClientConnections: number;
  defaultPoolSize: number;
}
interface Outputs extends Inputs {
  port: number;
  pid: number;
}

const INPUT_KEYS: (keyof Inputs)[] = ["dir", "requestedPort", "databases", "users", "adminUsers", "poolMode", "maxClientConnections", "defaultPoolSize"];

/**
 * Entries a blue/green upgrade moved to green that `news` would point elsewhere (pure, for tests).
 * A finished cutover leaves a marker (components/upgrade/localUpgrade.ts) next to pgbouncer.ini; while its
 * state file says "upgraded", green is the primary and repointing to blue (e.g. after `upgrade` was
 * removed from the config) would send clients to a server that no longer gets their writes.
 */
export function upgradeGuard(
  databases: { name: string; port: unknown }[],
  markers: { statePath: string; entries: string[]; green: { port: number }; blue: { port: number } }[],
  servesGreen: (statePath: string) => boolean,
): string | undefined {
  for (const m of markers) {
    if (!servesGreen(m.statePath)) continue;
    for (const d of databases) {
      if (!m.entries.includes(d.name) || typeof d.port !== "number" || d.port === m.green.port) continue;
      return (
        `pgBouncer entry "${d.name}" is served by green (port ${m.green.port}) since a blue/green upgrade (state file ${m.statePath}); ` +
        `this config would repoint it to port ${d.port} without a cutover, and writes made on green would be lost to clients. ` +
        `Keep upgrade: { toVersion: … } in the platform's config; to go back to blue, run the shard's command from the stack output upgradeRollbackCommands (floe upgrade rollback) first, then pulumi up.`
      );
    }
  }
  return undefined;
}

const provider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: Inputs, news: Inputs) {
    const fs = require("node:fs");
    const path = require("node:path");
    if (typeof news.dir !== "string" || !Array.isArray(news.databases) || !fs.existsSync(news.dir)) return { inputs: news };
    const markers = fs
      .readdirSync(news.dir)
      .filter((f: string) => /^floe-upgrade-.*\.json$/.test(f))
      .map((f: string) => JSON.parse(fs.readFileSync(path.join(news.dir, f), "utf8")));
    // upgraded, or cleaned up after a cutover (not after a rollback): green is the primary
    const servesGreen = (statePath: string) => {
      try {
        const st = JSON.parse(fs.readFileSync(statePath, "utf8"));
        return st.phase === "upgraded" || (st.phase === "cleaned" && st.lastCutover?.kind === "cutover");
      } catch {
        return false;
      }
    };
    const reason = upgradeGuard(news.databases, markers, servesGreen);
    return reason ? { inputs: news, failures: [{ property: "databases", reason }] } : { inputs: news };
  },

  async create(inputs: Inputs) {
    const pgb = runtimeModule("pgbouncer/process");
    const proc = runtimeModule("local/process");
    const port = inputs.requestedPort || (await proc.freePort());
    const pid = await pgb.startPgBouncer({ ...inputs, port });
    return { id: inputs.dir, outs: { ...inputs, port, pid } };
  },

  async read(id: string, props: Outputs) {
    const pgb = runtimeModule("pgbouncer/process");
    return { id, props: { ...props, pid: pgb.runningPid(props.dir) ?? 0 } };
  },

  async diff(_id: string, olds: Outputs, news: Inputs) {
    const pgb = runtimeModule("pgbouncer/process");
    const changed = INPUT_KEYS.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    const dead = !pgb.runningPid(olds.dir);
    return {
      changes: changed.length > 0 || dead,
      replaces: changed.filter((k) => k === "dir" || k === "requestedPort"),
      deleteBeforeReplace: true,
      // eslint-disable-next-line no-restricted-syntax -- the dynamic provider passes detailedDiff through, but its DiffResult type has no detailedDiff (a kind is "update")
      detailedDiff: dead && changed.length === 0 ? { pid: { kind: "update" as any, inputDiff: false } } : undefined,
    };
  },

  async update(_id: string, olds: Outputs, news: Inputs) {
    const pgb = runtimeModule("pgbouncer/process");
    const spec = { ...news, port: olds.port };
    let pid = pgb.runningPid(olds.dir);
    if (pid) pgb.reloadPgBouncer(spec);
    else pid = await pgb.startPgBouncer(spec);
    return { outs: { ...spec, pid } };
  },

  async delete(_id: string, props: Outputs) {
    const pgb = runtimeModule("pgbouncer/process");
    await pgb.stopPgBouncer(props.dir);
    require("node:fs").rmSync(props.dir, { recursive: true, force: true });
  },
};

/**
 * pgBouncer from the OS package in front of the local Postgres servers, run as the unprivileged
 * server user when Pulumi runs as root. Config changes (databases, users, pool settings) are
 * applied in place with a reload; a stopped pooler is noticed by `pulumi refresh` and started
 * again by the next `pulumi up`; `pulumi destroy` stops it and removes its directory.
 */
export class LocalPgBouncer extends pulumi.dynamic.Resource {
  declare readonly port: pulumi.Output<number>;
  declare readonly pid: pulumi.Output<number>;
  declare readonly dir: pulumi.Output<string>;

  constructor(name: string, args: LocalPgBouncerArgs, opts: pulumi.CustomResourceOptions = {}) {
    const inputs = {
      dir: args.dir,
      requestedPort: args.port ?? 0,
      databases: args.databases,
      users: pulumi.secret(args.users),
      adminUsers: args.adminUsers,
      poolMode: args.poolMode ?? "transaction",
      maxClientConnections: args.maxClientConnections ?? 1000,
      defaultPoolSize: args.defaultPoolSize ?? 20,
      port: undefined,
      pid: undefined,
    };
    super(provider, name, inputs, { ...opts, additionalSecretOutputs: ["users"] }, "floe", "LocalPgBouncer");
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localPgBouncerProvider };
