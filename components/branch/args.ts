/** The args of DatabaseBranch and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";

export interface DatabaseBranchKubernetesArgs {
  /** Namespace of the parent cluster and the branch. Defaults to "floe". */
  namespace?: string;
  /** Name of a VolumeSnapshot of the parent's data volume (fastest). Required unless backupName is set. */
  volumeSnapshotName?: pulumi.Input<string>;
  /** Name of a CNPG Backup of the parent (used when no VolumeSnapshot is given). Required unless volumeSnapshotName is set. */
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
  /** Settings for target "kubernetes". Required on that target (a snapshot or backup to restore). */
  kubernetes?: DatabaseBranchKubernetesArgs;
  /** Settings for target "aws". Required on that target. */
  aws?: DatabaseBranchAwsArgs;
  /** Settings for target "local". Required on that target (the parent database's URL). */
  local?: DatabaseBranchLocalArgs;
}

export interface DatabaseBranchBuildResult {
  host: pulumi.Output<string>;
  port: pulumi.Output<number>;
  database: pulumi.Output<string>;
  connectionString: pulumi.Output<string>;
}
