import * as pulumi from "@pulumi/pulumi";
import { dispatch, localNotYetAvailable } from "../target";
import { buildKubernetesPooler } from "./kubernetes";
import { buildAwsPooler } from "./aws";

export const POOL_MODES = ["transaction", "session", "statement"] as const;

export interface PoolerKubernetesArgs {
  /** Namespace of the CNPG cluster. Defaults to "floe". */
  namespace?: string;
  /** Name of the CNPG `Cluster` to pool. Required. */
  clusterName: pulumi.Input<string>;
  /** Extra pgBouncer parameters (strings), merged over floe's. Defaults to none. */
  parameters?: Record<string, string>;
  /** Escape hatch merged last into the Pooler `spec`. Defaults to none. */
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
  /** pgBouncer instances (kubernetes). Defaults to 2. */
  instances?: number;
  /** Seconds a client may wait for a server connection; the upgrade cutover raises it around its pause. Defaults to 120. */
  queryWaitTimeout?: number;
  /** Kubernetes-only settings (required for that target). */
  kubernetes?: PoolerKubernetesArgs;
  /** AWS-only settings (required for that target). */
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
}

/**
 * pgBouncer in front of a Postgres cluster, transaction pooling by default, with the admin access
 * the blue/green upgrade cutover needs.
 *
 * - kubernetes: a CNPG `Pooler` (pgBouncer managed by the operator). Cutover access: a
 *   ServiceAccount whose Role may only get/patch this Pooler (`spec.pgbouncer.paused` is PAUSE /
 *   RESUME, `spec.cluster.name` repoints it).
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
    this.registerOutputs({
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
