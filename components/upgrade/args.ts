/** The args of BlueGreenUpgrade and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";

/** The runtime image with the `floe` CLI. */
export const DEFAULT_UPGRADE_IMAGE = "ghcr.io/floe-data/floe:0.1.0";

export interface BlueGreenUpgradeKubernetesArgs {
  /** Namespace of blue, green and the Job. Defaults to "floe". */
  namespace?: string;
  /** Green instances (primary + replicas). Defaults to 2. */
  instances?: number;
  /** Green's Postgres image. Defaults to ghcr.io/cloudnative-pg/postgresql:<toVersion> (18: the 18-standard-trixie image). */
  imageName?: string;
  /** Green's volume size. Defaults to "20Gi". */
  storageSize?: string;
  /** Storage class of green's volumes and of the state claim. Defaults to the cluster default. */
  storageClass?: string;
  /** PersistentVolumeClaim (ReadWriteMany) holding the pgbouncer.ini the pooler reads. Required. */
  poolerConfigClaim: pulumi.Input<string>;
  /** Path of pgbouncer.ini inside that claim. Defaults to "pgbouncer.ini". */
  poolerConfigPath?: string;
  /**
   * The Secret holding blue's server CA (`ca.crt` and `ca.key`: CloudNativePG's `<cluster>-ca`, or
   * your `serverCASecret` when it has the key). Green's server certificate is issued from it
   * (`certificates.serverCASecret`), so a client that verifies blue's CA, the CDC writer, goes on
   * verifying after the handoff; and the orchestrator Job mounts it and connects to blue and
   * green with sslmode verify-full. DataPlatform passes its cluster's. Defaults to none: green
   * gets a CA of its own and the orchestrator connects with sslmode require (encrypted, not verified).
   */
  blueCaSecretName?: pulumi.Input<string>;
  /** Escape hatch merged last into green's `Cluster` spec. Defaults to none. */
  spec?: Record<string, unknown>;
}

export interface BlueGreenUpgradeAwsArgs {
  /** VPC of blue. Required. */
  vpcId: pulumi.Input<string>;
  /** Private subnets (two AZs or more) for green and the orchestrator task. Required. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Security groups given to green and the task; they must reach blue, green and pgBouncer. Required. */
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** ECS cluster to run the task in. Defaults to a new cluster. */
  ecsClusterArn?: pulumi.Input<string>;
  /** Green's instance class. Defaults to "db.r6g.large". */
  instanceClass?: pulumi.Input<string>;
  /** Green's instances. Defaults to 2. */
  instances?: number;
  /** Aurora engine version of green. Defaults to the newest floe has tested for toVersion. */
  engineVersion?: pulumi.Input<string>;
  /** KMS key for green's storage. Defaults to the AWS-managed key. */
  kmsKeyId?: pulumi.Input<string>;
  /** EFS file system holding pgbouncer.ini, mounted at /pooler. Defaults to none (then poolerIniPath must be reachable otherwise). */
  efsFileSystemId?: pulumi.Input<string>;
  /**
   * The CA the orchestrator task verifies blue and green against (sslmode verify-full): "aws-rds"
   * (the RDS / Aurora CAs shipped with floe), a PEM path in the image, or "none" to use the URLs'
   * own sslmode. The subscriptions, opened by the servers, stay require. Defaults to "aws-rds".
   */
  sslrootcert?: string;
}

export interface BlueGreenUpgradeRoleArgs {
  /** Role name, as on blue. Required. */
  username: pulumi.Input<string>;
  /** Its password, as on blue; pass a secret. Required. */
  password: pulumi.Input<string>;
  /** Whether it is the CDC writer's replication role (REPLICATION, or rds_replication on Aurora). Defaults to false. */
  replication?: boolean;
}

