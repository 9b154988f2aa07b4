/**
 * DatabaseBranch: a throwaway copy of a database to try a migration on, for each target:
 *   - kubernetes: a CloudNativePG Cluster bootstrapped (recovery) from a VolumeSnapshot or a CNPG
 *     Backup of the parent cluster;
 *   - aws: an Aurora cluster cloned copy-on-write from the parent (restoreToPointInTime with
 *     restoreType "copy-on-write") plus one instance;
 *   - local: a new database on the parent's Postgres (CREATE DATABASE ... TEMPLATE), created and
 *     deleted by floe's branch runtime through a dynamic provider.
 * A branch never shares writes with its parent.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as path from "node:path";
import { dispatch, BuildContext } from "../target";
import { deepMerge, labels } from "../util";
import { RUNTIME_DIR } from "../local/runtime";

export interface DatabaseBranchKubernetesArgs {
  /** Namespace of the parent cluster and the branch. Defaults to "floe". */
  namespace?: string;
  /** Name of a VolumeSnapshot of the parent's data volume (fastest). One of volumeSnapshotName or backupName is required. */
  volumeSnapshotName?: pulumi.Input<string>;
  /** Name of a CNPG Backup of the parent (used when no VolumeSnapshot is given). */
  backupName?: pulumi.Input<string>;
  /** Database name inside the cluster. Defaults to "app". */
  database?: string;
  /** Postgres image. Defaults to "ghcr.io/cloudnative-pg/postgresql:16". */
  imageName?: pulumi.Input<string>;
  /** Storage for the branch. Defaults to "10Gi". */
  storageSize?: pulumi.Input<string>;
  /** Extra CNPG Cluster spec, merged last (escape hatch). Defaults to none. */
  spec?: Record<string, unknown>;
}

export interface DatabaseBranchAwsArgs {
  /** Identifier of the parent Aurora PostgreSQL cluster. Required. */
  sourceClusterIdentifier: pulumi.Input<string>;
  /** DB subnet group for the clone. Defaults to the parent's (AWS behaviour when unset). */
  dbSubnetGroupName?: pulumi.Input<string>;
  /** Security groups for the clone. Defaults to the VPC's default group (AWS behaviour when unset). */
  vpcSecurityGroupIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Instance class of the clone's one instance. Defaults to "db.serverless" (Serverless v2, 0.5-4 ACU). */
  instanceClass?: string;
  /** Aurora engine version; must match the parent's. Defaults to the engine default. */
  engineVersion?: pulumi.Input<string>;
  /** Database name. Defaults to "app". */
  database?: string;
  /** KMS key for storage encryption. Defaults to the AWS-managed key (encryption is always on). */
  kmsKeyId?: pulumi.Input<string>;
}

export interface DatabaseBranchLocalArgs {
  /** URL of the parent database on a running Postgres (kept secret). Required. */
  parentUrl: pulumi.Input<string>;
  /** Terminate the parent's other sessions instead of waiting for them. Defaults to false. */
  terminateConnections?: boolean;
  /** Seconds to wait for the parent to be free of other sessions. Defaults to 30. */
  timeoutSeconds?: number;
}

export interface DatabaseBranchArgs {
  /** "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Name of the branch (database or cluster name). Defaults to the resource name with "-" turned into "_" for local. */
  branchName?: string;
  /** Settings for target "kubernetes". */
  kubernetes?: DatabaseBranchKubernetesArgs;
  /** Settings for target "aws"; required when target is "aws". */
  aws?: DatabaseBranchAwsArgs;
  /** Settings for target "local"; required when target is "local". */
  local?: DatabaseBranchLocalArgs;
}

interface BranchOutputs {
  host: pulumi.Output<string>;
  port: pulumi.Output<number>;
  database: pulumi.Output<string>;
  connectionString: pulumi.Output<string>;
}

export class DatabaseBranch extends pulumi.ComponentResource {
  /** Host of the branch's read-write endpoint. */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  /** libpq URL of the branch (secret). Credentials are the parent's (they are copied with the data); local URLs carry them. */
  readonly connectionString: pulumi.Output<string>;

  constructor(name: string, args: DatabaseBranchArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:DatabaseBranch", name, {}, opts);
    const out = dispatch<DatabaseBranchArgs, BranchOutputs>("DatabaseBranch", this, name, args.target, args, {
      kubernetes: buildKubernetes,
      aws: buildAws,
      local: buildLocal,
    });
    this.host = out.host;
    this.port = out.port;
    this.database = out.database;
    this.connectionString = pulumi.secret(out.connectionString);
    this.registerOutputs({ host: this.host, port: this.port, database: this.database, connectionString: this.connectionString });
  }
}

