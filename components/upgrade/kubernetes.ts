/**
 * BlueGreenUpgrade on kubernetes: a green CloudNativePG `Cluster` at the new major (logical WAL,
 * slots for the forward and reverse subscriptions), and a `Job` running the orchestrator. The Job's
 * state file lives on a PersistentVolumeClaim, so a retried pod resumes (and never leaves the pooler
 * paused). The orchestrator repoints pgBouncer by rewriting its pgbouncer.ini and RELOAD: the Job
 * mounts the claim that holds that file (`kubernetes.poolerConfigClaim`), shared with the pgBouncer
 * Deployment. The operator-managed CNPG `Pooler` is not supported by the orchestrator yet.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import { deepMerge, labels, password, pgUrl } from "../util";
import { DEFAULT_UPGRADE_IMAGE, type BlueGreenUpgradeArgs, type BlueGreenUpgradeBuildResult } from "./args";
import { cdcFlags, checkUpgradeArgs, orchestratorEnv } from "./common";
import { cnpgImage } from "../postgres/kubernetes";

/** Where the orchestrator Job mounts blue's CA (`kubernetes.blueCaSecretName`). */
const UPGRADE_CA_DIR = "/etc/floe-ca";
const UPGRADE_CA_FILE = `${UPGRADE_CA_DIR}/ca.crt`;

export function buildKubernetesUpgrade(ctx: BuildContext<BlueGreenUpgradeArgs>): BlueGreenUpgradeBuildResult {
  const { name, args, v, childOpts } = ctx;
  const { database, budgetMs } = checkUpgradeArgs(ctx);
  const ka = args.kubernetes;
  if (!ka)
    return v.fail(
      "kubernetes",
      undefined,
      'is required when target is "kubernetes"',
      "pass kubernetes: { poolerConfigClaim } (the claim holding pgbouncer.ini)",
    );
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'remove it or set target to "aws"');
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  const instances = v.int("kubernetes.instances", ka.instances, 2, 1, 9);
  const green = `${name}-green`;
  const lbl = labels("blue-green-upgrade", name);

  const pw = password(`${name}-green-superuser-password`, childOpts);
  new k8s.core.v1.Secret(
    `${name}-green-superuser`,
    {
      metadata: { name: `${green}-superuser`, namespace: ns, labels: lbl },
      type: "kubernetes.io/basic-auth",
      stringData: { username: "postgres", password: pw.result },
    },
    childOpts,
  );
  // blue's login roles, with their passwords, managed by CNPG on green (spec.managed.roles)
  const managedRoles = (args.roles ?? []).map((r, i) => {
    const secret = new k8s.core.v1.Secret(
      `${name}-green-role-${i}`,
      {
        metadata: { name: `${green}-role-${i}`, namespace: ns, labels: lbl },
        type: "kubernetes.io/basic-auth",
        stringData: { username: r.username, password: pulumi.secret(r.password) },
      },
      childOpts,
    );
    return pulumi.all([pulumi.output(r.username), secret.metadata.name]).apply(([username, secretName]) => ({
      name: username,
      ensure: "present",
      login: true,
      ...(r.replication ? { replication: true } : {}),
      passwordSecret: { name: secretName },
    }));
  });
  const spec = {
    ...(managedRoles.length ? { managed: { roles: pulumi.all(managedRoles) } } : {}),
    instances,
    imageName: ka.imageName ?? cnpgImage(args.toVersion),
    enableSuperuserAccess: true,
    superuserSecret: { name: `${green}-superuser` },
    bootstrap: { initdb: { database, owner: `${database}_owner` } },
    postgresql: {
      // forward subscription on green, reverse slot for rollback, CDC writer slots after cutover
      parameters: {
        wal_level: "logical",
        max_replication_slots: "16",
        max_wal_senders: "20",
        max_logical_replication_workers: "8",
        max_slot_wal_keep_size: "20GB",
      },
      pg_hba: ["hostssl all all all scram-sha-256"],
    },
    storage: { size: ka.storageSize ?? "20Gi", ...(ka.storageClass ? { storageClass: ka.storageClass } : {}) },
    // green's server certificate from blue's CA: whoever verifies blue verifies green
    ...(ka.blueCaSecretName !== undefined ? { certificates: { serverCASecret: ka.blueCaSecretName } } : {}),
  };
  const cluster = new k8s.apiextensions.CustomResource(
    `${name}-green`,
    {
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
      metadata: { name: green, namespace: ns, labels: lbl },
      spec: deepMerge(spec as Record<string, unknown>, ka.spec),
    },
    childOpts,
  );
  const greenHost = pulumi.output(`${green}-rw.${ns}.svc.cluster.local`);
  const greenUrl = pgUrl("postgres", pw.result, greenHost, 5432, database);
  const verify = ka.blueCaSecretName !== undefined;

  let jobName: pulumi.Output<string | undefined> = pulumi.output(undefined);
  if (args.run ?? true) {
    const iniPath = `/pooler/${ka.poolerConfigPath ?? "pgbouncer.ini"}`;
    const env = new k8s.core.v1.Secret(
      `${name}-env`,
      {
        metadata: { namespace: ns, labels: lbl },
        // with blue's CA the Job verifies both servers against it (mounted below)
        stringData: orchestratorEnv(args, greenUrl, budgetMs, iniPath, "/state/floe-upgrade-state.json", verify ? UPGRADE_CA_FILE : undefined),
      },
      childOpts,
    );
    const state = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-state`,
      {
        metadata: { namespace: ns, labels: lbl },
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "1Gi" } },
          ...(ka.storageClass ? { storageClassName: ka.storageClass } : {}),
        },
      },
      childOpts,
    );
    const sa = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: { namespace: ns, labels: lbl }, automountServiceAccountToken: false }, childOpts);
    const job = new k8s.batch.v1.Job(
      `${name}-run`,
      {
        metadata: { namespace: ns, labels: lbl },
        spec: {
          // a retried pod re-reads the state file: resumes, and resumes a paused pooler first
          backoffLimit: 3,
          template: {
            metadata: { labels: lbl },
            spec: {
              restartPolicy: "Never",
              serviceAccountName: sa.metadata.name,
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "upgrade",
                  image: args.image ?? DEFAULT_UPGRADE_IMAGE,
                  args: cdcFlags(args).apply((f) => ["upgrade", "run", "--budget-ms", String(budgetMs), ...f, "--json"]),
                  envFrom: [{ secretRef: { name: env.metadata.name } }],
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
                  volumeMounts: [
                    { name: "state", mountPath: "/state" },
                    { name: "pooler", mountPath: "/pooler" },
                    ...(verify ? [{ name: "ca", mountPath: UPGRADE_CA_DIR, readOnly: true }] : []),
                  ],
                },
              ],
              volumes: [
                { name: "state", persistentVolumeClaim: { claimName: state.metadata.name } },
                { name: "pooler", persistentVolumeClaim: { claimName: ka.poolerConfigClaim } },
                // only ca.crt: the Job has no use for the CA's key
                ...(verify ? [{ name: "ca", secret: { secretName: ka.blueCaSecretName!, items: [{ key: "ca.crt", path: "ca.crt" }] } }] : []),
              ],
            },
          },
        },
      },
      { ...childOpts, dependsOn: [cluster] },
    );
    jobName = job.metadata.name;
  }
  const none = pulumi.output(undefined);
  return { greenHost, greenUrl, jobName, taskDefinitionArn: none, runTaskCommand: none, statePath: none, poolerPort: none, rollbackCommand: none, phase: none };
}
