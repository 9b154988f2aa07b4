import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import type { PoolerArgs, PoolerBuildResult } from "./args";

export function buildAwsPooler(ctx: BuildContext<PoolerArgs>): PoolerBuildResult {
  const { name, args, v, childOpts } = ctx;
  const aa = args.aws;
  if (!aa) return v.fail("aws", undefined, 'is required when target is "aws"', "pass aws: { clusterIdentifier, secretArn, subnetIds, securityGroupIds }");
  const poolMode = args.poolMode ?? "transaction";
  if (poolMode !== "transaction") {
    v.fail(
      "poolMode",
      poolMode,
      "is not available on RDS Proxy (it multiplexes per transaction and pins sessions that need it)",
      'leave poolMode unset or "transaction" on aws, or run pgBouncer on kubernetes',
    );
  }
  if (args.kubernetes) v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'remove it or set target to "kubernetes"');
  const maxPct = v.int("aws.maxConnectionsPercent", aa.maxConnectionsPercent, 90, 1, 100);
  const wait = v.int("queryWaitTimeout", args.queryWaitTimeout, 120, 1, 3600);
  v.dnsLabel("name", name, 50);

  const role = new aws.iam.Role(
    `${name}-proxy`,
    {
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "rds.amazonaws.com" }, Action: "sts:AssumeRole" }],
      }),
    },
    childOpts,
  );
  new aws.iam.RolePolicy(
    `${name}-proxy-secret`,
    {
      role: role.id,
      policy: pulumi.all([aa.secretArn, aa.kmsKeyArn]).apply(([secretArn, kms]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], Resource: [secretArn] },
            ...(kms ? [{ Effect: "Allow", Action: ["kms:Decrypt"], Resource: [kms] }] : []),
          ],
        }),
      ),
    },
    childOpts,
  );
  const proxy = new aws.rds.Proxy(
    `${name}-proxy`,
    {
      engineFamily: "POSTGRESQL",
      requireTls: true,
      roleArn: role.arn,
      vpcSubnetIds: aa.subnetIds,
      vpcSecurityGroupIds: aa.securityGroupIds,
      idleClientTimeout: 1800,
      auths: [{ authScheme: "SECRETS", secretArn: aa.secretArn, iamAuth: "DISABLED", clientPasswordAuthType: "POSTGRES_SCRAM_SHA_256" }],
    },
    childOpts,
  );
  const group = new aws.rds.ProxyDefaultTargetGroup(
    `${name}-targets`,
    {
      dbProxyName: proxy.name,
      connectionPoolConfig: { maxConnectionsPercent: maxPct, maxIdleConnectionsPercent: Math.min(50, maxPct), connectionBorrowTimeout: wait },
    },
    childOpts,
  );
  new aws.rds.ProxyTarget(`${name}-target`, { dbProxyName: proxy.name, targetGroupName: group.name, dbClusterIdentifier: aa.clusterIdentifier }, childOpts);
  const cutover = new aws.iam.Policy(
    `${name}-cutover`,
    {
      description: `floe ${name}: repoint RDS Proxy during an upgrade cutover`,
      // This proxy and its target group, by their ARNs (not every target group of the account).
      policy: pulumi.all([proxy.arn, group.arn]).apply(([proxyArn, groupArn]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: [
                "rds:RegisterDBProxyTargets",
                "rds:DeregisterDBProxyTargets",
                "rds:ModifyDBProxyTargetGroup",
                "rds:DescribeDBProxyTargets",
                "rds:DescribeDBProxyTargetGroups",
              ],
              Resource: [proxyArn, groupArn],
            },
          ],
        }),
      ),
    },
    childOpts,
  );
  return {
    host: proxy.endpoint,
    port: pulumi.output(5432),
    poolMode,
    poolerName: pulumi.output(undefined),
    cutoverServiceAccount: pulumi.output(undefined),
    proxyArn: proxy.arn.apply((a) => a as string | undefined),
    cutoverPolicyArn: cutover.arn.apply((a) => a as string | undefined),
    adminUrl: pulumi.output(undefined),
    configClaim: pulumi.output(undefined),
    configDir: pulumi.output(undefined),
  };
}
