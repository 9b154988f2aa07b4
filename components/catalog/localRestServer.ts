import * as pulumi from "@pulumi/pulumi";
import { runtimeModule } from "../runtime";

export interface LocalRestCatalogServerArgs {
  /** Directory of the server's staged jars, log and pid files (removed on delete). Required. */
  dir: pulumi.Input<string>;
  /** Postgres URL of the database holding the JDBC catalog tables (the SQL catalog's). Kept secret. Required. */
  catalogUrl: pulumi.Input<string>;
  /** catalog_name of the tables it serves. Defaults to "floe". */
  name?: pulumi.Input<string>;
  /** Warehouse root of new tables (file:///…). Required. */
  warehouse: pulumi.Input<string>;
  /** Port on 127.0.0.1; 0 picks a free port once, at create. Defaults to 0. */
  port?: pulumi.Input<number>;
  /**
   * "client_id:client_secret" that clients present (OAuth2 client credentials). Kept secret.
   * Defaults to client id "floe" with a secret generated at create (24 random bytes) and kept.
   */
  credential?: pulumi.Input<string>;
  /** The java binary. Defaults to $FLOE_JAVA, else $JAVA_HOME/bin/java, else java on PATH. */
  java?: pulumi.Input<string>;
}

interface Inputs {
  dir: string;
  catalogUrl: string;
  name: string;
  warehouse: string;
  requestedPort: number;
  /** The credential asked for; "" generates one. */
  requestedCredential: string;
  java: string;
}
interface Outputs extends Inputs {
  /** The credential in force: the requested one, else the one generated at create. */
  credential: string;
  port: number;
  pid: number;
  uri: string;
  logFile: string;
}

const INPUT_KEYS: (keyof Inputs)[] = ["dir", "catalogUrl", "name", "warehouse", "requestedPort", "requestedCredential", "java"];

/** The client id of a generated credential. */
export const LOCAL_REST_CLIENT_ID = "floe";

/** The credential in force: the one asked for (checked), else `previous`, else a new one. */
export function credentialFor(requested: string, previous?: string): string {
  if (requested) {
    const i = requested.indexOf(":");
    if (i < 1 || i === requested.length - 1)
      throw new Error(
        `LocalRestCatalogServer credential must be "client_id:client_secret" (both non-empty), got ${i < 0 ? "no ':'" : "an empty client id or secret"}`,
      );
    return requested;
  }
  return previous || `${LOCAL_REST_CLIENT_ID}:${require("node:crypto").randomBytes(24).toString("base64url")}`;
}

async function start(inputs: Inputs, port: number, credential: string): Promise<Outputs> {
  const rest = runtimeModule("local/rest-catalog");
  const installDir = await rest.installRestServer();
  const s = await rest.startRestServer(
    { dir: inputs.dir, port, catalogUrl: inputs.catalogUrl, name: inputs.name, warehouse: inputs.warehouse, credential, java: inputs.java || undefined },
    installDir,
  );
  return { ...inputs, credential, port, pid: s.pid, uri: s.uri, logFile: s.logFile };
}

function alive(pid: number): boolean {
  return runtimeModule("local/process").isAlive(pid, true);
}

const provider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: Inputs, news: Inputs) {
    try {
      credentialFor(news.requestedCredential);
    } catch (e) {
      return { inputs: news, failures: [{ property: "credential", reason: (e as Error).message }] };
    }
    return { inputs: news };
  },

  async create(inputs: Inputs) {
    const port = inputs.requestedPort || (await runtimeModule("local/process").freePort());
    return { id: inputs.dir, outs: await start(inputs, port, credentialFor(inputs.requestedCredential)) };
  },

  async read(id: string, props: Outputs) {
    return { id, props: { ...props, pid: alive(props.pid) ? props.pid : 0 } };
  },

  async diff(_id: string, olds: Outputs, news: Inputs) {
    const changed = INPUT_KEYS.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    const dead = !alive(olds.pid);
    return {
      changes: changed.length > 0 || dead,
      replaces: changed.filter((k) => k === "dir" || k === "requestedPort"),
      deleteBeforeReplace: true,
      // eslint-disable-next-line no-restricted-syntax -- the dynamic provider passes detailedDiff through, but its DiffResult type has no detailedDiff (a kind is "update")
      detailedDiff: dead && changed.length === 0 ? { pid: { kind: "update" as any, inputDiff: false } } : undefined,
    };
  },

  async update(_id: string, olds: Outputs, news: Inputs) {
    await runtimeModule("local/rest-catalog").stopRestServer(olds.pid);
    // The catalog's database moved (retiring blue after a local upgrade: the catalog goes to green's
    // shard 0): its rows move while this server, through which the CDC writer commits, is stopped.
    if (olds.catalogUrl !== news.catalogUrl && olds.name === news.name) {
      await runtimeModule("local/catalog-move").moveSqlCatalog(olds.catalogUrl, news.catalogUrl, news.name, news.warehouse);
    }
    // a generated credential stays what clients were given
    return { outs: await start(news, olds.port, credentialFor(news.requestedCredential, olds.requestedCredential ? undefined : olds.credential)) };
  },

  async delete(_id: string, props: Outputs) {
    await runtimeModule("local/rest-catalog").stopRestServer(props.pid);
    require("node:fs").rmSync(props.dir, { recursive: true, force: true });
  },
};

/**
 * The local target's Iceberg REST catalog: Apache Iceberg's own REST server (installed from Maven
 * Central by scripts/install-iceberg-rest.sh, cached) over a JdbcCatalog in the local Postgres —
 * the same rows as the SQL catalog (LocalSqlCatalog) — listening on 127.0.0.1 only, behind OAuth2
 * client credentials (generated at create unless given). A supervised local Java process, run as the server user when Pulumi runs as
 * root: a crashed JVM is restarted by its supervisor on the same port; a stopped supervisor is
 * noticed by `pulumi refresh` (and by the next `pulumi up`, which starts it again); `pulumi destroy`
 * stops it and removes its directory. A new catalog database (blue retired after an upgrade) moves
 * the catalog's rows while the server is stopped.
 */
export class LocalRestCatalogServer extends pulumi.dynamic.Resource {
  /** http://127.0.0.1:<port>: the REST catalog's base URI. */
  declare readonly uri: pulumi.Output<string>;
  /** "client_id:client_secret" clients present (OAuth2 client credentials; secret). */
  declare readonly credential: pulumi.Output<string>;
  declare readonly port: pulumi.Output<number>;
  /** The supervisor's pid (it leads the process group of the JVM). */
  declare readonly pid: pulumi.Output<number>;
  declare readonly logFile: pulumi.Output<string>;

  constructor(name: string, args: LocalRestCatalogServerArgs, opts: pulumi.CustomResourceOptions = {}) {
    const inputs = {
      dir: args.dir,
      catalogUrl: pulumi.secret(args.catalogUrl),
      name: args.name ?? "floe",
      warehouse: args.warehouse,
      requestedPort: args.port ?? 0,
      requestedCredential: pulumi.secret(args.credential ?? ""),
      java: args.java ?? "",
      credential: undefined,
      uri: undefined,
      port: undefined,
      pid: undefined,
      logFile: undefined,
    };
    super(provider, name, inputs, { ...opts, additionalSecretOutputs: ["catalogUrl", "requestedCredential", "credential"] }, "floe", "LocalRestCatalogServer");
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localRestCatalogServerProvider };
