import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import type { QueryEnginesArgs, QueryEnginesBuildResult } from "./args";
import { catalogProperties, trinoRelease } from "./trino";
import { deepMerge, labels, password } from "../util";
import { CA_KEY, catalogTokenVolume } from "../tls";
import { DEFAULT_IMAGE } from "../cdc/args";

/** The `floe token-endpoint` port on each engine pod's loopback, and its OAuth2 token URL. */
const TOKEN_PORT = 8190;
const TOKEN_URL = `http://127.0.0.1:${TOKEN_PORT}/v1/oauth/tokens`;
const TOKEN_DIR = "/var/run/secrets/floe/catalog";
const CA_DIR = "/etc/floe-tls";

/** The container that serves the pod's catalog token to the engine (runtime/token/cli.ts). */
function tokenEndpoint(image: pulumi.Input<string>) {
  return {
    name: "catalog-token",
    image,
    args: ["token-endpoint", "--token-file", `${TOKEN_DIR}/token`, "--port", String(TOKEN_PORT)],
    volumeMounts: [{ name: "catalog-token", mountPath: TOKEN_DIR, readOnly: true }],
    // no probe: it listens on the pod's loopback only, which the kubelet's probes do not reach
    resources: { requests: { cpu: "10m", memory: "48Mi" }, limits: { memory: "128Mi" } },
    securityContext: { runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
  };
}

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
  const audience = args.catalog.tokenAudience;
  const trustCa = ka.trustedCaSecretName;
  const runtimeImage = ka.runtimeImage ?? DEFAULT_IMAGE;
  const caVolume = trustCa !== undefined ? [{ name: "floe-ca", secret: { secretName: trustCa, items: [{ key: CA_KEY, path: CA_KEY }] } }] : [];
  const tokenVolume = audience !== undefined ? [catalogTokenVolume("catalog-token", audience)] : [];

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
        // the pod's service-account token, through the token endpoint beside Trino (OAuth2 client credentials)
        ...(audience !== undefined
          ? {
              "iceberg.rest-catalog.security": "OAUTH2",
              "iceberg.rest-catalog.oauth2.credential": "floe:token-endpoint",
              "iceberg.rest-catalog.oauth2.server-uri": TOKEN_URL,
            }
          : {}),
      }),
    );
    // Trino's catalog and S3 clients trust the JVM's truststore: a copy with the CA added, made by an init container
    const truststore = "/etc/floe-truststore/cacerts";
    const trustInit = {
      name: "floe-truststore",
      image: ka.trinoImage ?? "trinodb/trino:475",
      command: [
        "sh",
        "-c",
        `set -eu; jre=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")"); cp "$jre/lib/security/cacerts" ${truststore}; chmod u+w ${truststore}; ` +
          `"$jre/bin/keytool" -importcert -noprompt -trustcacerts -alias floe-ca -file ${CA_DIR}/${CA_KEY} -keystore ${truststore} -storepass changeit`,
      ],
      volumeMounts: [
        { name: "floe-ca", mountPath: CA_DIR, readOnly: true },
        { name: "floe-truststore", mountPath: "/etc/floe-truststore" },
      ],
    };
    const perNode =
      trustCa !== undefined || audience !== undefined
        ? {
            additionalVolumes: [...caVolume, ...(trustCa !== undefined ? [{ name: "floe-truststore", emptyDir: {} }] : []), ...tokenVolume],
            ...(trustCa !== undefined
              ? {
                  additionalVolumeMounts: [{ name: "floe-truststore", mountPath: "/etc/floe-truststore", readOnly: true }],
                  additionalJVMConfig: [`-Djavax.net.ssl.trustStore=${truststore}`, "-Djavax.net.ssl.trustStorePassword=changeit"],
                }
              : {}),
          }
        : {};
    const t = trinoRelease(
      name,
      ns,
      catalogName,
      props,
      {
        server: { workers },
        envFrom: [{ secretRef: { name: args.storage.credentialsSecretName } }],
        coordinator: { resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "2Gi" } }, ...perNode },
        worker: { resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "2Gi" } }, ...perNode },
        ...(trustCa !== undefined ? { initContainers: { coordinator: [trustInit], worker: [trustInit] } } : {}),
        // a ServiceAccount of Trino's own: the identity its tokens carry (not the namespace's default)
        ...(audience !== undefined
          ? { serviceAccount: { create: true }, sidecarContainers: { coordinator: [tokenEndpoint(runtimeImage)], worker: [tokenEndpoint(runtimeImage)] } }
          : {}),
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
        // with a token: OAuth2 client credentials against the token endpoint beside ClickHouse
        const auth = audience !== undefined ? `, catalog_credential = 'floe:token-endpoint', oauth_server_uri = ${lit(TOKEN_URL)}` : "";
        return [
          "SET allow_experimental_database_iceberg = 1;",
          `CREATE DATABASE IF NOT EXISTS ${catalogName} ENGINE = DataLakeCatalog(${lit(uri)}, ${lit(ak)}, ${lit(sk)})`,
          `SETTINGS catalog_type = 'rest', warehouse = ${lit(wh)}, storage_endpoint = ${lit(storageEndpoint)}${auth};`,
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
            // the CA for ClickHouse's HTTPS clients (the catalog, S3), on top of the default CAs
            ...(trustCa !== undefined
              ? {
                  extraOverrides: `<clickhouse><openSSL><client><loadDefaultCAFile>true</loadDefaultCAFile><caConfig>${CA_DIR}/${CA_KEY}</caConfig><verificationMode>strict</verificationMode></client></openSSL></clickhouse>`,
                  extraVolumeMounts: [{ name: "floe-ca", mountPath: CA_DIR, readOnly: true }],
                }
              : {}),
            ...(caVolume.length || tokenVolume.length ? { extraVolumes: [...caVolume, ...tokenVolume] } : {}),
            ...(audience !== undefined ? { sidecars: [tokenEndpoint(runtimeImage)] } : {}),
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
