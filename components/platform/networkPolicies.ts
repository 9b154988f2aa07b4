/**
 * NetworkPolicies of DataPlatform on kubernetes: default deny in the namespaces floe owns, then
 * one policy per group of pods floe runs, allowing exactly the paths of `platformPaths` (each path
 * is an egress rule on its source and an ingress rule on its destination, so both ends agree).
 *
 * Pod labels are those the operators and charts put on their pods: CloudNativePG `cnpg.io/cluster`
 * / `cnpg.io/podRole`, the MinIO chart `app` / `release`, the Lakekeeper, Trino and Bitnami
 * ClickHouse charts `app.kubernetes.io/name` / `app.kubernetes.io/instance`, and floe's own labels
 * on the CDC writer and floe's Jobs.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { labels } from "../util";

export type Port = { protocol: "TCP" | "UDP"; port: number };
export type LabelSelector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
/** A set of pods floe runs (`namespace` set: floe writes its policy) or a peer outside (`peer`). */
export interface PodGroup {
  /** Namespace of the pods; their policy is created there when floe owns it. */
  namespace?: string;
  podSelector?: LabelSelector;
  /** For peers that are not floe's pods: how a rule names them. */
  peer?: Record<string, unknown>;
}
export interface NetworkPath {
  from: string;
  to: string;
  ports: Port[];
}

const tcp = (...ports: number[]): Port[] => ports.map((port) => ({ protocol: "TCP", port }));
export const PORTS = {
  postgres: 5432,
  cnpgStatus: 8000,
  minio: 9000,
  catalog: 8181,
  /** The TLS port in front of Lakekeeper when the platform serves it over TLS (components/catalog/kubernetes.ts). */
  catalogTls: 8443,
  trino: 8080,
  clickhouseHttp: 8123,
  clickhouseNative: 9000,
  cdcMetrics: 9187,
  webhook: 9443,
} as const;

export interface PlatformNetworkInput {
  namespace: string;
  /** Namespaces floe created (default deny there). */
  ownedNamespaces: string[];
  operatorNamespace?: string;
  storageRelease?: string;
  externalStoragePort?: pulumi.Input<number>;
  catalogRelease?: string;
  catalogBootstrap?: string;
  /** The catalog is served over TLS: its clients reach the TLS port, none the plain one. Defaults to false. */
  catalogTls?: boolean;
  /** The catalog checks Kubernetes service-account tokens (TokenReview): it reaches the API server. Defaults to false. */
  catalogTokenReview?: boolean;
  externalCatalogPort?: pulumi.Input<number>;
  trinoRelease?: string;
  clickhouseRelease?: string;
  cdcName: string;
  pooler: { implementation: string; name: string };
  citusJob?: string;
  upgradeJob?: string;
  /** CIDRs of the Kubernetes API server endpoints (CNPG's instance manager and operator talk to it). */
  apiServerCidrs: string[];
  /** Namespaces whose pods may reach the front doors (pooler, Trino, ClickHouse, catalog); empty = every namespace. */
  clientNamespaces: string[];
}

const nsSel = (n: string): LabelSelector => ({ matchLabels: { "kubernetes.io/metadata.name": n } });

