import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import { buildKubernetesPooler } from "./kubernetes";
import { buildAwsPooler } from "./aws";
import { buildLocalPooler } from "./local";
import type { PoolerArgs, PoolerBuildResult } from "./args";

export * from "./args";

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
  /** local: directory holding pgbouncer.ini. */
  readonly configDir: pulumi.Output<string | undefined>;

  constructor(name: string, args: PoolerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:Pooler", name, {}, opts);
    const r: PoolerBuildResult = dispatch("Pooler", this, name, args.target, args, {
      kubernetes: buildKubernetesPooler,
      aws: buildAwsPooler,
      local: buildLocalPooler,
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
    this.configDir = r.configDir;
    this.registerOutputs({
      adminUrl: this.adminUrl,
      configClaim: this.configClaim,
      configDir: this.configDir,
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
