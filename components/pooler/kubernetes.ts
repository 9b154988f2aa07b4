import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import { POOL_MODES, type PoolerArgs, type PoolerBuildResult } from "./args";
import { deepMerge, labels } from "../util";
import { buildPgbouncerDeployment } from "./pgbouncerKubernetes";

export const K8S_POOLER_IMPLEMENTATIONS = ["cnpg", "pgbouncer"] as const;

export function buildKubernetesPooler(ctx: BuildContext<PoolerArgs>): PoolerBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes;
  if (!ka) return v.fail("kubernetes", undefined, 'is required when target is "kubernetes"', "pass kubernetes: { clusterName } with the CNPG Cluster to pool");
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'remove it or set target to "aws"');
  const impl = v.oneOf("kubernetes.implementation", ka.implementation, "cnpg", K8S_POOLER_IMPLEMENTATIONS);
  if (impl === "pgbouncer") return buildPgbouncerDeployment(ctx, ka);
  if (ka.clusterName === undefined)
    v.fail(
      "kubernetes.clusterName",
      undefined,
      'is required with implementation "cnpg"',
      "pass the name of the CNPG Cluster to pool (PostgresCluster.clusterName)",
    );
  const poolMode = v.oneOf("poolMode", args.poolMode, "transaction", POOL_MODES);
  const instances = v.int("instances", args.instances, 2, 1, 20);
  const maxClient = v.int("maxClientConnections", args.maxClientConnections, 1000, 1, 100000);
  const poolSize = v.int("defaultPoolSize", args.defaultPoolSize, 20, 1, 10000);
  const wait = v.int("queryWaitTimeout", args.queryWaitTimeout, 120, 1, 3600);
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  v.dnsLabel("name", name, 50);

  const pooler = new k8s.apiextensions.CustomResource(
    `${name}-pooler`,
    {
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Pooler",
      metadata: { name, namespace: ns, labels: labels("pooler", name) },
      spec: deepMerge(
        {
          cluster: { name: ka.clusterName },
          instances,
          type: "rw",
          pgbouncer: {
            poolMode,
            parameters: {
              max_client_conn: String(maxClient),
              default_pool_size: String(poolSize),
              query_wait_timeout: String(wait),
              server_tls_sslmode: "require",
              ...(ka.parameters ?? {}),
            },
          },
        },
        ka.spec,
      ),
    },
    childOpts,
  );

  // Least-privilege admin access for the cutover: get/patch this one Pooler, nothing else.
  const sa = new k8s.core.v1.ServiceAccount(
    `${name}-cutover`,
    { metadata: { name: `${name}-cutover`, namespace: ns, labels: labels("pooler", name) } },
    childOpts,
  );
  const role = new k8s.rbac.v1.Role(
    `${name}-cutover`,
    {
      metadata: { name: `${name}-cutover`, namespace: ns, labels: labels("pooler", name) },
      rules: [
        { apiGroups: ["postgresql.cnpg.io"], resources: ["poolers"], resourceNames: [name], verbs: ["get", "patch"] },
        { apiGroups: ["postgresql.cnpg.io"], resources: ["clusters"], verbs: ["get"] },
      ],
    },
    childOpts,
  );
  new k8s.rbac.v1.RoleBinding(
    `${name}-cutover`,
    {
      metadata: { name: `${name}-cutover`, namespace: ns, labels: labels("pooler", name) },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: ns }],
    },
    childOpts,
  );

  return {
    host: pooler.metadata.apply(() => `${name}.${ns}.svc.cluster.local`),
    port: pulumi.output(5432),
    poolMode,
    poolerName: pooler.metadata.apply(() => name as string | undefined),
    cutoverServiceAccount: sa.metadata.apply((m) => m.name as string | undefined),
    proxyArn: pulumi.output(undefined),
    cutoverPolicyArn: pulumi.output(undefined),
    adminUrl: pulumi.output(undefined),
    configClaim: pulumi.output(undefined),
    configDir: pulumi.output(undefined),
  };
}
