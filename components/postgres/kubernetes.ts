/**
 * Postgres on Kubernetes: CloudNativePG.
 *
 * Sharded clusters use Citus on CNPG (a coordinator Cluster plus one Cluster per shard, all with
 * `shared_preload_libraries=citus`), not StackGres: the whole platform then runs on one operator, and
 * backups, TLS, the Pooler, branching (bootstrap from backup) and the blue/green upgrade work the
 * same way sharded or not. The price is node registration, which CNPG does not know about: a Job
 * runs `citus_add_node` for every shard (idempotent, retried until the shards are up).
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import type { PostgresClusterArgs, PostgresBuildResult, PostgresSource } from "./args";
import { deepMerge, labels, password } from "../util";

const CNPG_REPO = "https://cloudnative-pg.github.io/charts";
const ADMIN_USER = "postgres";

/**
 * The CloudNativePG community image of a Postgres major. Up to 17 the "system" images (the plain
 * major tag), which carry barman-cloud for the in-tree `barmanObjectStore` backups; CNPG builds
 * 18 only as "minimal" and "standard" images (no barman-cloud: backups go through the Barman Cloud
 * plugin), so 18 takes the standard image.
 */
export function cnpgImage(major: number): string {
  return major >= 18 ? `ghcr.io/cloudnative-pg/postgresql:${major}-standard-trixie` : `ghcr.io/cloudnative-pg/postgresql:${major}`;
}

