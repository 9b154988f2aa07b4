import * as pulumi from "@pulumi/pulumi";
import { dispatch, localNotYetAvailable } from "../target";
import { buildKubernetesPooler } from "./kubernetes";
import { buildAwsPooler } from "./aws";

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
}

/**
 * pgBouncer in front of a Postgres cluster, transaction pooling by default, with the admin access
 * the blue/green upgrade cutover needs.
 *
 * - kubernetes "cnpg": a CNPG `Pooler` (pgBouncer managed by the operator). Cutover access: a
 *   ServiceAccount whose Role may only get/patch this Pooler (`spec.pgbouncer.paused` is PAUSE /
 *   RESUME, `spec.cluster.name` repoints it).
 * - kubernetes "pgbouncer": a pgBouncer Deployment (1 replica, Recreate) with pgbouncer.ini on a
 *   ReadWriteMany claim and an admin console user: `adminUrl` and `configClaim` are what
 *   BlueGreenUpgrade takes (`poolerAdminUrl`, `kubernetes.poolerConfigClaim`).
 * - aws: RDS Proxy reading the credentials from Secrets Manager, TLS required. Cutover access: an
 *   IAM policy allowing only (de)registering targets of this proxy. RDS Proxy has no PAUSE.
 */
export class Pooler extends pulumi.ComponentResource {
  /** Endpoint applications connect to. */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly poolMode: string;
  /** kubernetes: name of the CNPG Pooler (and of its Service). */
  readonly poolerName: pulumi.Output<string | undefined>;
  /** kubernetes: ServiceAccount allowed to pause/resume/repoint the Pooler. */
  readonly cutoverServiceAccount: pulumi.Output<string | undefined>;
  /** aws: RDS Proxy ARN. */
  readonly proxyArn: pulumi.Output<string | undefined>;
  /** aws: IAM policy allowing the cutover to repoint the proxy. */
  readonly cutoverPolicyArn: pulumi.Output<string | undefined>;
  /** kubernetes "pgbouncer": admin console URL (postgres://admin:…@host:5432/pgbouncer), secret. */
  readonly adminUrl: pulumi.Output<string | undefined>;
  /** kubernetes "pgbouncer": PersistentVolumeClaim holding pgbouncer.ini. */
  readonly configClaim: pulumi.Output<string | undefined>;

  constructor(name: string, args: PoolerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:Pooler", name, {}, opts);
    const r: PoolerBuildResult = dispatch("Pooler", this, name, args.target, args, {
      kubernetes: buildKubernetesPooler,
      aws: buildAwsPooler,
      local: localNotYetAvailable("Pooler"),
    });
    this.host = r.host;
    this.port = r.port;
    this.poolMode = r.poolMode;
    this.poolerName = r.poolerName;
    this.cutoverServiceAccount = r.cutoverServiceAccount;
    this.proxyArn = r.proxyArn;
    this.cutoverPolicyArn = r.cutoverPolicyArn;
    this.adminUrl = pulumi.secret(r.adminUrl);
    this.configClaim = r.configClaim;
    this.registerOutputs({
      adminUrl: this.adminUrl,
      configClaim: this.configClaim,
      host: this.host,
      port: this.port,
      poolMode: this.poolMode,
      poolerName: this.poolerName,
      cutoverServiceAccount: this.cutoverServiceAccount,
      proxyArn: this.proxyArn,
      cutoverPolicyArn: this.cutoverPolicyArn,
    });
  }
}