/** The groups and the paths between them: the whole allowed traffic of the platform. */
export function platformPaths(p: PlatformNetworkInput): { groups: Record<string, PodGroup>; paths: NetworkPath[] } {
  const ns = p.namespace;
  const groups: Record<string, PodGroup> = {
    // CNPG instances and CNPG's own Jobs (initdb, join): every pod of a Cluster except Pooler pods.
    postgres: {
      namespace: ns,
      podSelector: {
        matchExpressions: [
          { key: "cnpg.io/cluster", operator: "Exists" },
          { key: "cnpg.io/podRole", operator: "NotIn", values: ["pooler"] },
        ],
      },
    },
    pooler:
      p.pooler.implementation === "pgbouncer"
        ? { namespace: ns, podSelector: { matchLabels: { "app.kubernetes.io/name": "pooler", "app.kubernetes.io/instance": p.pooler.name } } }
        : { namespace: ns, podSelector: { matchLabels: { "cnpg.io/podRole": "pooler", "cnpg.io/poolerName": p.pooler.name } } },
    cdc: { namespace: ns, podSelector: { matchLabels: { "app.kubernetes.io/instance": p.cdcName, "floe.io/component": "cdc-writer" } } },
    dns: { peer: { namespaceSelector: nsSel("kube-system"), podSelector: { matchLabels: { "k8s-app": "kube-dns" } } } },
    // named by platformNetworkPolicies from clientNamespaces / apiServerCidrs
    clients: {},
    "api-server": {},
  };
  const paths: NetworkPath[] = [];
  const add = (from: string, to: string, ports: Port[]) => paths.push({ from, to, ports });
  const objectStore = p.storageRelease ? "minio" : "external-storage";
  const catalog = p.catalogRelease ? "catalog" : "external-catalog";
  const catalogPort = p.catalogTls ? PORTS.catalogTls : PORTS.catalog;
  if (p.storageRelease) {
    groups.minio = { namespace: ns, podSelector: { matchLabels: { app: "minio", release: p.storageRelease } } };
    groups["minio-job"] = { namespace: ns, podSelector: { matchLabels: { app: "minio-job", release: p.storageRelease } } };
    add("minio-job", "minio", tcp(PORTS.minio));
  } else groups["external-storage"] = { peer: { ipBlock: { cidr: "0.0.0.0/0" } } };
  if (p.catalogRelease) {
    // the catalog and its db-migration Job
    groups.catalog = {
      namespace: ns,
      podSelector: { matchLabels: { "app.kubernetes.io/name": "lakekeeper", "app.kubernetes.io/instance": p.catalogRelease } },
    };
    groups["catalog-bootstrap"] = { namespace: ns, podSelector: { matchLabels: labels("catalog", p.catalogBootstrap!) } };
    add("catalog", "postgres", tcp(PORTS.postgres));
    add("catalog", objectStore, p.storageRelease ? tcp(PORTS.minio) : []);
    add("catalog-bootstrap", "catalog", tcp(catalogPort));
    add("clients", "catalog", tcp(catalogPort));
    if (p.catalogTokenReview) add("catalog", "api-server", tcp(443, 6443));
  } else groups["external-catalog"] = { peer: { ipBlock: { cidr: "0.0.0.0/0" } } };

  add("cdc", "postgres", tcp(PORTS.postgres));
  add("cdc", catalog, p.catalogRelease ? tcp(catalogPort) : []);
  add("cdc", objectStore, p.storageRelease ? tcp(PORTS.minio) : []);
  add("pooler", "postgres", tcp(PORTS.postgres));
  add("clients", "pooler", tcp(PORTS.postgres));
  // streaming replication, Citus, blue/green logical replication between clusters
  add("postgres", "postgres", tcp(PORTS.postgres));
  // barman-cloud backups (WAL archive, base backups) and recovery of branches
  add("postgres", objectStore, p.storageRelease ? tcp(PORTS.minio) : []);
  if (p.trinoRelease) {
    groups.trino = { namespace: ns, podSelector: { matchLabels: { "app.kubernetes.io/name": "trino", "app.kubernetes.io/instance": p.trinoRelease } } };
    add("trino", "trino", tcp(PORTS.trino));
    add("trino", catalog, p.catalogRelease ? tcp(catalogPort) : []);
    add("trino", objectStore, p.storageRelease ? tcp(PORTS.minio) : []);
    add("clients", "trino", tcp(PORTS.trino));
  }
  if (p.clickhouseRelease) {
    groups.clickhouse = {
      namespace: ns,
      podSelector: { matchLabels: { "app.kubernetes.io/name": "clickhouse", "app.kubernetes.io/instance": p.clickhouseRelease } },
    };
    add("clickhouse", catalog, p.catalogRelease ? tcp(catalogPort) : []);
    add("clickhouse", objectStore, p.storageRelease ? tcp(PORTS.minio) : []);
    add("clients", "clickhouse", tcp(PORTS.clickhouseHttp, PORTS.clickhouseNative));
  }
  if (p.citusJob) {
    groups["citus-register"] = { namespace: ns, podSelector: { matchLabels: labels("postgres", p.citusJob) } };
    add("citus-register", "postgres", tcp(PORTS.postgres));
  }
  if (p.upgradeJob) {
    groups.upgrade = { namespace: ns, podSelector: { matchLabels: labels("blue-green-upgrade", p.upgradeJob) } };
    add("upgrade", "postgres", tcp(PORTS.postgres));
    add("upgrade", "pooler", tcp(PORTS.postgres));
  }
  // CNPG: the instance manager (instances, Jobs, pgBouncer pods of a CNPG Pooler) watches its objects in the API server
  add("postgres", "api-server", tcp(443, 6443));
  if (p.pooler.implementation !== "pgbouncer") add("pooler", "api-server", tcp(443, 6443));
  if (p.operatorNamespace) {
    groups.operator = { namespace: p.operatorNamespace, podSelector: { matchLabels: { "app.kubernetes.io/name": "cloudnative-pg" } } };
    add("operator", "postgres", tcp(PORTS.cnpgStatus));
    add("operator", "api-server", tcp(443, 6443));
    add("api-server", "operator", tcp(PORTS.webhook));
  }
  // metrics scraping of the writer (Prometheus runs in one of the client namespaces)
  add("clients", "cdc", tcp(PORTS.cdcMetrics));
  // DNS for every pod floe runs
  for (const [k, g] of Object.entries(groups)) if (g.podSelector) add(k, "dns", [...tcp(53), { protocol: "UDP", port: 53 }]);
  return { groups, paths };
}

