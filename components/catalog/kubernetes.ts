import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import type { IcebergCatalogArgs, IcebergCatalogBuildResult } from "./args";
import { deepMerge, labels, password } from "../util";
import { CA_KEY, catalogTokenVolume, checkTlsArgs, serverCertificate } from "../tls";

/** The audience of the service-account tokens Lakekeeper accepts, unless `tokenAudience` says another. */
export const DEFAULT_TOKEN_AUDIENCE = "floe-catalog";
/** Lakekeeper's own port (plain HTTP) and the TLS proxy's, in the catalog pods. */
const HTTP_PORT = 8181;
const TLS_PORT = 8443;
/** Where the bootstrap Job finds its service-account token and the CA (when TLS is on). */
const TOKEN_DIR = "/var/run/secrets/floe/catalog";
const CA_DIR = "/etc/floe-tls";

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
  checkTlsArgs(v, "kubernetes.tls", ka.tls);
  const authn = v.oneOf("kubernetes.authentication", ka.authentication, "kubernetes", ["kubernetes", "none"]);
  const audience = authn === "kubernetes" ? (ka.tokenAudience ?? DEFAULT_TOKEN_AUDIENCE) : undefined;
  if (authn === "none" && (ka.openIdProviderUri !== undefined || ka.tokenAudience !== undefined))
    v.fail(
      "kubernetes.authentication",
      "none",
      "turns authentication off, and tokenAudience / openIdProviderUri are set",
      'remove them, or set authentication to "kubernetes"',
    );
  if (audience !== undefined && !/^[^\s,]+$/.test(audience))
    v.fail("kubernetes.tokenAudience", audience, "is not one audience (no spaces or commas)", 'use a name such as "floe-catalog"');

  const encKey = password(`${name}-encryption-key`, childOpts, 48);
  const secret = new k8s.core.v1.Secret(
    `${name}-db`,
    {
      metadata: { name: `${name}-db`, namespace: ns, labels: labels("catalog", name) },
      stringData: { username: ka.database.username, password: pulumi.secret(ka.database.password), encryptionKey: encKey.result },
    },
    childOpts,
  );
  const tlsBase = `https://${release}-tls.${ns}.svc.cluster.local:${TLS_PORT}`;
  const TRUST_DIR = "/etc/floe-trusted-ca";
  const PG_CA_DIR = "/etc/floe-pg-ca";
  const pgCa = ka.database.caSecretName;
  // the certificate's Secret for the proxy, the trusted CA for Lakekeeper (only ca.crt: never a CA key)
  const volumes = [
    ...(ka.tls
      ? [
          {
            name: "floe-tls",
            secret: {
              secretName: `${release}-tls`,
              items: [
                { key: "tls.crt", path: "tls.crt" },
                { key: "tls.key", path: "tls.key" },
              ],
            },
          },
        ]
      : []),
    ...(ka.trustedCaSecretName !== undefined
      ? [{ name: "floe-trusted-ca", secret: { secretName: ka.trustedCaSecretName, items: [{ key: CA_KEY, path: CA_KEY }] } }]
      : []),
    ...(pgCa !== undefined ? [{ name: "floe-pg-ca", secret: { secretName: pgCa, items: [{ key: CA_KEY, path: CA_KEY }] } }] : []),
  ];
  // in the catalog, its db-migration Job and their check-db init container (the chart mounts them in all three)
  const mounts = [
    ...(ka.trustedCaSecretName !== undefined ? [{ name: "floe-trusted-ca", mountPath: TRUST_DIR, readOnly: true }] : []),
    ...(pgCa !== undefined ? [{ name: "floe-pg-ca", mountPath: PG_CA_DIR, readOnly: true }] : []),
  ];
  const certs = ka.tls ? [serverCertificate(`${name}-lakekeeper-tls`, ns, `${release}-tls`, `${release}-tls`, ka.tls, "catalog", childOpts)] : [];
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
      catalog: {
        replicas,
        extraEnv: [
          // Lakekeeper's (sqlx's) modes: verifyfull against the database's CA when given, else require (encrypted, not verified)
          ...(pgCa !== undefined
            ? [
                { name: "LAKEKEEPER__PG_SSL_MODE", value: "verifyfull" },
                { name: "LAKEKEEPER__PG_SSL_ROOT_CERT", value: `${PG_CA_DIR}/${CA_KEY}` },
              ]
            : [{ name: "LAKEKEEPER__PG_SSL_MODE", value: "require" }]),
          // behind the TLS proxy Lakekeeper sees plain HTTP: the links it hands out (the config's uri) must say https
          ...(ka.tls ? [{ name: "LAKEKEEPER__BASE_URI", value: `${tlsBase}` }] : []),
          ...(ka.trustedCaSecretName !== undefined ? [{ name: "SSL_CERT_FILE", value: `${TRUST_DIR}/${CA_KEY}` }] : []),
        ],
        ...(ka.tls ? { extraContainers: [tlsProxy(ka.tlsProxyImage ?? "ghostunnel/ghostunnel:v1.11.1-distroless")] } : {}),
        ...(volumes.length ? { extraVolumes: volumes } : {}),
        ...(mounts.length ? { extraVolumeMounts: mounts } : {}),
      },
      ...(audience !== undefined
        ? {
            auth: {
              k8s: { enabled: true, audience, createClusterRoleBinding: true },
              ...(ka.openIdProviderUri !== undefined ? { oauth2: { providerUri: ka.openIdProviderUri, audience: ka.openIdAudience ?? "" } } : {}),
            },
          }
        : {}),
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
    { ...childOpts, dependsOn: [secret, ...certs] },
  );
  if (ka.tls)
    new k8s.core.v1.Service(
      `${name}-lakekeeper-tls`,
      {
        metadata: { name: `${release}-tls`, namespace: ns, labels: labels("catalog", name) },
        spec: {
          type: "ClusterIP",
          // the chart's catalog pods (its selector labels)
          selector: { "app.kubernetes.io/name": "lakekeeper", "app.kubernetes.io/instance": release, "app.kubernetes.io/component": "catalog" },
          ports: [{ name: "https", port: TLS_PORT, targetPort: "https", protocol: "TCP" }],
        },
      },
      childOpts,
    );

  const base = ka.tls ? tlsBase : `http://${release}.${ns}.svc.cluster.local:${HTTP_PORT}`;
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
  // c: curl with the CA (TLS) and the projected service-account token, read at each call (authentication)
  const curl = [
    "curl",
    ...(ka.tls ? [`--cacert ${CA_DIR}/${CA_KEY}`] : []),
    ...(audience !== undefined ? [`-H "Authorization: Bearer $(cat ${TOKEN_DIR}/token)"`] : []),
  ].join(" ");
  const script = pulumi.interpolate`set -eu
c() { ${curl} "$@"; }
req() { code=$(c -s -o /tmp/out -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$@"); cat /tmp/out; echo; case "$code" in 2*|409) return 0;; *) echo "HTTP $code"; return 1;; esac; }
until c -fs ${base}/health >/dev/null; do echo "waiting for ${base}"; sleep 5; done
req ${base}/management/v1/bootstrap -d '{"accept-terms-of-use": true}'
body=$(printf '%s' '${storageProfile}' | sed "s|__AK__|$AWS_ACCESS_KEY_ID|; s|__SK__|$AWS_SECRET_ACCESS_KEY|")
req ${base}/management/v1/warehouse -d "$body"
wid=$(c -fs ${base}/management/v1/warehouse | sed -n 's/.*"id":"\\([^"]*\\)","name":"${warehouse}".*/\\1/p')
c -s -o /dev/null -X POST -H 'Content-Type: application/json' ${base}/catalog/v1/$wid/namespaces -d '{"namespace":["${icebergNs}"]}' || true
`;
  // its own ServiceAccount (Lakekeeper's identity for it), without an API token: only the catalog token
  const sa = new k8s.core.v1.ServiceAccount(
    `${name}-bootstrap`,
    { metadata: { name: `${name}-bootstrap`, namespace: ns, labels: labels("catalog", name) }, automountServiceAccountToken: false },
    childOpts,
  );
  const jobVolumes = [
    ...(audience !== undefined ? [catalogTokenVolume("catalog-token", audience)] : []),
    ...(ka.tls ? [{ name: "ca", secret: { secretName: ka.tls.caSecretName, items: [{ key: CA_KEY, path: CA_KEY }] } }] : []),
  ];
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
            serviceAccountName: sa.metadata.name,
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 100 },
            containers: [
              {
                name: "bootstrap",
                image: ka.bootstrapImage ?? "curlimages/curl:8.11.1",
                command: ["/bin/sh", "-c", script],
                envFrom: [{ secretRef: { name: args.storage.credentialsSecretName! } }],
                resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
                ...(jobVolumes.length
                  ? {
                      volumeMounts: [
                        ...(audience !== undefined ? [{ name: "catalog-token", mountPath: TOKEN_DIR, readOnly: true }] : []),
                        ...(ka.tls ? [{ name: "ca", mountPath: CA_DIR, readOnly: true }] : []),
                      ],
                    }
                  : {}),
              },
            ],
            ...(jobVolumes.length ? { volumes: jobVolumes } : {}),
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
    caSecretName: pulumi.output(ka.tls?.caSecretName).apply((x) => x as string | undefined),
    tokenAudience: pulumi.output(audience),
  };
}

/** The TLS proxy beside Lakekeeper: port 8443 from the certificate, to Lakekeeper on the pod's loopback. */
function tlsProxy(image: pulumi.Input<string>) {
  return {
    name: "tls-proxy",
    image,
    args: [
      "server",
      `--listen=0.0.0.0:${TLS_PORT}`,
      `--target=127.0.0.1:${HTTP_PORT}`,
      "--cert=/etc/floe-tls/tls.crt",
      "--key=/etc/floe-tls/tls.key",
      // clients authenticate to Lakekeeper with tokens, not client certificates
      "--disable-authentication",
      // picks up the certificate cert-manager renews
      "--timed-reload=1h",
    ],
    ports: [{ name: "https", containerPort: TLS_PORT, protocol: "TCP" }],
    readinessProbe: { tcpSocket: { port: TLS_PORT }, periodSeconds: 10 },
    volumeMounts: [{ name: "floe-tls", mountPath: "/etc/floe-tls", readOnly: true }],
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: { runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
  };
}
