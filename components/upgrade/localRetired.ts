import * as pulumi from "@pulumi/pulumi";
import { runtimeModule } from "../runtime";

export interface LocalRetiredServersArgs {
  /** The servers to stop and remove for good (blue of a finished upgrade): data directory and major. Required. */
  servers: pulumi.Input<pulumi.Input<{ dataDir: pulumi.Input<string>; major: pulumi.Input<number> }>[]>;
  /** The upgrades' state files: every one must say green serves and the replication objects are gone ("cleaned" after a cutover). Required. */
  statePaths: pulumi.Input<pulumi.Input<string>[]>;
}

interface Inputs {
  servers: { dataDir: string; major: number }[];
  statePaths: string[];
}

/** Refuses unless every upgrade finished with green as the primary; then stops and removes the servers. */
async function retireAll(i: Inputs): Promise<Inputs> {
  const fs = require("node:fs");
  const pg = runtimeModule("local/postgres");
  for (const p of i.statePaths) {
    const s = fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, "utf8")) : null;
    if (!(s && s.phase === "cleaned" && s.lastCutover?.kind === "cutover")) {
      throw new Error(`refusing to remove blue: the upgrade in ${p} is "${s?.phase ?? "missing"}", not finished on green ("cleaned" after a cutover)`);
    }
  }
  for (const srv of i.servers) await pg.stopAndRemove({ major: srv.major, dataDir: srv.dataDir });
  return i;
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: Inputs) {
    return { id: "retired", outs: await retireAll(inputs) };
  },
  async diff(_id: string, olds: Inputs, news: Inputs) {
    return { changes: JSON.stringify(olds) !== JSON.stringify(news) };
  },
  async update(_id: string, _olds: Inputs, news: Inputs) {
    return { outs: await retireAll(news) };
  },
  async delete() {
    // Nothing left: the servers went at create.
  },
};

/**
 * Blue of a finished local upgrade (`upgrade.retireBlue`): stopped and its data directories removed,
 * once every shard's upgrade state says green is the primary and the replication objects are gone.
 * It runs after the CDC writer moved the SQL catalog to green. Deleting this resource does nothing.
 */
export class LocalRetiredServers extends pulumi.dynamic.Resource {
  constructor(name: string, args: LocalRetiredServersArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(provider, name, { servers: args.servers, statePaths: args.statePaths }, opts, "floe", "LocalRetiredServers");
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localRetiredServersProvider };
