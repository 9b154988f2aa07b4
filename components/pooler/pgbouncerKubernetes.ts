/**
 * pgBouncer as a plain Deployment, for the zero-downtime upgrade: the orchestrator (BlueGreenUpgrade,
 * `floe upgrade run`) rewrites pgbouncer.ini on the shared ReadWriteMany claim and drives the admin
 * console (PAUSE, RELOAD, RESUME). One replica, Recreate: a PAUSE sent through the Service must
 * reach every pgBouncer there is.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import { POOL_MODES, type PoolerArgs, type PoolerBuildResult, type PoolerKubernetesArgs } from "./args";
import { labels, password } from "../util";
import { renderIni, renderUserlist } from "../../runtime/pgbouncer/config";

const ADMIN_USER = "floe_pooler_admin";

export function buildPgbouncerDeployment(ctx: BuildContext<PoolerArgs>, ka: PoolerKubernetesArgs): PoolerBuildResult {
  const { name, args, v, childOpts } = ctx;
  const poolMode = v.oneOf("poolMode", args.poolMode, "transaction", POOL_MODES);
  if (args.instances !== undefined && args.instances !== 1) {
    v.fail(
      "instances",
      args.instances,
      'must be 1 with kubernetes.implementation "pgbouncer" (the cutover PAUSE reaches one pgBouncer through the Service)',
      'leave instances unset, or use implementation "cnpg" for several pgBouncer pods',
    );
  }
  const maxClient = v.int("maxClientConnections", args.maxClientConnections, 1000, 1, 100000);
  const poolSize = v.int("defaultPoolSize", args.defaultPoolSize, 20, 1, 10000);
  const wait = v.int("queryWaitTimeout", args.queryWaitTimeout, 120, 1, 3600);
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  v.dnsLabel("name", name, 50);
  if (ka.host === undefined)
    v.fail("kubernetes.host", undefined, 'is required with implementation "pgbouncer"', "pass the Postgres host to pool (PostgresCluster.host)");
  if (!ka.users?.length)
    v.fail(
      "kubernetes.users",
      ka.users,
      'must list at least one user with implementation "pgbouncer"',
      "pass [{ username, password }] of the roles applications use (e.g. PostgresCluster.roles.appUsername / appPassword)",
    );
  const database = v.sqlIdentifier("kubernetes.database", ka.database ?? "app");
  const lbl = labels("pooler", name);

  const adminPw = password(`${name}-admin-password`, childOpts);
  const users = pulumi.all([...ka.users!.map((u) => pulumi.all([u.username, u.password])), pulumi.all([ADMIN_USER, adminPw.result])]);
  const auth = new k8s.core.v1.Secret(
    `${name}-userlist`,
    {
      metadata: { name: `${name}-userlist`, namespace: ns, labels: lbl },
      stringData: { "userlist.txt": pulumi.secret(users.apply((us) => renderUserlist(us.map(([name, pw]) => ({ name, password: pw }))))) },
    },
    childOpts,
  );

  // The initial pgbouncer.ini (runtime/pgbouncer/config.ts, the renderer every target uses); copied
  // to the claim once, then owned by the upgrade orchestrator.
  const ini = pulumi.all([ka.host!, ka.port ?? 5432]).apply(([h, p]) =>
    renderIni({
      databases: [{ name: database, host: h, port: p }],
      listenAddr: "0.0.0.0",
      listenPort: 5432,
      authFile: "/etc/pgbouncer/userlist.txt",
      adminUsers: [ADMIN_USER],
      poolMode,
      maxClientConnections: maxClient,
      defaultPoolSize: poolSize,
      queryWaitTimeout: wait,
      serverTlsSslmode: "require",
      parameters: ka.parameters,
    }),
  );
  const initial = new k8s.core.v1.ConfigMap(
    `${name}-initial-config`,
    { metadata: { name: `${name}-initial-config`, namespace: ns, labels: lbl }, data: { "pgbouncer.ini": ini } },
    childOpts,
  );
  const claim = new k8s.core.v1.PersistentVolumeClaim(
    `${name}-config`,
    {
      metadata: { name: `${name}-config`, namespace: ns, labels: lbl },
      spec: {
        accessModes: ["ReadWriteMany"],
        resources: { requests: { storage: "64Mi" } },
        ...(ka.configStorageClass ? { storageClassName: ka.configStorageClass } : {}),
      },
    },
    { ...childOpts, ignoreChanges: ["spec.resources"] },
  );
  const deployment = new k8s.apps.v1.Deployment(
    `${name}-pgbouncer`,
    {
      metadata: { name, namespace: ns, labels: lbl },
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: { "app.kubernetes.io/instance": name, "app.kubernetes.io/name": "pooler" } },
        template: {
          metadata: { labels: lbl },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 998, fsGroup: 998, seccompProfile: { type: "RuntimeDefault" } },
            initContainers: [
              {
                name: "seed-config",
                image: ka.image ?? "ghcr.io/cloudnative-pg/pgbouncer:1.24.1",
                command: ["/bin/sh", "-c", "[ -f /pooler/pgbouncer.ini ] || cp /initial/pgbouncer.ini /pooler/pgbouncer.ini"],
                volumeMounts: [
                  { name: "pooler", mountPath: "/pooler" },
                  { name: "initial", mountPath: "/initial", readOnly: true },
                ],
              },
            ],
            containers: [
              {
                name: "pgbouncer",
                image: ka.image ?? "ghcr.io/cloudnative-pg/pgbouncer:1.24.1",
                command: ["pgbouncer", "/pooler/pgbouncer.ini"],
                ports: [{ name: "pgbouncer", containerPort: 5432 }],
                readinessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 5 },
                livenessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 10, failureThreshold: 6 },
                resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                volumeMounts: [
                  { name: "pooler", mountPath: "/pooler" },
                  { name: "userlist", mountPath: "/etc/pgbouncer", readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: "pooler", persistentVolumeClaim: { claimName: claim.metadata.name } },
              { name: "initial", configMap: { name: initial.metadata.name } },
              { name: "userlist", secret: { secretName: auth.metadata.name } },
            ],
          },
        },
      },
    },
    childOpts,
  );
  const service = new k8s.core.v1.Service(
    `${name}-service`,
    {
      metadata: { name, namespace: ns, labels: lbl },
      spec: {
        selector: { "app.kubernetes.io/instance": name, "app.kubernetes.io/name": "pooler" },
        ports: [{ name: "pgbouncer", port: 5432, targetPort: 5432 }],
      },
    },
    { ...childOpts, dependsOn: [deployment] },
  );
  const host = service.metadata.apply((m) => `${m.name}.${ns}.svc.cluster.local`);
  return {
    host,
    port: pulumi.output(5432),
    poolMode,
    poolerName: service.metadata.apply((m) => m.name as string | undefined),
    cutoverServiceAccount: pulumi.output(undefined),
    proxyArn: pulumi.output(undefined),
    cutoverPolicyArn: pulumi.output(undefined),
    adminUrl: pulumi.secret(
      pulumi.all([adminPw.result, host]).apply(([pw, h]) => `postgres://${ADMIN_USER}:${encodeURIComponent(pw)}@${h}:5432/pgbouncer` as string | undefined),
    ),
    configClaim: claim.metadata.apply((m) => m.name as string | undefined),
    configDir: pulumi.output(undefined),
  };
}
