// DataPlatform's NetworkPolicies on kubernetes, evaluated the way the API describes them (a pod
// selected by a policy of a type is isolated for that type; traffic passes when the source's egress
// and the destination's ingress both allow it) over pods carrying the labels the operators and
// charts give them. The expected paths are written out here, not taken from the implementation.
import { DataPlatform, type DataPlatformArgs } from "../../../../components/platform/dataPlatform";
import type { FloeMocks, RecordedResource } from "../../../../components/testing";
import { installFloeMocks, underRoot } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

type Labels = Record<string, string>;
type Endpoint = { name: string; ns?: string; labels?: Labels; ip?: string };
type Selector = { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values?: string[] }[] };

function matches(sel: Selector | undefined, labels: Labels): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === "In" && !(has && e.values!.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values!.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const n = (a: string) => a.split(".").reduce((x, o) => x * 256 + Number(o), 0);
  const mask = Number(bits) === 0 ? 0 : 2 ** 32 - 2 ** (32 - Number(bits));
  return (n(ip) & mask) >>> 0 === (n(base) & mask) >>> 0;
}

/** Whether a peer of a policy living in `policyNs` names `e`. ipBlock peers name addresses outside the cluster only. */
function peerMatches(peer: any, policyNs: string, e: Endpoint): boolean {
  if (peer.ipBlock) return e.ip !== undefined && inCidr(e.ip, peer.ipBlock.cidr);
  if (e.ip !== undefined) return false;
  const nsOk = peer.namespaceSelector === undefined ? e.ns === policyNs : matches(peer.namespaceSelector, { "kubernetes.io/metadata.name": e.ns! });
  return nsOk && matches(peer.podSelector, e.labels!);
}

const portOk = (ports: any[] | undefined, proto: string, port: number) =>
  !ports || ports.length === 0 || ports.some((p) => (p.protocol ?? "TCP") === proto && p.port === port);

function allowed(policies: RecordedResource[], src: Endpoint, dst: Endpoint, proto: string, port: number): boolean {
  const side = (pod: Endpoint, type: "Ingress" | "Egress", other: Endpoint) => {
    if (pod.ip !== undefined) return true; // outside the cluster: no policy of ours applies there
    const pols = policies.filter(
      (p) => p.inputs.metadata.namespace === pod.ns && matches(p.inputs.spec.podSelector, pod.labels!) && p.inputs.spec.policyTypes.includes(type),
    );
    if (pols.length === 0) return true;
    return pols.some((p) =>
      (p.inputs.spec[type === "Ingress" ? "ingress" : "egress"] ?? []).some((rule: any) => {
        const peers = rule[type === "Ingress" ? "from" : "to"];
        return (
          (!peers || peers.length === 0 || peers.some((peer: any) => peerMatches(peer, p.inputs.metadata.namespace, other))) && portOk(rule.ports, proto, port)
        );
      }),
    );
  };
  return side(src, "Egress", dst) && side(dst, "Ingress", src);
}

const PROBES: [string, number][] = [5432, 8000, 9000, 8181, 8443, 8080, 8123, 9187, 9443, 443, 6443, 22, 80]
  .map((p) => ["TCP", p] as [string, number])
  .concat([
    ["UDP", 53],
    ["TCP", 53],
  ]);

/** Every allowed "src -> dst proto/port" among the endpoints. */
function matrix(policies: RecordedResource[], eps: Endpoint[]): string[] {
  const out: string[] = [];
  for (const s of eps)
    for (const d of eps)
      for (const [proto, port] of PROBES)
        if (s.ip === undefined || d.ip === undefined) if (allowed(policies, s, d, proto, port)) out.push(`${s.name} -> ${d.name} ${proto}/${port}`);
  return out.sort();
}

/** Pod template labels of a recorded Deployment or Job. */
const podLabels = (r: RecordedResource): Labels => r.inputs.spec.template.metadata.labels;

