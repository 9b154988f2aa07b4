import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import type { IcebergCatalogArgs, IcebergCatalogBuildResult } from "./args";
import { deepMerge, labels, password } from "../util";

export function buildKubernetesCatalog(ctx: BuildContext<IcebergCatalogArgs>): IcebergCatalogBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes;
  if (!ka)
    return v.fail(
      "kubernetes",
      undefined,
      'is required when target is "kubernetes"',
      "pass kubernetes: { database: { host, database, username, password } } (the Postgres database Lakekeeper stores the catalog in)",
    );
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'remove it or set target to "aws"');
  if (args.storage.credentialsSecretName === undefined) {
    v.fail(
      "storage.credentialsSecretName",
      undefined,
      'is required on target "kubernetes"',
      "pass the Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (ObjectStorage.credentialsSecretName)",
    );
  }
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  const warehouse = v.dnsLabel("warehouse", args.warehouse ?? "floe");
  const icebergNs = v.sqlIdentifier("namespace", args.namespace ?? "floe");
  const replicas = v.int("kubernetes.replicas", ka.replicas, 2, 1, 20);
  v.dnsLabel("name", name, 40);
  const release = `${name}-lakekeeper`;

  const encKey = password(`${name}-encryption-key`, childOpts, 48);
  const secret = new k8s.core.v1.Secret(
    `${name}-db`,
    {
      metadata: { name: `${name}-db`, namespace: ns, labels: labels("catalog", name) },
      stringData: { username: ka.database.username, password: pulumi.secret(ka.database.password), encryptionKey: encKey.result },
    },
    childOpts,
  );
  const values = deepMerge(
    {
      postgresql: { enabled: false },
      externalDatabase: {
        type: "postgresql",
        host_read: ka.database.host,
        host_write: ka.database.host,
        port: ka.database.port ?? 5432,
        database: ka.database.database,
        userSecret: `${name}-db`,
        userSecretKey: "username",
        passwordSecret: `${name}-db`,
        passwordSecretKey: "password",
      },
      secretBackend: { type: "Postgres", postgres: { encryptionKeySecret: `${name}-db`, encryptionKeySecretKey: "encryptionKey" } },
      catalog: { replicas, extraEnv: [{ name: "LAKEKEEPER__PG_SSL_MODE", value: "require" }] },
    },
    ka.helmValues,
  );
  const chart = new k8s.helm.v3.Release(
    `${name}-lakekeeper`,
    {
      name: release,
      chart: "lakekeeper",
      repositoryOpts: { repo: "https://lakekeeper.github.io/lakekeeper-charts/" },
      version: ka.chartVersion ?? "0.7.1",
      namespace: ns,
      values,
    },
    { ...childOpts, dependsOn: [secret] },
  );

  const base = `http://${release}.${ns}.svc.cluster.local:8181`;
  const storageProfile = pulumi.all([args.storage.bucket, args.storage.endpoint, args.storage.region]).apply(([bucket, endpoint, region]) =>
    JSON.stringify({
      "warehouse-name": warehouse,
      "storage-profile": {
        type: "s3",
        bucket,
        "key-prefix": args.storage.prefix ?? "warehouse",
        region: region ?? "us-east-1",
        ...(endpoint ? { endpoint, "path-style-access": true, flavor: "s3-compat" } : { flavor: "aws" }),
        "sts-enabled": false,
      },
      "storage-credential": { type: "s3", "credential-type": "access-key", "aws-access-key-id": "__AK__", "aws-secret-access-key": "__SK__" },
    }),
  );
  // Idempotent bootstrap: accept 2xx and 409 (already bootstrapped / warehouse exists).
  const script = pulumi.interpolate`set -eu
req() { code=$(curl -s -o /tmp/out -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$@"); cat /tmp/out; echo; case "$code" in 2*|409) return 0;; *) echo "HTTP $code"; return 1;; esac; }
until curl -fs ${base}/health >/dev/null; do echo "waiting for ${base}"; sleep 5; done
req ${base}/management/v1/bootstrap -d '{"accept-terms-of-use": true}'
body=$(printf '%s' '${storageProfile}' | sed "s|__AK__|$AWS_ACCESS_KEY_ID|; s|__SK__|$AWS_SECRET_ACCESS_KEY|")
req ${base}/management/v1/warehouse -d "$body"
wid=$(curl -fs ${base}/management/v1/warehouse | sed -n 's/.*"id":"\\([^"]*\\)","name":"${warehouse}".*/\\1/p')
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' ${base}/catalog/v1/$wid/namespaces -d '{"namespace":["${icebergNs}"]}' || true
`;
  new k8s.batch.v1.Job(
    `${name}-bootstrap`,
    {
      metadata: { name: `${name}-bootstrap`, namespace: ns, labels: labels("catalog", name) },
      spec: {
        backoffLimit: 10,
        template: {
          metadata: { labels: labels("catalog", name) },
          spec: {
            restartPolicy: "OnFailure",
            securityContext: { runAsNonRoot: true, runAsUser: 100 },
            containers: [
              {
                name: "bootstrap",
                image: ka.bootstrapImage ?? "curlimages/curl:8.11.1",
                command: ["/bin/sh", "-c", script],
                envFrom: [{ secretRef: { name: args.storage.credentialsSecretName! } }],
                resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
              },
            ],
          },
        },
      },
    },
    { ...childOpts, dependsOn: [chart] },
  );

  return {
    type: "rest",
    uri: chart.status.apply(() => `${base}/catalog`),
    warehouse: pulumi.output(warehouse),
    namespace: icebergNs,
    sigv4Service: undefined,
    region: pulumi.output(args.storage.region ?? "us-east-1"),
    accessPolicyArn: pulumi.output(undefined),
  };
}
