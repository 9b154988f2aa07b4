import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import { DEFAULT_IMAGE, type CdcWriterArgs, type CdcWriterBuildResult } from "./args";
import { CA_FILE, CA_MOUNT_DIR, CATALOG_CA_FILE, CATALOG_TOKEN_FILE, STORAGE_CA_FILE, checkCdcConfig, renderCdcConfig, type TargetTls } from "./config";
import { CA_KEY, catalogTokenVolume } from "../tls";
import { dirname } from "node:path";
import { labels } from "../util";

const HEALTH_PORT = 9187;
/** A source's caSecretName is mounted in its pod and verified against (components/cdc/config.ts sourceTls). */
const TLS: TargetTls = { caFile: CA_FILE, catalogCaFile: CATALOG_CA_FILE, storageCaFile: STORAGE_CA_FILE, catalogTokenFile: CATALOG_TOKEN_FILE };

export function buildKubernetesCdcWriter(ctx: BuildContext<CdcWriterArgs>): CdcWriterBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes ?? {};
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'remove it or set target to "aws"');
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  v.dnsLabel("name", name, 40);
  checkCdcConfig(args, v, TLS);
  const egressPorts = ka.egressPorts ?? [5432, 8181, 8443, 9000, 443, 53];
  // the catalog's and the object store's CAs (only ca.crt) and the catalog token, when given
  const extra: { volume: k8s.types.input.core.v1.Volume; mount: { name: string; mountPath: string; readOnly: boolean } }[] = [];
  const caVolume = (vol: string, secretName: pulumi.Input<string>, file: string) =>
    extra.push({
      volume: { name: vol, secret: { secretName, items: [{ key: CA_KEY, path: CA_KEY }] } },
      mount: { name: vol, mountPath: dirname(file), readOnly: true },
    });
  if (args.catalog.caSecretName !== undefined) caVolume("catalog-ca", args.catalog.caSecretName, CATALOG_CA_FILE);
  if (args.storage?.caSecretName !== undefined) caVolume("storage-ca", args.storage.caSecretName, STORAGE_CA_FILE);
  if (args.catalog.tokenAudience !== undefined)
    extra.push({
      volume: catalogTokenVolume("catalog-token", args.catalog.tokenAudience),
      mount: { name: "catalog-token", mountPath: dirname(CATALOG_TOKEN_FILE), readOnly: true },
    });
  for (const p of egressPorts)
    if (!Number.isInteger(p) || p < 1 || p > 65535) v.fail("kubernetes.egressPorts", p, "is not a TCP port", "list ports from 1 to 65535");

  const podLabels = { ...labels("cdc-writer", name), "floe.io/component": "cdc-writer" };
  const sa = new k8s.core.v1.ServiceAccount(
    `${name}-sa`,
    { metadata: { name, namespace: ns, labels: podLabels }, automountServiceAccountToken: false },
    childOpts,
  );
  if (ka.networkPolicy ?? true)
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name, namespace: ns, labels: podLabels },
        spec: {
          podSelector: { matchLabels: { "app.kubernetes.io/instance": name, "floe.io/component": "cdc-writer" } },
          policyTypes: ["Ingress", "Egress"],
          // Metrics / health scraping from the same namespace only.
          ingress: [{ from: [{ podSelector: {} }], ports: [{ protocol: "TCP", port: HEALTH_PORT }] }],
          egress: [{ ports: egressPorts.map((port) => ({ protocol: "TCP", port })) }, { ports: [{ protocol: "UDP", port: 53 }] }],
        },
      },
      childOpts,
    );

  const writers = args.sources.map((source) => {
    const wname = `${name}-${source.name}`;
    const selector = { ...podLabels, "floe.io/source": source.name };
    // Immutable and auto-named: a config change replaces the Secret and rolls the Deployment.
    const secret = new k8s.core.v1.Secret(
      `${wname}-config`,
      { metadata: { namespace: ns, labels: selector }, immutable: true, stringData: { "config.json": renderCdcConfig(args, source, TLS) } },
      childOpts,
    );
    const probe = { httpGet: { path: "/healthz", port: HEALTH_PORT } };
    const dep = new k8s.apps.v1.Deployment(
      `${wname}`,
      {
        metadata: { name: wname, namespace: ns, labels: selector },
        spec: {
          // One active writer per slot: never two pods at once, not even during a rollout.
          replicas: 1,
          strategy: { type: "Recreate" },
          selector: { matchLabels: { "app.kubernetes.io/instance": name, "floe.io/source": source.name } },
          template: {
            metadata: { labels: selector, annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(HEALTH_PORT) } },
            spec: {
              serviceAccountName: sa.metadata.name,
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "cdc-writer",
                  image: args.image ?? DEFAULT_IMAGE,
                  args: ["cdc", "run", "--config", "/etc/floe/config.json"],
                  ports: [{ name: "http", containerPort: HEALTH_PORT }],
                  // liveness on /livez: a writer retrying an outage (503 on /healthz) is not restarted
                  livenessProbe: { httpGet: { path: "/livez", port: HEALTH_PORT }, initialDelaySeconds: 15, periodSeconds: 10, failureThreshold: 6 },
                  readinessProbe: { ...probe, initialDelaySeconds: 5, periodSeconds: 5 },
                  resources: ka.resources ?? { requests: { cpu: "1", memory: "1Gi" }, limits: { memory: "2Gi" } },
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                  volumeMounts: [
                    { name: "config", mountPath: "/etc/floe", readOnly: true },
                    { name: "tmp", mountPath: "/tmp" },
                    // The source's CA (sslrootcert, components/cdc/config.ts sourceTls): a whole-volume
                    // mount, so a rotated CA reaches the pod; the writer reads it at every connection.
                    ...(source.caSecretName !== undefined ? [{ name: "ca", mountPath: CA_MOUNT_DIR, readOnly: true }] : []),
                    ...extra.map((e) => e.mount),
                  ],
                },
              ],
              volumes: [
                { name: "config", secret: { secretName: secret.metadata.name } },
                { name: "tmp", emptyDir: {} },
                ...(source.caSecretName !== undefined
                  ? [{ name: "ca", secret: { secretName: source.caSecretName, items: [{ key: "ca.crt", path: "ca.crt" }] } }]
                  : []),
                ...extra.map((e) => e.volume),
              ],
            },
          },
        },
      },
      childOpts,
    );
    return dep.metadata.name;
  });

  return {
    writers: pulumi.all(writers),
    serviceAccountName: sa.metadata.apply((m) => m.name as string | undefined),
    taskRoleArn: pulumi.output(undefined),
    healthUrl: pulumi.output(undefined),
    logFile: pulumi.output(undefined),
  };
}
