/** DatabaseBranch on aws: an Aurora cluster cloned copy-on-write from the parent, plus one instance. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import type { DatabaseBranchArgs, DatabaseBranchBuildResult } from "./args";

export function buildAwsBranch(ctx: BuildContext<DatabaseBranchArgs>): DatabaseBranchBuildResult {
  const { name, args, v, childOpts } = ctx;
  const a = args.aws;
  if (!a) return v.fail("aws", undefined, 'is required when target is "aws"', "set aws.sourceClusterIdentifier to the parent Aurora cluster");
  if (args.kubernetes || args.local)
    v.fail(args.kubernetes ? "kubernetes" : "local", "{…}", 'is set but target is "aws"', 'move these settings under "aws" or change target');
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
    {
      identifier: `${id}-1`,
      clusterIdentifier: cluster.id,
      engine: "aurora-postgresql",
      engineVersion: cluster.engineVersion,
      instanceClass,
      publiclyAccessible: false,
    },
    childOpts,
  );
  return {
    host: cluster.endpoint,
    port: cluster.port,
    database: pulumi.output(database),
    connectionString: pulumi.interpolate`postgresql://${cluster.endpoint}:${cluster.port}/${database}?sslmode=require`,
  };
}
