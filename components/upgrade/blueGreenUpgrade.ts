/**
 * BlueGreenUpgrade: a zero-downtime major-version upgrade of an existing floe Postgres cluster.
 * It declares green (the new major) and a one-shot run of the orchestrator (`floe upgrade run`)
 * from the runtime image; the orchestrator does the work at run time (docs/upgrade.md):
 * schema copy, logical replication, a budgeted pause behind pgBouncer, reverse replication.
 *
 * - kubernetes: a green CloudNativePG `Cluster` at the new major (logical WAL, slots for the
 *   forward and reverse subscriptions), and a `Job` running the orchestrator. The Job's state file
 *   lives on a PersistentVolumeClaim, so a retried pod resumes (and never leaves the pooler paused).
 *   The orchestrator repoints pgBouncer by rewriting its pgbouncer.ini and RELOAD: the Job mounts
 *   the claim that holds that file (`kubernetes.poolerConfigClaim`), shared with the pgBouncer
 *   Deployment. The operator-managed CNPG `Pooler` is not supported by the orchestrator yet.
 * - aws: a green Aurora PostgreSQL cluster at the new major (`rds.logical_replication=1`, TLS
 *   forced, encrypted) and an ECS Fargate task definition running the orchestrator; start it with
 *   the `runTaskCommand` output. RDS Proxy has no PAUSE: the cutover needs pgBouncer (e.g. on ECS,
 *   its config on EFS, `aws.efsFileSystemId`). RDS Blue/Green Deployments do the same for RDS and
 *   Aurora without floe (switchover "typically under a minute", writes blocked meanwhile, default
 *   timeout 300 s, and no reverse replication for rollback); floe's cutover pauses writes for about
 *   a tenth of a second and keeps rollback possible. Use RDS Blue/Green when neither matters.
 * - local: a green `LocalPostgresServer` at the new major next to blue and a `LocalUpgrade` that
 *   runs the orchestrator in-process during `pulumi up` against the local pgBouncer (its
 *   pgbouncer.ini and admin console). `LocalPlatform` / `DataPlatform` build the same pieces from
 *   their `upgrade` setting; this is for a local stack composed by hand.
 */
import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import type { BlueGreenUpgradeArgs } from "./args";
import { buildKubernetesUpgrade } from "./kubernetes";
import { buildAwsUpgrade } from "./aws";
import { buildLocalUpgrade } from "./local";

export * from "./args";

export class BlueGreenUpgrade extends pulumi.ComponentResource {
  /** Green's read-write endpoint. */
  readonly greenHost: pulumi.Output<string>;
  /** Green's superuser URL (secret). */
  readonly greenUrl: pulumi.Output<string>;
  /** kubernetes: the orchestrator Job's name. */
  readonly jobName: pulumi.Output<string | undefined>;
  /** aws: the orchestrator's task definition. */
  readonly taskDefinitionArn: pulumi.Output<string | undefined>;
  /** aws: the command that starts the orchestrator task. */
  readonly runTaskCommand: pulumi.Output<string | undefined>;
  /** local: the orchestrator's state file (`floe upgrade status|rollback|cleanup --state`). */
  readonly statePath: pulumi.Output<string | undefined>;
  /** local: the port the pooler entry points at now (green once upgraded): wire your LocalPgBouncer's `databases` to it. */
  readonly poolerPort: pulumi.Output<number | undefined>;
  /** local: the complete `floe upgrade rollback` command (secret: it holds passwords). */
  readonly rollbackCommand: pulumi.Output<string | undefined>;
  /** local: the orchestrator's phase ("upgraded" once green serves the pooler). */
  readonly phase: pulumi.Output<string | undefined>;

  constructor(name: string, args: BlueGreenUpgradeArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:BlueGreenUpgrade", name, {}, opts);
    const built = dispatch("BlueGreenUpgrade", this, name, args.target, args, {
      kubernetes: buildKubernetesUpgrade,
      aws: buildAwsUpgrade,
      local: buildLocalUpgrade,
    });
    this.greenHost = built.greenHost;
    this.greenUrl = built.greenUrl;
    this.jobName = built.jobName;
    this.taskDefinitionArn = built.taskDefinitionArn;
    this.runTaskCommand = built.runTaskCommand;
    this.statePath = built.statePath;
    this.poolerPort = built.poolerPort;
    this.rollbackCommand = built.rollbackCommand;
    this.phase = built.phase;
    this.registerOutputs({
      greenHost: this.greenHost,
      greenUrl: this.greenUrl,
      jobName: this.jobName,
      taskDefinitionArn: this.taskDefinitionArn,
      runTaskCommand: this.runTaskCommand,
      statePath: this.statePath,
      poolerPort: this.poolerPort,
      rollbackCommand: this.rollbackCommand,
      phase: this.phase,
    });
  }
}