export interface BlueGreenUpgradeLocalArgs {
  /** Absolute directory for green's data directory (`green-<toVersion>`), the state file and the orchestrator's log. Required. */
  dataDir: string;
  /** Directory of the local pgBouncer (a LocalPgBouncer's `dir`): its pgbouncer.ini is repointed, its listen_port is the admin console's. Required. */
  poolerDir: pulumi.Input<string>;
  /** Other [databases] entries that point at blue's database; they pause and move with it. Defaults to none. */
  poolerAliases?: string[];
  /** Green's superuser, application and replication passwords: pass blue's, so clients, pgBouncer and the CDC writer keep theirs. Kept secret. Required. */
  passwords: pulumi.Input<{ admin: pulumi.Input<string>; app: pulumi.Input<string>; replication: pulumi.Input<string> }>;
  /** Application role on green (it owns `database`). Defaults to "app". */
  appUsername?: string;
  /** Replication role of the CDC writer on green. Defaults to "floe_replication". */
  replicationUsername?: string;
  /** Extra postgresql.conf settings of green. Defaults to none. */
  settings?: Record<string, string>;
  /** Green's data directory. Defaults to `<dataDir>/green-<toVersion>`. */
  greenDataDir?: string;
  /** The orchestrator's state file. Defaults to `<dataDir>/upgrade-to-<toVersion>.json`. */
  statePath?: string;
  /** The pgbouncer.ini [databases] entry that moves to green. Defaults to `database`. */
  poolerDatabase?: string;
  /** Extra databases created on green, owned by the superuser (the platform's SQL catalog moves there when blue is retired). Defaults to none. */
  extraDatabases?: string[];
  /**
   * Finish the upgrade once green serves and the CDC writer has moved past the handoff: drop the
   * replication objects on both sides (rollback is impossible afterwards). Defaults to false.
   */
  retireBlue?: boolean;
}

export interface BlueGreenUpgradeArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local", like every piece (it used to default to "kubernetes": set it explicitly). */
  target?: string;
  /** Green's major version; must be newer than blue's (the orchestrator checks). Required. */
  toVersion: number;
  /** Database to upgrade (the pgBouncer [databases] entry of the same name). Defaults to "app". */
  database?: string;
  /** Blue's superuser URL including the database, as green and the orchestrator reach it. Required; kept secret. */
  blueUrl: pulumi.Input<string>;
  /** pgBouncer admin console URL (postgres://user@host:port/pgbouncer). Required; kept secret. */
  poolerAdminUrl: pulumi.Input<string>;
  /** Hard budget (ms) for green to apply blue's final LSN while the pooler is paused. Defaults to 1000. */
  budgetMs?: number;
  /** Whether the orchestrator runs now. When false, only green is created. Defaults to true. */
  run?: boolean;
  /** Runtime image. Defaults to DEFAULT_UPGRADE_IMAGE. */
  image?: pulumi.Input<string>;
  /**
   * The CDC writer's publication and slot on blue: the orchestrator recreates them on green before
   * the pause and writes the handoff the writer follows by itself. Defaults to none (no writer).
   */
  cdc?: { publication: pulumi.Input<string>; slot: pulumi.Input<string> };
  /**
   * Login roles to create on green with blue's passwords, before the cutover: the application role
   * pgBouncer logs in with and the CDC writer's replication role (`replication: true`). Without
   * them, clients and the writer cannot log in to green after the switch. kubernetes: CNPG managed
   * roles; aws: through the postgresql provider (like DatabaseRoles on blue). Unused on local (the
   * green server has the platform's roles). Defaults to none.
   */
  roles?: BlueGreenUpgradeRoleArgs[];
  /** Local-only settings. Required when target is "local". */
  local?: BlueGreenUpgradeLocalArgs;
  /** Kubernetes-only settings. Required when target is "kubernetes". */
  kubernetes?: BlueGreenUpgradeKubernetesArgs;
  /** AWS-only settings. Required when target is "aws". */
  aws?: BlueGreenUpgradeAwsArgs;
}

export interface BlueGreenUpgradeBuildResult {
  greenHost: pulumi.Output<string>;
  greenUrl: pulumi.Output<string>;
  jobName: pulumi.Output<string | undefined>;
  taskDefinitionArn: pulumi.Output<string | undefined>;
  runTaskCommand: pulumi.Output<string | undefined>;
  statePath: pulumi.Output<string | undefined>;
  poolerPort: pulumi.Output<number | undefined>;
  rollbackCommand: pulumi.Output<string | undefined>;
  /** local: the orchestrator's phase ("upgraded" once green serves). */
  phase: pulumi.Output<string | undefined>;
}