function buildKubernetes(ctx: BuildContext<DatabaseBranchArgs>): BranchOutputs {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes ?? {};
  if (args.aws || args.local) v.fail(args.aws ? "aws" : "local", "{…}", 'is set but target is "kubernetes"', 'move these settings under "kubernetes" or change target');
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  const clusterName = v.dnsLabel("branchName", args.branchName ?? name, 50);
  const database = v.sqlIdentifier("kubernetes.database", ka.database ?? "app");
  if (!ka.volumeSnapshotName && !ka.backupName) {
    v.fail("kubernetes.volumeSnapshotName", undefined, "and kubernetes.backupName are both unset", "name a VolumeSnapshot of the parent's PGDATA volume (volumeSnapshotName) or a CNPG Backup of the parent (backupName)");
  }
  const recovery: Record<string, unknown> = { database };
  if (ka.volumeSnapshotName) recovery.volumeSnapshots = { storage: { name: ka.volumeSnapshotName, kind: "VolumeSnapshot", apiGroup: "snapshot.storage.k8s.io" } };
  else recovery.backup = { name: ka.backupName };
  const spec = deepMerge(
    {
      instances: 1,
      imageName: ka.imageName ?? "ghcr.io/cloudnative-pg/postgresql:16",
      storage: { size: ka.storageSize ?? "10Gi" },
      bootstrap: { recovery },
      postgresql: { parameters: { wal_level: "logical" } },
    } as Record<string, unknown>,
    ka.spec,
  );
  const cluster = new k8s.apiextensions.CustomResource(
    `${name}-cluster`,
    { apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", metadata: { name: clusterName, namespace: ns, labels: { ...labels("database-branch", name), "floe.dev/branch": "true" } }, spec },
    childOpts,
  );
  const host = pulumi.all([cluster.metadata.name, cluster.metadata.namespace]).apply(([n, s]) => `${n}-rw.${s}.svc`);
  return {
    host,
    port: pulumi.output(5432),
    database: pulumi.output(database),
    connectionString: pulumi.interpolate`postgresql://${host}:5432/${database}?sslmode=require`,
  };
}

function buildAws(ctx: BuildContext<DatabaseBranchArgs>): BranchOutputs {
  const { name, args, v, childOpts } = ctx;
  const a = args.aws;
  if (!a) return v.fail("aws", undefined, 'is required when target is "aws"', "set aws.sourceClusterIdentifier to the parent Aurora cluster");
  if (args.kubernetes || args.local) v.fail(args.kubernetes ? "kubernetes" : "local", "{…}", 'is set but target is "aws"', 'move these settings under "aws" or change target');
  const id = v.dnsLabel("branchName", args.branchName ?? name, 60);
  const database = v.sqlIdentifier("aws.database", a.database ?? "app");
  const instanceClass = a.instanceClass ?? "db.serverless";
  const cluster = new aws.rds.Cluster(
    `${name}-clone`,
    {
      clusterIdentifier: id,
      engine: "aurora-postgresql",
      engineVersion: a.engineVersion,
      restoreToPointInTime: { sourceClusterIdentifier: a.sourceClusterIdentifier, restoreType: "copy-on-write", useLatestRestorableTime: true },
      dbSubnetGroupName: a.dbSubnetGroupName,
      vpcSecurityGroupIds: a.vpcSecurityGroupIds,
      storageEncrypted: true,
      kmsKeyId: a.kmsKeyId,
      skipFinalSnapshot: true,
      deletionProtection: false,
      serverlessv2ScalingConfiguration: instanceClass === "db.serverless" ? { minCapacity: 0.5, maxCapacity: 4 } : undefined,
      tags: { "floe:branch": "true", "floe:branch-of": a.sourceClusterIdentifier },
    },
    childOpts,
  );
  new aws.rds.ClusterInstance(
    `${name}-instance`,
    { identifier: `${id}-1`, clusterIdentifier: cluster.id, engine: "aurora-postgresql", engineVersion: cluster.engineVersion, instanceClass, publiclyAccessible: false },
    childOpts,
  );
  return {
    host: cluster.endpoint,
    port: cluster.port,
    database: pulumi.output(database),
    connectionString: pulumi.interpolate`postgresql://${cluster.endpoint}:${cluster.port}/${database}?sslmode=require`,
  };
}

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
 * `require` by absolute path (the compiled runtime in dist/runtime, see components/local/runtime.ts).
 */
export const localBranchProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: LocalBranchInputs) {
    const branch = require(require("path").join(inputs.runtimeDir, "schema", "branch.js"));
    const b = await branch.createBranch(inputs.parentUrl, { name: inputs.branchName, terminateConnections: inputs.terminateConnections, timeoutMs: inputs.timeoutSeconds * 1000 });
    return { id: b.name, outs: { ...inputs, url: b.url, host: new URL(b.url).hostname, port: Number(new URL(b.url).port || 5432), database: b.name } };
  },
  async diff(_id: string, olds: LocalBranchInputs, news: LocalBranchInputs) {
    const replaces = (["parentUrl", "branchName"] as const).filter((k) => olds[k] !== news[k]);
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async delete(id: string, props: LocalBranchInputs) {
    const branch = require(require("path").join(props.runtimeDir, "schema", "branch.js"));
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

function buildLocal(ctx: BuildContext<DatabaseBranchArgs>): BranchOutputs {
  const { name, args, v, childOpts } = ctx;
  const l = args.local;
  if (!l) return v.fail("local", undefined, 'is required when target is "local"', "set local.parentUrl to the URL of the database to branch");
  if (args.kubernetes || args.aws) v.fail(args.kubernetes ? "kubernetes" : "aws", "{…}", 'is set but target is "local"', 'move these settings under "local" or change target');
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