export function buildKubernetesPostgres(ctx: BuildContext<PostgresClusterArgs>): PostgresBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes ?? {};
  const version = v.int("version", args.version, 16, 14, 18);
  const shards = v.int("shards", args.shards, 1, 1, 64);
  const instances = v.int("instances", args.instances, 2, 1, 9);
  const slots = v.int("replicationSlots", args.replicationSlots, 8, 1, 200);
  const database = v.sqlIdentifier("database", args.database ?? "app");
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  v.dnsLabel("name", name, 40);
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'move these settings under "kubernetes" or set target to "aws"');
  if (version >= 18 && ka.backup && ka.imageName === undefined && !(shards > 1)) {
    v.fail(
      "kubernetes.imageName",
      undefined,
      `is required with version ${version} and kubernetes.backup: CloudNativePG's images for ${version} (${cnpgImage(version)}) have no barman-cloud, which the in-tree barmanObjectStore backup runs`,
      "pass an image of that major with barman-cloud installed, or remove kubernetes.backup (on DataPlatform the object store backup is the default: pass postgres.kubernetes.imageName)",
    );
  }
  if (shards > 1 && !ka.citusImage) {
    v.fail(
      "kubernetes.citusImage",
      undefined,
      `is required when shards = ${shards}`,
      "pass a CloudNativePG-compatible Postgres image with the citus extension (FROM ghcr.io/cloudnative-pg/postgresql plus citus), or set shards to 1",
    );
  }

  const operator =
    (ka.installOperator ?? true)
      ? new k8s.helm.v3.Release(
          `${name}-cnpg-operator`,
          {
            chart: "cloudnative-pg",
            repositoryOpts: { repo: CNPG_REPO },
            version: ka.operatorChartVersion ?? "0.26.1",
            namespace: "cnpg-system",
            createNamespace: true,
            values: { config: { clusterWide: true } },
          },
          childOpts,
        )
      : undefined;
  const crOpts: pulumi.CustomResourceOptions = { ...childOpts, dependsOn: operator ? [operator] : [] };

  const superPw = password(`${name}-superuser-password`, childOpts);
  const superSecretName = `${name}-superuser`;
  const superSecret = new k8s.core.v1.Secret(
    `${name}-superuser`,
    {
      metadata: { name: superSecretName, namespace: ns, labels: labels("postgres", name) },
      type: "kubernetes.io/basic-auth",
      stringData: { username: ADMIN_USER, password: superPw.result },
    },
    childOpts,
  );

  const maxSlots = slots + instances + 2;
  const citus = shards > 1;
  const clusterSpec = () => {
    const parameters: Record<string, string> = {
      wal_level: "logical",
      max_replication_slots: String(maxSlots),
      max_wal_senders: String(maxSlots + 4),
      max_slot_wal_keep_size: "20GB",
      ssl_min_protocol_version: "TLSv1.2",
    };
    if (citus) parameters["citus.enable_change_data_capture"] = "on";
    const spec: Record<string, unknown> = {
      instances,
      imageName: citus ? ka.citusImage : (ka.imageName ?? cnpgImage(version)),
      enableSuperuserAccess: true,
      superuserSecret: { name: superSecretName },
      bootstrap: {
        initdb: {
          database,
          owner: `${database}_owner`,
          ...(citus ? { postInitApplicationSQL: ["CREATE EXTENSION IF NOT EXISTS citus"] } : {}),
        },
      },
      postgresql: {
        parameters,
        ...(citus ? { shared_preload_libraries: ["citus"] } : {}),
        // TLS for every remote client; CNPG's own streaming/pooler connections use certificates.
        pg_hba: ["hostssl all all all scram-sha-256"],
      },
      storage: { size: ka.storageSize ?? "20Gi", ...(ka.storageClass ? { storageClass: ka.storageClass } : {}) },
      resources: ka.resources ?? { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "2Gi" } },
      ...(ka.serverTLSSecret || ka.serverCASecret ? { certificates: { serverTLSSecret: ka.serverTLSSecret, serverCASecret: ka.serverCASecret } } : {}),
    };
    if (ka.backup) {
      spec.backup = {
        retentionPolicy: ka.backup.retentionPolicy ?? "30d",
        barmanObjectStore: {
          destinationPath: ka.backup.destinationPath,
          ...(ka.backup.endpointUrl ? { endpointURL: ka.backup.endpointUrl } : {}),
          ...(ka.backup.endpointCaSecretName !== undefined ? { endpointCA: { name: ka.backup.endpointCaSecretName, key: "ca.crt" } } : {}),
          s3Credentials: {
            accessKeyId: { name: ka.backup.credentialsSecretName, key: "ACCESS_KEY_ID" },
            secretAccessKey: { name: ka.backup.credentialsSecretName, key: "ACCESS_SECRET_KEY" },
          },
          wal: { compression: "gzip" },
          data: { compression: "gzip" },
        },
      };
    }
    return deepMerge(spec, ka.spec);
  };

  const clusterNames = citus ? [name, ...Array.from({ length: shards }, (_, i) => `${name}-shard-${i}`)] : [name];
  const clusters = clusterNames.map(
    (cn) =>
      new k8s.apiextensions.CustomResource(
        `${cn}-cluster`,
        {
          apiVersion: "postgresql.cnpg.io/v1",
          kind: "Cluster",
          metadata: { name: cn, namespace: ns, labels: labels("postgres", name) },
          spec: clusterSpec(),
        },
        { ...crOpts, dependsOn: [...(operator ? [operator] : []), superSecret] },
      ),
  );
  if (ka.backup) {
    clusterNames.forEach((cn, i) => {
      new k8s.apiextensions.CustomResource(
        `${cn}-scheduled-backup`,
        {
          apiVersion: "postgresql.cnpg.io/v1",
          kind: "ScheduledBackup",
          metadata: { name: `${cn}-daily`, namespace: ns, labels: labels("postgres", name) },
          spec: { schedule: ka.backup!.schedule ?? "0 0 3 * * *", backupOwnerReference: "self", cluster: { name: cn }, method: "barmanObjectStore" },
        },
        { ...crOpts, dependsOn: [clusters[i]] },
      );
    });
  }

  const svc = (cn: string) => `${cn}-rw.${ns}.svc.cluster.local`;
  if (citus) {
    const coordinator = svc(name);
    const workers = clusterNames.slice(1).map(svc);
    const conn = `host=${coordinator} dbname=${database} user=${ADMIN_USER} sslmode=require`;
    const script = [
      "set -eu",
      `for h in ${[coordinator, ...workers].join(" ")}; do until pg_isready -h "$h" -p 5432; do echo "waiting for $h"; sleep 5; done; done`,
      `psql "${conn}" -v ON_ERROR_STOP=1 <<SQL`,
      `SELECT citus_set_coordinator_host('${coordinator}', 5432);`,
      `INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, '${ADMIN_USER}', 'password=$PGPASSWORD sslmode=require') ON CONFLICT DO NOTHING;`,
      ...workers.map((w) => `SELECT citus_add_node('${w}', 5432) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = '${w}');`),
      "SQL",
    ].join("\n");
    new k8s.batch.v1.Job(
      `${name}-citus-register`,
      {
        metadata: { name: `${name}-citus-register`, namespace: ns, labels: labels("postgres", name) },
        spec: {
          backoffLimit: 20,
          template: {
            metadata: { labels: labels("postgres", name) },
            spec: {
              restartPolicy: "OnFailure",
              securityContext: { runAsNonRoot: true, runAsUser: 26 },
              containers: [
                {
                  name: "register",
                  image: ka.citusImage!,
                  command: ["/bin/bash", "-c", script],
                  env: [{ name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: superSecretName, key: "password" } } }],
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                },
              ],
            },
          },
        },
      },
      { ...childOpts, dependsOn: clusters },
    );
  }

  const sources = pulumi.output(ka.serverCASecret).apply((caSecret): PostgresSource[] =>
    (citus ? clusterNames.slice(1) : clusterNames).map((cn, i) => ({
      name: citus ? `shard-${i}` : "primary",
      host: svc(cn),
      port: 5432,
      // CloudNativePG signs the server certificate with this CA (its own <cluster>-ca unless given one).
      caSecretName: caSecret ?? `${cn}-ca`,
    })),
  );
  const host = clusters[0].metadata.apply(() => svc(name));
  const none = pulumi.output(undefined);
  return {
    engine: citus ? "cnpg-citus" : "cnpg",
    host,
    port: pulumi.output(5432),
    database: pulumi.output(database),
    adminUsername: pulumi.output(ADMIN_USER),
    adminPassword: pulumi.secret(superPw.result),
    adminHost: host,
    sources,
    clusterName: clusters[0].metadata.apply(() => name as string | undefined),
    namespace: pulumi.output(ns as string | undefined),
    adminSecretName: superSecret.metadata.apply((m) => m.name as string | undefined),
    adminSecretArn: none,
    clusterArn: none,
    clusterIdentifier: none,
    vpcId: none,
    subnetIds: pulumi.output(undefined),
    securityGroupId: none,
    rdsReplication: false,
  };
}