async function synth(name: string, args: DataPlatformArgs) {
  const p = new DataPlatform(name, args);
  await m.settled(p.connectionString, p.cdc!.writers, p.catalogUri, p.poolerEndpoint);
  const policies = m.resources.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && underRoot(m, r, name));
  return { p, policies };
}

const expand = (paths: [string[], string[], string[]][]) =>
  paths.flatMap(([from, to, ports]) => from.flatMap((f) => to.flatMap((t) => ports.map((port) => `${f} -> ${t} ${port}`)))).sort();

describe("DataPlatform NetworkPolicies on kubernetes", () => {
  test("default platform: every piece reaches what it needs and nothing else (the catalog on its TLS port 8443 only)", async () => {
    const { policies } = await synth("np", { target: "kubernetes" });
    const job = (n: string) => podLabels(m.named(n, "kubernetes:batch/v1:Job"));
    const eps: Endpoint[] = [
      { name: "pg", ns: "floe", labels: { "cnpg.io/cluster": "np-postgres", "cnpg.io/podRole": "instance", "cnpg.io/instanceName": "np-postgres-1" } },
      { name: "pg-join", ns: "floe", labels: { "cnpg.io/cluster": "np-postgres", "cnpg.io/jobRole": "join" } },
      { name: "pooler", ns: "floe", labels: { "cnpg.io/cluster": "np-postgres", "cnpg.io/podRole": "pooler", "cnpg.io/poolerName": "np-pooler" } },
      { name: "minio", ns: "floe", labels: { app: "minio", release: "np-storage-minio" } },
      { name: "minio-job", ns: "floe", labels: { app: "minio-job", release: "np-storage-minio" } },
      {
        name: "lakekeeper",
        ns: "floe",
        labels: { "app.kubernetes.io/name": "lakekeeper", "app.kubernetes.io/instance": "np-catalog-lakekeeper", "app.kubernetes.io/component": "catalog" },
      },
      {
        name: "lk-migrate",
        ns: "floe",
        labels: {
          "app.kubernetes.io/name": "lakekeeper",
          "app.kubernetes.io/instance": "np-catalog-lakekeeper",
          "app.kubernetes.io/component": "db-migration",
        },
      },
      { name: "bootstrap", ns: "floe", labels: job("np-catalog-bootstrap") },
      {
        name: "trino-c",
        ns: "floe",
        labels: { "app.kubernetes.io/name": "trino", "app.kubernetes.io/instance": "np-query-trino", "app.kubernetes.io/component": "coordinator" },
      },
      {
        name: "trino-w",
        ns: "floe",
        labels: { "app.kubernetes.io/name": "trino", "app.kubernetes.io/instance": "np-query-trino", "app.kubernetes.io/component": "worker" },
      },
      {
        name: "clickhouse",
        ns: "floe",
        labels: { "app.kubernetes.io/name": "clickhouse", "app.kubernetes.io/instance": "np-query-clickhouse", "app.kubernetes.io/component": "clickhouse" },
      },
      { name: "cdc", ns: "floe", labels: podLabels(m.named("np-cdc-primary", "kubernetes:apps/v1:Deployment")) },
      { name: "stranger", ns: "floe", labels: { app: "debug" } },
      {
        name: "operator",
        ns: "cnpg-system",
        labels: { "app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "np-postgres-cnpg-operator-x1" },
      },
      { name: "dns", ns: "kube-system", labels: { "k8s-app": "kube-dns" } },
      { name: "app", ns: "shop", labels: { app: "shop" } },
      { name: "api-server", ip: "172.20.0.1" },
      { name: "internet", ip: "8.8.8.8" },
    ];
    const floePods = [
      "pg",
      "pg-join",
      "pooler",
      "minio",
      "minio-job",
      "lakekeeper",
      "lk-migrate",
      "bootstrap",
      "trino-c",
      "trino-w",
      "clickhouse",
      "cdc",
      "operator",
    ];
    const PG = ["pg", "pg-join"];
    const LK = ["lakekeeper", "lk-migrate"];
    const TRINO = ["trino-c", "trino-w"];
    const CLIENTS = ["app", "dns"];
    const OUTSIDE = ["api-server", "internet"]; // apiServerCidrs defaults to 0.0.0.0/0 on 443/6443
    const expected = expand([
      [floePods, ["dns"], ["TCP/53", "UDP/53"]],
      [["cdc"], PG, ["TCP/5432"]],
      [["cdc"], LK, ["TCP/8443"]],
      [["cdc"], ["minio"], ["TCP/9000"]],
      [LK, PG, ["TCP/5432"]],
      [LK, ["minio"], ["TCP/9000"]],
      [["bootstrap"], LK, ["TCP/8443"]],
      [["minio-job"], ["minio"], ["TCP/9000"]],
      [["pooler"], PG, ["TCP/5432"]],
      [PG, PG, ["TCP/5432"]],
      [PG, ["minio"], ["TCP/9000"]],
      [TRINO, TRINO, ["TCP/8080"]],
      [TRINO, LK, ["TCP/8443"]],
      [TRINO, ["minio"], ["TCP/9000"]],
      [["clickhouse"], LK, ["TCP/8443"]],
      [["clickhouse"], ["minio"], ["TCP/9000"]],
      // clientNamespaces defaults to every namespace (kube-system's DNS pods too)
      [CLIENTS, ["pooler"], ["TCP/5432"]],
      [CLIENTS, TRINO, ["TCP/8080"]],
      [CLIENTS, ["clickhouse"], ["TCP/8123", "TCP/9000"]],
      [CLIENTS, LK, ["TCP/8443"]],
      [CLIENTS, ["cdc"], ["TCP/9187"]],
      // CNPG's pods, and Lakekeeper checking service-account tokens (TokenReview)
      [[...PG, "pooler", "operator", ...LK], OUTSIDE, ["TCP/443", "TCP/6443"]],
      [["operator"], PG, ["TCP/8000"]],
      [OUTSIDE, ["operator"], ["TCP/9443"]],
    ]);
    // every path from or to a pod in a namespace floe owns (the stranger included: it gets nothing)
    const ours = new Set([...floePods, "stranger"]);
    const got = matrix(policies, eps).filter((x) => {
      const [, a, b] = /^(\S+) -> (\S+) /.exec(x)!;
      return ours.has(a) || ours.has(b);
    });
    expect(got).toEqual(expected);
    // default deny in both namespaces floe owns
    const deny = policies.filter((p) => p.inputs.metadata.name === "floe-default-deny").map((p) => p.inputs.metadata.namespace);
    expect(deny.sort()).toEqual(["cnpg-system", "floe"]);
    // the writer's own any-address policy is off inside the platform
    expect(policies.filter((p) => p.name === "np-cdc-netpol")).toEqual([]);
  });

  test("sharded: the Citus registration Job reaches the instances only", async () => {
    const { policies } = await synth("ns", { target: "kubernetes", postgres: { shards: 2, kubernetes: { citusImage: "registry.example/citus:17" } } });
    const citus: Endpoint = { name: "citus", ns: "floe", labels: podLabels(m.named("ns-postgres-citus-register", "kubernetes:batch/v1:Job")) };
    const shard: Endpoint = { name: "shard", ns: "floe", labels: { "cnpg.io/cluster": "ns-postgres-shard-1", "cnpg.io/podRole": "instance" } };
    const coord: Endpoint = { name: "coordinator", ns: "floe", labels: { "cnpg.io/cluster": "ns-postgres", "cnpg.io/podRole": "instance" } };
    const minio: Endpoint = { name: "minio", ns: "floe", labels: { app: "minio", release: "ns-storage-minio" } };
    const ok = (a: Endpoint, b: Endpoint, port: number) => allowed(policies, a, b, "TCP", port);
    expect([
      ok(citus, shard, 5432),
      ok(citus, coord, 5432),
      ok(coord, shard, 5432),
      ok(shard, coord, 5432),
      ok(citus, minio, 9000),
      ok(citus, shard, 8000),
    ]).toEqual([true, true, true, true, false, false]);
  });

  test("pgBouncer, upgrade, an external S3 endpoint, client namespaces and the API server's address", async () => {
    const { policies } = await synth("nq", {
      target: "kubernetes",
      pooler: { implementation: "pgbouncer", configStorageClass: "nfs" },
      storage: { kubernetes: { existingEndpoint: "https://s3.example.com", existingAccessKeyId: "AK", existingSecretAccessKey: "SK" } },
      upgrade: { toVersion: 17 },
      query: { clickhouse: false },
      networkPolicies: { clientNamespaces: ["shop"], apiServerCidrs: ["172.20.0.1/32"] },
    });
    const pod = (n: string, type = "kubernetes:apps/v1:Deployment") => ({ name: n, ns: "floe", labels: podLabels(m.named(n, type)) });
    const pg: Endpoint = { name: "pg", ns: "floe", labels: { "cnpg.io/cluster": "nq-postgres", "cnpg.io/podRole": "instance" } };
    const green: Endpoint = { name: "green", ns: "floe", labels: { "cnpg.io/cluster": "nq-upgrade-green", "cnpg.io/podRole": "instance" } };
    const pgb = pod("nq-pooler-pgbouncer");
    const upgradeJob = { name: "upgrade", ns: "floe", labels: podLabels(all("kubernetes:batch/v1:Job", "nq-upgrade")[0]) };
    const cdc = pod("nq-cdc-primary");
    const shop: Endpoint = { name: "shop", ns: "shop", labels: { app: "shop" } };
    const other: Endpoint = { name: "other", ns: "other", labels: { app: "x" } };
    const s3: Endpoint = { name: "s3", ip: "52.216.1.1" };
    const api: Endpoint = { name: "api", ip: "172.20.0.1" };
    const ok = (a: Endpoint, b: Endpoint, port: number, proto = "TCP") => allowed(policies, a, b, proto, port);
    expect([ok(shop, pgb, 5432), ok(other, pgb, 5432), ok(shop, pg, 5432)]).toEqual([true, false, false]);
    expect([ok(pgb, pg, 5432), ok(pgb, api, 443)]).toEqual([true, false]); // pgBouncer has no instance manager
    expect([ok(upgradeJob, pg, 5432), ok(upgradeJob, green, 5432), ok(upgradeJob, pgb, 5432), ok(upgradeJob, cdc, 9187)]).toEqual([true, true, true, false]);
    expect([ok(pg, green, 5432), ok(green, pg, 5432)]).toEqual([true, true]);
    // the external object store is reached on its URL's port, and only there
    expect([ok(cdc, s3, 443), ok(cdc, s3, 9000), ok(pg, s3, 443), ok(cdc, pg, 5432)]).toEqual([true, false, true, true]);
    // the API server by its address only: the instances may no longer call any address on 443
    expect([ok(pg, api, 443), ok(pg, api, 6443), ok(pg, { name: "elsewhere", ip: "8.8.8.8" }, 6443)]).toEqual([true, true, false]);
    expect(policies.some((p) => JSON.stringify(p.inputs.spec).includes("minio"))).toBe(false);
  });

  test("networkPolicies.enabled false: none from the platform, the writer keeps its own", async () => {
    const { policies } = await synth("nr", { target: "kubernetes", networkPolicies: { enabled: false } });
    expect(policies.map((p) => p.name)).toEqual(["nr-cdc-netpol"]);
  });

  test.each([
    ["a CIDR without its length", { apiServerCidrs: ["172.20.0.1"] }, /networkPolicies\.apiServerCidrs = "172\.20\.0\.1" is not a CIDR/],
    ["a namespace that is not a DNS label", { clientNamespaces: ["Shop_NS"] }, /networkPolicies\.clientNamespaces = "Shop_NS" is not a valid name/],
  ])("validation: %s", (_, np, message) => {
    expect(() => new DataPlatform("nbad", { target: "kubernetes", networkPolicies: np })).toThrow(message);
  });
});

function all(type: string, under: string): RecordedResource[] {
  return m.ofType(type).filter((r) => underRoot(m, r, under));
}
