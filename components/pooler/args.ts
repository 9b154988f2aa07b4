/** The args of Pooler and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";

export const POOL_MODES = ["transaction", "session", "statement"] as const;

/** A user pgBouncer authenticates (and connects to Postgres as). */
export interface PoolerUserArgs {
  /** Role name. Required. */
  username: pulumi.Input<string>;
  /** Its password; pass a secret. Required. */
  password: pulumi.Input<string>;
}

export interface PoolerKubernetesArgs {
  /**
   * "cnpg": a CNPG `Pooler` managed by the operator (works on any cluster). "pgbouncer": a
   * pgBouncer Deployment whose pgbouncer.ini lives on a ReadWriteMany claim and which has an admin
   * console user, the setup the blue/green upgrade orchestrator needs to PAUSE / repoint / RESUME.
   * Defaults to "cnpg".
   */
  implementation?: string;
  /** Namespace. Defaults to "floe". */
  namespace?: string;
  /** cnpg: name of the CNPG `Cluster` to pool. Required for "cnpg". */
  clusterName?: pulumi.Input<string>;
  /** pgbouncer: Postgres host (the primary / coordinator). Required for "pgbouncer". */
  host?: pulumi.Input<string>;
  /** pgbouncer: Postgres port. Defaults to 5432. */
  port?: pulumi.Input<number>;
  /** pgbouncer: database exposed (same name on both sides). Defaults to "app". */
  database?: string;
  /** pgbouncer: users allowed through (written to userlist.txt in a Secret). Required for "pgbouncer". */
  users?: PoolerUserArgs[];
  /** pgbouncer: StorageClass of the config claim; it must support ReadWriteMany. Defaults to the cluster default. */
  configStorageClass?: pulumi.Input<string>;
  /** pgbouncer: image with the pgbouncer binary. Defaults to "ghcr.io/cloudnative-pg/pgbouncer:1.24.1". */
  image?: pulumi.Input<string>;
  /** Extra pgBouncer parameters (strings), merged over floe's. Defaults to none. */
  parameters?: Record<string, string>;
  /** cnpg: escape hatch merged last into the Pooler `spec`. Defaults to none. */
  spec?: Record<string, unknown>;
}

export interface PoolerAwsArgs {
  /** Aurora cluster identifier to put behind RDS Proxy. Required. */
  clusterIdentifier: pulumi.Input<string>;
  /** Secrets Manager secret with the database credentials (username/password JSON). Required. */
  secretArn: pulumi.Input<string>;
  /** Subnets of the proxy (at least two AZs). Required. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Security groups of the proxy. Required. */
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** KMS key that encrypts `secretArn`, if it is a customer-managed key. Defaults to the AWS-managed key. */
  kmsKeyArn?: pulumi.Input<string>;
  /** Percentage of the database's max_connections the proxy may use. Defaults to 90. */
  maxConnectionsPercent?: number;
}

export interface PoolerLocalArgs {
  /** Directory of pgbouncer.ini, userlist.txt, the pid file and the log. Defaults to `.floe-<stack>/<name>` in the program's working directory. */
  dir?: string;
  /** Port on 127.0.0.1. Defaults to any free port, chosen once. */
  port?: pulumi.Input<number>;
  /** Databases clients connect to, each mapped to a server (e.g. one per shard of a local PostgresCluster). Required. */
  databases: pulumi.Input<
    pulumi.Input<{ name: pulumi.Input<string>; host: pulumi.Input<string>; port: pulumi.Input<number>; dbname?: pulumi.Input<string> }>[]
  >;
  /** Users and passwords pgBouncer authenticates (SCRAM) and logs in to the servers with; pass secrets. Required. */
  users: pulumi.Input<pulumi.Input<{ name: pulumi.Input<string>; password: pulumi.Input<string> }>[]>;
  /** Users allowed on the admin console (PAUSE / RESUME / RELOAD); the first one's password is in `adminUrl`. Required. */
  adminUsers: string[];
}

export interface PoolerArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** pgBouncer pool mode: "transaction", "session" or "statement". Defaults to "transaction" (RDS Proxy supports only transaction-level multiplexing). */
  poolMode?: string;
  /** Largest number of client connections. Defaults to 1000. */
  maxClientConnections?: number;
  /** Server connections per user/database pair. Defaults to 20. */
  defaultPoolSize?: number;
  /** pgBouncer instances (kubernetes). Defaults to 2 for "cnpg"; "pgbouncer" runs exactly 1 (a PAUSE must reach every pgBouncer). */
  instances?: number;
  /** Seconds a client may wait for a server connection; the upgrade cutover raises it around its pause. Defaults to 120. */
  queryWaitTimeout?: number;
  /** Kubernetes-only settings. Required on that target. */
  kubernetes?: PoolerKubernetesArgs;
  /** AWS-only settings. Required on that target. */
  aws?: PoolerAwsArgs;
  /** Local-only settings. Required on that target. */
  local?: PoolerLocalArgs;
}

export interface PoolerBuildResult {
  host: pulumi.Output<string>;
  port: pulumi.Output<number>;
  poolMode: string;
  poolerName: pulumi.Output<string | undefined>;
  cutoverServiceAccount: pulumi.Output<string | undefined>;
  proxyArn: pulumi.Output<string | undefined>;
  cutoverPolicyArn: pulumi.Output<string | undefined>;
  adminUrl: pulumi.Output<string | undefined>;
  configClaim: pulumi.Output<string | undefined>;
  /** local: the directory holding pgbouncer.ini (what a local BlueGreenUpgrade's `local.poolerDir` takes). */
  configDir: pulumi.Output<string | undefined>;
}