/** Declares the policies. `externalPorts` fill the ports of paths to an external object store or catalog. */
export function platformNetworkPolicies(
  name: string,
  p: PlatformNetworkInput,
  opts: pulumi.CustomResourceOptions,
  operatorOpts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy[] {
  const { groups, paths } = platformPaths(p);
  const out: k8s.networking.v1.NetworkPolicy[] = [];
  const apiServerPeers = p.apiServerCidrs.map((cidr) => ({ ipBlock: { cidr } }));
  const clientPeers = p.clientNamespaces.length ? p.clientNamespaces.map((n) => ({ namespaceSelector: nsSel(n) })) : [{ namespaceSelector: {} }];
  /** How a policy in `inNs` names the pods of group `key`. */
  const peers = (key: string, inNs: string): k8s.types.input.networking.v1.NetworkPolicyPeer[] => {
    if (key === "api-server") return apiServerPeers;
    if (key === "clients") return clientPeers;
    const g = groups[key];
    if (g.peer) return [g.peer as k8s.types.input.networking.v1.NetworkPolicyPeer];
    return [g.namespace === inNs ? { podSelector: g.podSelector } : { namespaceSelector: nsSel(g.namespace!), podSelector: g.podSelector }];
  };
  const portsOf = (path: NetworkPath): pulumi.Input<Port[]> => {
    // an endpoint outside the cluster is named by its port only (a NetworkPolicy cannot name a host)
    if (path.to === "external-storage") return pulumi.output(p.externalStoragePort ?? 443).apply((port) => tcp(port));
    if (path.to === "external-catalog") return pulumi.output(p.externalCatalogPort ?? 443).apply((port) => tcp(port));
    return path.ports;
  };
  for (const owned of p.ownedNamespaces) {
    out.push(
      new k8s.networking.v1.NetworkPolicy(
        `${name}-deny-${owned}`,
        {
          metadata: { name: "floe-default-deny", namespace: owned, labels: labels("platform", name) },
          spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
        },
        owned === p.operatorNamespace ? operatorOpts : opts,
      ),
    );
  }
  for (const [key, g] of Object.entries(groups)) {
    if (!g.podSelector || !g.namespace) continue;
    const ingress = paths.filter((x) => x.to === key).map((x) => ({ from: peers(x.from, g.namespace!), ports: x.ports }));
    const egress = paths.filter((x) => x.from === key).map((x) => ({ to: peers(x.to, g.namespace!), ports: portsOf(x) }));
    out.push(
      new k8s.networking.v1.NetworkPolicy(
        `${name}-netpol-${key}`,
        {
          metadata: { name: `floe-${key}`, namespace: g.namespace, labels: labels("platform", name) },
          spec: { podSelector: g.podSelector, policyTypes: ["Ingress", "Egress"], ingress, egress },
        },
        g.namespace === p.operatorNamespace ? operatorOpts : opts,
      ),
    );
  }
  return out;
}
