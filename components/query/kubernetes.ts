import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import type { QueryEnginesArgs, QueryEnginesBuildResult } from "./args";
import { catalogProperties, trinoRelease } from "./trino";
import { deepMerge, labels, password } from "../util";

export function buildKubernetesQueryEngines(ctx: BuildContext<QueryEnginesArgs>): QueryEnginesBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes ?? {};
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'remove it or set target to "aws"');
  if (args.athena) v.fail("athena", true, 'is only available on target "aws"', 'remove athena or set target to "aws"');
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  const catalogName = v.sqlIdentifier("catalog.name", args.catalog.name ?? "floe");
  const workers = v.int("kubernetes.trinoWorkers", ka.trinoWorkers, 2, 0, 100);
  v.dnsLabel("name", name, 40);
  const wantTrino = args.trino ?? true;
  const wantClickhouse = args.clickhouse ?? true;
  if (wantTrino && args.storage.credentialsSecretName === undefined) {
    v.fail(
      "storage.credentialsSecretName",
      undefined,
      "is required for Trino on kubernetes",
      "pass the Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (ObjectStorage.credentialsSecretName), or set trino to false",
    );
  }
  if (wantClickhouse && (args.storage.accessKeyId === undefined || args.storage.secretAccessKey === undefined)) {
    v.fail(
      "storage.accessKeyId",
      args.storage.accessKeyId === undefined ? undefined : "(set)",
      "and storage.secretAccessKey are required for ClickHouse on kubernetes",
      "pass ObjectStorage.accessKeyId / secretAccessKey, or set clickhouse to false",
    );
  }
  const region = args.storage.region ?? "us-east-1";

  let trinoEndpoint: pulumi.Output<string | undefined> = pulumi.output(undefined);
  if (wantTrino) {
    const props = pulumi.all([args.catalog.uri, args.catalog.warehouse, args.storage.endpoint, region]).apply(([uri, wh, endpoint, r]) =>
      catalogProperties({
        "connector.name": "iceberg",
        "iceberg.catalog.type": "rest",
        "iceberg.rest-catalog.uri": uri,
        "iceberg.rest-catalog.warehouse": wh,
        "iceberg.rest-catalog.vended-credentials-enabled": "false",
        "fs.native-s3.enabled": "true",
        "s3.region": r,
        ...(endpoint ? { "s3.endpoint": endpoint, "s3.path-style-access": "true" } : {}),
        "s3.aws-access-key": "${ENV:AWS_ACCESS_KEY_ID}",
        "s3.aws-secret-key": "${ENV:AWS_SECRET_ACCESS_KEY}",
      }),
    );
    const t = trinoRelease(
      name,
      ns,
      catalogName,
      props,
      {
        server: { workers },
        envFrom: [{ secretRef: { name: args.storage.credentialsSecretName } }],
        coordinator: { resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "2Gi" } } },
        worker: { resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "2Gi" } } },
      },
      ka.trinoValues,
      ka.trinoChartVersion,
      childOpts,
    );
    trinoEndpoint = t.endpoint.apply((e) => e as string | undefined);
  }

  let clickhouseEndpoint: pulumi.Output<string | undefined> = pulumi.output(undefined);
  let clickhousePassword: pulumi.Output<string | undefined> = pulumi.output(undefined);
  if (wantClickhouse) {
    const pw = password(`${name}-clickhouse-password`, childOpts);
    // The init script carries storage credentials: it lives in a Secret, never in chart values.
    const initSql = pulumi
      .all([args.catalog.uri, args.catalog.warehouse, args.storage.endpoint, args.storage.bucket, args.storage.accessKeyId!, args.storage.secretAccessKey!])
      .apply(([uri, wh, endpoint, bucket, ak, sk]) => {
        const storageEndpoint = endpoint ? `${endpoint.replace(/\/$/, "")}/${bucket}` : `https://${bucket}.s3.amazonaws.com`;
        const lit = (x: string) => `'${x.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
        return [
          "SET allow_experimental_database_iceberg = 1;",
          `CREATE DATABASE IF NOT EXISTS ${catalogName} ENGINE = DataLakeCatalog(${lit(uri)}, ${lit(ak)}, ${lit(sk)})`,
          `SETTINGS catalog_type = 'rest', warehouse = ${lit(wh)}, storage_endpoint = ${lit(storageEndpoint)};`,
        ].join("\n");
      });
    const init = new k8s.core.v1.Secret(
      `${name}-clickhouse-init`,
      {
        metadata: { name: `${name}-clickhouse-init`, namespace: ns, labels: labels("query", name) },
        stringData: { "01-floe-iceberg.sql": pulumi.secret(initSql) },
      },
      childOpts,
    );
    const auth = new k8s.core.v1.Secret(
      `${name}-clickhouse-auth`,
      { metadata: { name: `${name}-clickhouse-auth`, namespace: ns, labels: labels("query", name) }, stringData: { password: pw.result } },
      childOpts,
    );
    const release = new k8s.helm.v3.Release(
      `${name}-clickhouse`,
      {
        name: `${name}-clickhouse`,
        chart: "oci://registry-1.docker.io/bitnamicharts/clickhouse",
        version: ka.clickhouseChartVersion ?? "9.3.0",
        namespace: ns,
        values: deepMerge(
          {
            shards: 1,
            replicaCount: 1,
            keeper: { enabled: false },
            zookeeper: { enabled: false },
            auth: { username: "floe", existingSecret: `${name}-clickhouse-auth`, existingSecretKey: "password" },
            initdbScriptsSecret: `${name}-clickhouse-init`,
            resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "4Gi" } },
          },
          ka.clickhouseValues,
        ),
      },
      { ...childOpts, dependsOn: [init, auth] },
    );
    clickhouseEndpoint = release.status.apply(() => `http://${name}-clickhouse.${ns}.svc.cluster.local:8123` as string | undefined);
    clickhousePassword = pulumi.secret(pw.result.apply((p) => p as string | undefined));
  }
  return { trinoEndpoint, clickhouseEndpoint, clickhousePassword, athenaWorkgroup: pulumi.output(undefined) };
}
