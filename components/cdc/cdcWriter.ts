import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import { buildKubernetesCdcWriter } from "./kubernetes";
import { buildAwsCdcWriter } from "./aws";
import { buildLocalCdcWriter } from "./local";
import type { CdcWriterArgs, CdcWriterBuildResult } from "./args";

export * from "./args";

/**
 * The CDC writer's deployment: one writer per source slot (never two at once), its config rendered
 * from the shared contract (runtime/cdc/config.ts) and validated at construction, kept secret.
 *
 * - kubernetes: per source a Deployment (replicas 1, strategy Recreate, probes on /healthz:9187)
 *   and an immutable config Secret; one ServiceAccount (no API token) and one NetworkPolicy.
 * - aws: per source an ECS Fargate service (desired 1, minimum healthy 0 %, maximum 100 %: stop
 *   before start) with its config in Secrets Manager; a task role scoped to the bucket and catalog.
 */
export class CdcWriter extends pulumi.ComponentResource {
  /** Names of the writers (Deployments / ECS services), one per source. */
  readonly writers: pulumi.Output<string[]>;
  /** kubernetes: ServiceAccount of the writers. */
  readonly serviceAccountName: pulumi.Output<string | undefined>;
  /** aws: task role ARN. */
  readonly taskRoleArn: pulumi.Output<string | undefined>;
  /** local: http://127.0.0.1:<port> of the writer's /healthz and /metrics. */
  readonly healthUrl: pulumi.Output<string | undefined>;
  /** local: the writer's log file. */
  readonly logFile: pulumi.Output<string | undefined>;

  constructor(name: string, args: CdcWriterArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:CdcWriter", name, {}, opts);
    const r: CdcWriterBuildResult = dispatch("CdcWriter", this, name, args.target, args, {
      kubernetes: buildKubernetesCdcWriter,
      aws: buildAwsCdcWriter,
      local: buildLocalCdcWriter,
    });
    this.writers = r.writers;
    this.serviceAccountName = r.serviceAccountName;
    this.taskRoleArn = r.taskRoleArn;
    this.healthUrl = r.healthUrl;
    this.logFile = r.logFile;
    this.registerOutputs({
      writers: this.writers,
      serviceAccountName: this.serviceAccountName,
      taskRoleArn: this.taskRoleArn,
      healthUrl: this.healthUrl,
      logFile: this.logFile,
    });
  }
}
