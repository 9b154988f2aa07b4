import { Pooler } from "../../../../components/pooler/pooler";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

async function build(name: string, args: ConstructorParameters<typeof Pooler>[1]) {
  const p = new Pooler(name, args);
  await m.settled(p.host, p.port, p.poolerName, p.cutoverPolicyArn);
  return p;
}

describe("Pooler on kubernetes", () => {
  test("a CNPG Pooler in transaction mode and a cutover ServiceAccount that may only patch it", async () => {
    const p = await build("pk", { target: "kubernetes", kubernetes: { clusterName: "pg" } });
    expect(countsUnder(m, "pk")).toEqual({
      "kubernetes:postgresql.cnpg.io/v1:Pooler": 1,
      "kubernetes:core/v1:ServiceAccount": 1,
      "kubernetes:rbac.authorization.k8s.io/v1:Role": 1,
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 1,
    });
    const spec = only(m, "kubernetes:postgresql.cnpg.io/v1:Pooler", "pk").inputs.spec;
    expect(spec.cluster).toEqual({ name: "pg" });
    expect(spec.type).toBe("rw");
    expect(spec.pgbouncer.poolMode).toBe("transaction");
    expect(spec.pgbouncer.parameters).toMatchObject({ max_client_conn: "1000", default_pool_size: "20", query_wait_timeout: "120" });
    const rules = only(m, "kubernetes:rbac.authorization.k8s.io/v1:Role", "pk").inputs.rules;
    expect(rules[0]).toEqual({ apiGroups: ["postgresql.cnpg.io"], resources: ["poolers"], resourceNames: ["pk"], verbs: ["get", "patch"] });
    expect(rules.flatMap((r: any) => r.verbs)).not.toContain("delete");
    expect(await valueOf(p.host)).toBe("pk.floe.svc.cluster.local");
    expect(p.poolMode).toBe("transaction");
  });

  test("pool mode and pgBouncer parameters can be overridden", async () => {
    await build("pks", { target: "kubernetes", poolMode: "session", kubernetes: { clusterName: "pg", parameters: { server_idle_timeout: "60" } } });
    const spec = only(m, "kubernetes:postgresql.cnpg.io/v1:Pooler", "pks").inputs.spec;
    expect(spec.pgbouncer.poolMode).toBe("session");
    expect(spec.pgbouncer.parameters.server_idle_timeout).toBe("60");
  });
});

