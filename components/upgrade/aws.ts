/**
 * BlueGreenUpgrade on aws: a green Aurora PostgreSQL cluster at the new major
 * (`rds.logical_replication=1`, TLS forced, encrypted) and an ECS Fargate task definition running
 * the orchestrator; start it with the `runTaskCommand` output. RDS Proxy has no PAUSE: the cutover
 * needs pgBouncer (e.g. on ECS, its config on EFS, `aws.efsFileSystemId`).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as postgresql from "@pulumi/postgresql";
import type { BuildContext } from "../target";
import { password, pgUrl } from "../util";
import { DEFAULT_UPGRADE_IMAGE, type BlueGreenUpgradeArgs, type BlueGreenUpgradeBuildResult } from "./args";
import { cdcFlags, checkUpgradeArgs, orchestratorEnv } from "./common";

const AURORA_ENGINE: Record<number, string> = { 14: "14.15", 15: "15.10", 16: "16.6", 17: "17.4" };

export function buildAwsUpgrade(ctx: BuildContext<BlueGreenUpgradeArgs>): BlueGreenUpgradeBuildResult {
  const { name, args, v, childOpts, parent } = ctx;
  const { database, budgetMs } = checkUpgradeArgs(ctx);
  const aa = args.aws;
  if (!aa) return v.fail("aws", undefined, 'is required when target is "aws"', "pass aws: { vpcId, subnetIds, securityGroupIds }");
  if (args.kubernetes) v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'remove it or set target to "kubernetes"');
  if (!aa.engineVersion && !AURORA_ENGINE[args.toVersion])
    v.fail("toVersion", args.toVersion, "has no Aurora engine version known to floe", "set aws.engineVersion explicitly");
  const instances = v.int("aws.instances", aa.instances, 2, 1, 15);

  const subnets = new aws.rds.SubnetGroup(`${name}-green-subnets`, { subnetIds: aa.subnetIds }, childOpts);
  const params = new aws.rds.ClusterParameterGroup(
    `${name}-green-params`,
    {
      family: `aurora-postgresql${args.toVersion}`,
      description: `floe ${name}: green of a blue/green upgrade (logical replication both ways)`,
      parameters: [
        { name: "rds.logical_replication", value: "1", applyMethod: "pending-reboot" },
        { name: "max_replication_slots", value: "16", applyMethod: "pending-reboot" },
        { name: "max_wal_senders", value: "20", applyMethod: "pending-reboot" },
        { name: "rds.force_ssl", value: "1", applyMethod: "immediate" },
      ],
    },
    childOpts,
  );
  const pw = password(`${name}-green-admin-password`, childOpts);
  const cluster = new aws.rds.Cluster(
    `${name}-green`,
    {
      engine: "aurora-postgresql",
      engineVersion: aa.engineVersion ?? AURORA_ENGINE[args.toVersion],
      databaseName: database,
      masterUsername: "floe_admin",
      masterPassword: pw.result,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: aa.securityGroupIds,
      dbClusterParameterGroupName: params.name,
      storageEncrypted: true,
      ...(aa.kmsKeyId ? { kmsKeyId: aa.kmsKeyId } : {}),
      backupRetentionPeriod: 7,
      copyTagsToSnapshot: true,
      deletionProtection: true,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: `${name}-green-final`,
    },
    childOpts,
  );
  const instanceResources: aws.rds.ClusterInstance[] = [];
  for (let i = 0; i < instances; i++) {
    instanceResources.push(
      new aws.rds.ClusterInstance(
        `${name}-green-${i}`,
        {
          clusterIdentifier: cluster.id,
          engine: "aurora-postgresql",
          engineVersion: cluster.engineVersion,
          instanceClass: aa.instanceClass ?? "db.r6g.large",
          dbSubnetGroupName: subnets.name,
          publiclyAccessible: false,
        },
        childOpts,
      ),
    );
  }
  const greenHost = cluster.endpoint;
  const greenUrl = pgUrl("floe_admin", pw.result, greenHost, 5432, database);
  if (args.roles?.length) {
    // blue's login roles on green, through a postgresql provider on green's endpoint
    const provider = new postgresql.Provider(
      `${name}-green-postgresql`,
      { host: greenHost, port: 5432, database, username: "floe_admin", password: pw.result, sslmode: "require", superuser: false },
      { parent, dependsOn: instanceResources },
    );
    args.roles.forEach((r, i) => {
      new postgresql.Role(
        `${name}-green-role-${i}`,
        { name: r.username, login: true, password: pulumi.secret(r.password), ...(r.replication ? { roles: ["rds_replication"] } : {}) },
        { parent, provider },
      );
    });
  }

  let taskDefinitionArn: pulumi.Output<string | undefined> = pulumi.output(undefined);
  let runTaskCommand: pulumi.Output<string | undefined> = pulumi.output(undefined);
  const rootcert = aa.sslrootcert === "none" ? undefined : (aa.sslrootcert ?? "aws-rds");
  if (args.run ?? true) {
    const region = aws.getRegionOutput({}, { parent }).name;
    const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/floe/${name}`, retentionInDays: 30 }, childOpts);
    const env = new aws.secretsmanager.Secret(
      `${name}-env`,
      { description: `floe upgrade ${name}: orchestrator settings`, recoveryWindowInDays: 7 },
      childOpts,
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-env`,
      {
        secretId: env.id,
        // verify-full against the RDS / Aurora CAs shipped with floe, unless aws.sslrootcert says otherwise
        secretString: orchestratorEnv(args, greenUrl, budgetMs, "/pooler/pgbouncer.ini", "/pooler/floe-upgrade-state.json", rootcert).apply((e) =>
          JSON.stringify(e),
        ),
      },
      childOpts,
    );
    const assume = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
    const exec = new aws.iam.Role(`${name}-execution`, { assumeRolePolicy: assume }, childOpts);
    new aws.iam.RolePolicyAttachment(
      `${name}-execution`,
      { role: exec.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" },
      childOpts,
    );
    new aws.iam.RolePolicy(
      `${name}-execution-secret`,
      {
        role: exec.id,
        policy: env.arn.apply((arn) =>
          JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [arn] }] }),
        ),
      },
      childOpts,
    );
    const keys = [
      "FLOE_UPGRADE_BLUE_URL",
      "FLOE_UPGRADE_GREEN_URL",
      ...(rootcert ? ["FLOE_UPGRADE_BLUE_FROM_GREEN", "FLOE_UPGRADE_GREEN_FROM_BLUE"] : []),
      "FLOE_UPGRADE_POOLER_ADMIN",
      "FLOE_UPGRADE_POOLER_INI",
      "FLOE_UPGRADE_STATE",
    ];
    const task = new aws.ecs.TaskDefinition(
      `${name}-task`,
      {
        family: `${name}-upgrade`,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "512",
        memory: "1024",
        executionRoleArn: exec.arn,
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
        ...(aa.efsFileSystemId
          ? { volumes: [{ name: "pooler", efsVolumeConfiguration: { fileSystemId: aa.efsFileSystemId, transitEncryption: "ENABLED" } }] }
          : {}),
        containerDefinitions: pulumi
          .all([pulumi.output(args.image ?? DEFAULT_UPGRADE_IMAGE), env.arn, logs.name, region, cdcFlags(args)])
          .apply(([image, arn, group, r, cdcFlags]) =>
            JSON.stringify([
              {
                name: "upgrade",
                image,
                essential: true,
                command: ["upgrade", "run", "--budget-ms", String(budgetMs), ...cdcFlags, "--json"],
                secrets: keys.map((k) => ({ name: k, valueFrom: `${arn}:${k}::` })),
                ...(aa.efsFileSystemId ? { mountPoints: [{ sourceVolume: "pooler", containerPath: "/pooler" }] } : {}),
                logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": group, "awslogs-region": r, "awslogs-stream-prefix": "upgrade" } },
              },
            ]),
          ),
      },
      { ...childOpts, dependsOn: [cluster] },
    );
    const ecsCluster = aa.ecsClusterArn !== undefined ? pulumi.output(aa.ecsClusterArn) : new aws.ecs.Cluster(`${name}-cluster`, {}, childOpts).arn;
    taskDefinitionArn = task.arn;
    runTaskCommand = pulumi
      .all([ecsCluster, task.arn, pulumi.output(aa.subnetIds), pulumi.output(aa.securityGroupIds)])
      .apply(
        ([c, t, s, g]) =>
          `aws ecs run-task --launch-type FARGATE --cluster ${c} --task-definition ${t} --network-configuration 'awsvpcConfiguration={subnets=[${s.join(",")}],securityGroups=[${g.join(",")}],assignPublicIp=DISABLED}'`,
      );
  }
  return {
    greenHost,
    greenUrl,
    jobName: pulumi.output(undefined) as pulumi.Output<string | undefined>,
    taskDefinitionArn,
    runTaskCommand,
    statePath: pulumi.output(undefined),
    poolerPort: pulumi.output(undefined),
    rollbackCommand: pulumi.output(undefined),
    phase: pulumi.output(undefined),
  };
}
