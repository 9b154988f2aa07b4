/**
 * DatabaseBranch on the local target: a new database on the parent's Postgres (CREATE DATABASE …
 * TEMPLATE), created and deleted by floe's branch runtime (runtime/schema/branch.ts) through a dynamic provider.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { BuildContext } from "../target";
import { RUNTIME_DIR, runtimeModule } from "../runtime";
import type { DatabaseBranchArgs, DatabaseBranchBuildResult } from "./args";

/** Inputs of the local branch dynamic resource. */
interface LocalBranchInputs {
  parentUrl: string;
  branchName: string;
  terminateConnections: boolean;
  timeoutSeconds: number;
  runtimeDir: string;
}

/**
 * The local dynamic provider. Pulumi serializes these functions; they only use their inputs and
 * load the compiled runtime by absolute path (runtimeModule, components/runtime.ts). `runtimeDir` stays an
 * input for the stacks that recorded it.
 */
export const localBranchProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: LocalBranchInputs) {
    const branch = runtimeModule("schema/branch");
    const b = await branch.createBranch(inputs.parentUrl, {
      name: inputs.branchName,
      terminateConnections: inputs.terminateConnections,
      timeoutMs: inputs.timeoutSeconds * 1000,
    });
    return { id: b.name, outs: { ...inputs, url: b.url, host: new URL(b.url).hostname, port: Number(new URL(b.url).port || 5432), database: b.name } };
  },
  async diff(_id: string, olds: LocalBranchInputs, news: LocalBranchInputs) {
    const replaces = (["parentUrl", "branchName"] as const).filter((k) => olds[k] !== news[k]);
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async delete(id: string, props: LocalBranchInputs) {
    const branch = runtimeModule("schema/branch");
    await branch.deleteBranch(props.parentUrl, id);
  },
};

class LocalBranch extends pulumi.dynamic.Resource {
  readonly url!: pulumi.Output<string>;
  readonly host!: pulumi.Output<string>;
  readonly port!: pulumi.Output<number>;
  readonly database!: pulumi.Output<string>;
  constructor(name: string, props: pulumi.Inputs, opts: pulumi.CustomResourceOptions) {
    super(localBranchProvider, name, { url: undefined, host: undefined, port: undefined, database: undefined, ...props }, opts, "floe", "LocalDatabaseBranch");
  }
}

export function buildLocalBranch(ctx: BuildContext<DatabaseBranchArgs>): DatabaseBranchBuildResult {
  const { name, args, v, childOpts } = ctx;
  const l = args.local;
  if (!l) return v.fail("local", undefined, 'is required when target is "local"', "set local.parentUrl to the URL of the database to branch");
  if (args.kubernetes || args.aws)
    v.fail(args.kubernetes ? "kubernetes" : "aws", "{…}", 'is set but target is "local"', 'move these settings under "local" or change target');
  const branchName = v.sqlIdentifier("branchName", args.branchName ?? name.toLowerCase().replace(/-/g, "_"));
  const timeoutSeconds = v.int("local.timeoutSeconds", l.timeoutSeconds, 30, 1, 3600);
  const res = new LocalBranch(
    `${name}-database`,
    {
      parentUrl: pulumi.secret(l.parentUrl),
      branchName,
      terminateConnections: l.terminateConnections ?? false,
      timeoutSeconds,
      runtimeDir: path.resolve(RUNTIME_DIR),
    },
    { ...childOpts, additionalSecretOutputs: ["url"] },
  );
  return { host: res.host, port: res.port, database: res.database, connectionString: res.url };
}