describe("Pooler on aws", () => {
  test("RDS Proxy with TLS, Secrets Manager auth, a scoped role and a cutover policy", async () => {
    const p = await build("pa", {
      target: "aws",
      aws: { clusterIdentifier: "db-1", secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:db", subnetIds: ["s-1", "s-2"], securityGroupIds: ["sg-1"] },
    });
    expect(countsUnder(m, "pa")).toEqual({
      "aws:iam/role:Role": 1,
      "aws:iam/rolePolicy:RolePolicy": 1,
      "aws:rds/proxy:Proxy": 1,
      "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": 1,
      "aws:rds/proxyTarget:ProxyTarget": 1,
      "aws:iam/policy:Policy": 1,
    });
    const proxy = only(m, "aws:rds/proxy:Proxy", "pa").inputs;
    expect(proxy).toMatchObject({ engineFamily: "POSTGRESQL", requireTls: true, vpcSubnetIds: ["s-1", "s-2"] });
    expect(proxy.auths[0]).toMatchObject({ authScheme: "SECRETS", secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:db" });
    const policy = JSON.parse(only(m, "aws:iam/rolePolicy:RolePolicy", "pa").inputs.policy);
    expect(policy.Statement[0].Resource).toEqual(["arn:aws:secretsmanager:us-east-1:1:secret:db"]);
    expect(only(m, "aws:rds/proxyTarget:ProxyTarget", "pa").inputs.dbClusterIdentifier).toBe("db-1");
    expect(await valueOf(p.host)).toMatch(/^pa-proxy\.proxy-/);
    expect(await valueOf(p.cutoverPolicyArn)).toMatch(/^arn:aws:iam::123456789012:policy\//);
    // The cutover may repoint this proxy's target group only: both by their real ARNs, no wildcard.
    const cutover = JSON.parse(only(m, "aws:iam/policy:Policy", "pa").inputs.policy);
    const proxyArn = only(m, "aws:rds/proxy:Proxy", "pa").state.arn;
    const groupArn = only(m, "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup", "pa").state.arn;
    expect(groupArn).toMatch(/:target-group:prx-tg-/);
    expect(cutover.Statement).toHaveLength(1);
    expect(cutover.Statement[0].Resource).toEqual([proxyArn, groupArn]);
  });
});

describe("Pooler validation", () => {
  const awsArgs = { clusterIdentifier: "c", secretArn: "s", subnetIds: ["a"], securityGroupIds: ["b"] };
  test.each([
    [
      "missing kubernetes block",
      { target: "kubernetes" },
      /Pooler "bad": kubernetes = undefined is required when target is "kubernetes"\. Fix: pass kubernetes: \{ clusterName \}/,
    ],
    [
      "bad pool mode",
      { target: "kubernetes", poolMode: "txn", kubernetes: { clusterName: "x" } },
      /poolMode = "txn" is not one of "transaction", "session", "statement"/,
    ],
    [
      "session on RDS Proxy",
      { target: "aws", poolMode: "session", aws: awsArgs },
      /poolMode = "session" is not available on RDS Proxy .*Fix: leave poolMode unset or "transaction" on aws/,
    ],
    ["missing aws block", { target: "aws" }, /aws = undefined is required when target is "aws"/],
  ] as [string, any, RegExp][])("%s", (_, args, message) => {
    expect(() => new Pooler("bad", args)).toThrow(message);
  });
});

test("a single `provider` option on the component reaches its children", async () => {
  const k8s = await import("@pulumi/kubernetes");
  const prov = new k8s.Provider("pool-k8s", { kubeconfig: "{}" });
  const p = new Pooler("pprov", { target: "kubernetes", kubernetes: { clusterName: "pg" } }, { provider: prov });
  await m.settled(p.host, p.cutoverServiceAccount);
  const ref = `${await valueOf(prov.urn)}::`;
  const kids = m.resources.filter((r) => r.custom && r.name.startsWith("pprov-"));
  expect(kids).toHaveLength(4);
  for (const r of kids) expect(r.provider?.startsWith(ref)).toBe(true);
});

describe('Pooler on kubernetes, implementation "pgbouncer" (for the blue/green cutover)', () => {
  test("a one-replica Deployment with pgbouncer.ini on a ReadWriteMany claim and an admin console user", async () => {
    const p = new Pooler("pb", {
      target: "kubernetes",
      kubernetes: {
        implementation: "pgbouncer",
        host: "pg-rw.floe.svc",
        users: [{ username: "app", password: "app-password-123" }],
        configStorageClass: "efs",
      },
    });
    await m.settled(p.host, p.adminUrl, p.configClaim);
    expect(countsUnder(m, "pb")).toEqual({
      "random:index/randomPassword:RandomPassword": 1,
      "kubernetes:core/v1:Secret": 1,
      "kubernetes:core/v1:ConfigMap": 1,
      "kubernetes:core/v1:PersistentVolumeClaim": 1,
      "kubernetes:apps/v1:Deployment": 1,
      "kubernetes:core/v1:Service": 1,
    });
    const ini: string = m.named("pb-initial-config").inputs.data["pgbouncer.ini"];
    expect(ini).toContain("app = host=pg-rw.floe.svc port=5432 dbname=app");
    expect(ini).toContain("pool_mode = transaction");
    expect(ini).toContain("admin_users = floe_pooler_admin");
    expect(ini).toContain("server_tls_sslmode = require");
    expect(ini).not.toContain("app-password-123");
    expect(m.named("pb-config").inputs.spec).toMatchObject({ accessModes: ["ReadWriteMany"], storageClassName: "efs" });
    const dep = m.named("pb-pgbouncer").inputs.spec;
    expect(dep.replicas).toBe(1);
    expect(dep.strategy).toEqual({ type: "Recreate" });
    expect(dep.template.spec.containers[0].command).toEqual(["pgbouncer", "/pooler/pgbouncer.ini"]);
    expect(m.named("pb-userlist").inputs.stringData["userlist.txt"]).toContain('"app" "app-password-123"');
    expect(m.secretLeaks(["app-password-123", ...m.passwords])).toEqual([]);
    expect(await valueOf(p.configClaim)).toBe("pb-config");
    expect(await isSecret(p.adminUrl)).toBe(true);
    expect(await valueOf(p.adminUrl)).toMatch(/^postgres:\/\/floe_pooler_admin:.+@pb\.floe\.svc\.cluster\.local:5432\/pgbouncer$/);
  });

  test("validation", () => {
    expect(
      () =>
        new Pooler("pbv", {
          target: "kubernetes",
          instances: 2,
          kubernetes: { implementation: "pgbouncer", host: "h", users: [{ username: "a", password: "b" }] },
        }),
    ).toThrow(/instances = 2 must be 1 with kubernetes\.implementation "pgbouncer"/);
    expect(() => new Pooler("pbw", { target: "kubernetes", kubernetes: { implementation: "pgbouncer", host: "h" } })).toThrow(
      /kubernetes\.users = undefined must list at least one user/,
    );
    expect(() => new Pooler("pbx", { target: "kubernetes", kubernetes: {} })).toThrow(
      /kubernetes\.clusterName = undefined is required with implementation "cnpg"/,
    );
    expect(() => new Pooler("pby", { target: "kubernetes", kubernetes: { implementation: "odyssey" } })).toThrow(
      /kubernetes\.implementation = "odyssey" is not one of "cnpg", "pgbouncer"/,
    );
  });
});
