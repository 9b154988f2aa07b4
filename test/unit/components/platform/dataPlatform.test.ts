import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { DataPlatform, type DataPlatformArgs } from "../../../../components/platform/dataPlatform";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, underRoot, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

async function synth(name: string, args: DataPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
  const p = new DataPlatform(name, args, opts);
  await m.settled(
    p.connectionString,
    p.connectionSecret,
    p.cdc!.writers,
    p.catalogUri,
    p.poolerEndpoint,
    p.trinoEndpoint,
    p.clickhouseEndpoint,
    p.athenaWorkgroup,
  );
  return { p };
}

const K8S_COMMON = {
  "kubernetes:core/v1:Namespace": 1,
  // MinIO's KMS key (encryption at rest)
  "random:index/randomBytes:RandomBytes": 1,
  // MinIO secret key + root, superuser, app, replication, lakekeeper role, lakekeeper encryption key, ClickHouse.
  "random:index/randomPassword:RandomPassword": 8,
  // Pooler cutover, CDC writer, catalog bootstrap Job.
  "kubernetes:core/v1:ServiceAccount": 3,
  // cert-manager, CNPG operator, MinIO, Lakekeeper, Trino, ClickHouse.
  "kubernetes:helm.sh/v3:Release": 6,
  // TLS: the self-signed and the CA issuers; the CA, MinIO's and Lakekeeper's certificates; the TLS Service in front of Lakekeeper.
  "kubernetes:cert-manager.io/v1:Issuer": 2,
  "kubernetes:cert-manager.io/v1:Certificate": 3,
  "kubernetes:core/v1:Service": 1,
  // default deny in floe and cnpg-system; postgres, pooler, CDC, MinIO, its job, Lakekeeper, its
  // bootstrap, Trino, ClickHouse, the operator (networkPolicies.test.ts checks what they allow).
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": 12,
  "kubernetes:rbac.authorization.k8s.io/v1:Role": 1,
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 1,
  "kubernetes:postgresql.cnpg.io/v1:Pooler": 1,
  "pulumi:providers:postgresql": 1,
  // app, replication, lakekeeper.
  "postgresql:index/role:Role": 3,
  "postgresql:index/publication:Publication": 1,
  "postgresql:index/database:Database": 1,
  "postgresql:index/grant:Grant": 5,
  "postgresql:index/defaultPrivileges:DefaultPrivileges": 1,
};

const AWS_COMMON = {
  "aws:s3/bucket:Bucket": 1,
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
  "aws:s3/bucketVersioning:BucketVersioning": 1,
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
  "aws:s3/bucketPolicy:BucketPolicy": 1,
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
  "aws:rds/subnetGroup:SubnetGroup": 1,
  "aws:rds/clusterParameterGroup:ClusterParameterGroup": 1,
  "aws:rds/cluster:Cluster": 1,
  // Postgres admin, CDC config, app connection.
  "aws:secretsmanager/secret:Secret": 3,
  "aws:secretsmanager/secretVersion:SecretVersion": 3,
  "random:index/randomPassword:RandomPassword": 3,
  // Postgres, CDC writer, the CDC writer's interface endpoints.
  "aws:ec2/securityGroup:SecurityGroup": 3,
  // the CDC writer's AWS API endpoints: 6 interface + the S3 gateway
  "aws:ec2/vpcEndpoint:VpcEndpoint": 7,
  "aws:glue/catalogDatabase:CatalogDatabase": 1,
  "aws:athena/workgroup:Workgroup": 1,
  "aws:ecs/cluster:Cluster": 1,
  "aws:cloudwatch/logGroup:LogGroup": 1,
  "aws:ecs/taskDefinition:TaskDefinition": 1,
  "aws:ecs/service:Service": 1,
  "pulumi:providers:postgresql": 1,
  "postgresql:index/role:Role": 2,
  "postgresql:index/publication:Publication": 1,
  "postgresql:index/grant:Grant": 5,
  "postgresql:index/defaultPrivileges:DefaultPrivileges": 1,
};

describe("DataPlatform on kubernetes", () => {
  test("not sharded: the exact set of resources", async () => {
    await synth("pk", { target: "kubernetes" });
    expect(countsUnder(m, "pk")).toEqual({
      ...K8S_COMMON,
      "kubernetes:postgresql.cnpg.io/v1:Cluster": 1,
      "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup": 1,
      // storage credentials, MinIO root, MinIO KMS env, superuser, Lakekeeper db, ClickHouse init + auth, 1 CDC config, app connection.
      "kubernetes:core/v1:Secret": 9,
      // Lakekeeper bootstrap.
      "kubernetes:batch/v1:Job": 1,
      "kubernetes:apps/v1:Deployment": 1,
    });
  });

  test("sharded (3): Citus clusters, registration Job, one CDC writer per shard", async () => {
    const { p } = await synth("ps", { target: "kubernetes", postgres: { shards: 3, kubernetes: { citusImage: "example/cnpg-citus:16" } } });
    expect(countsUnder(m, "ps")).toEqual({
      ...K8S_COMMON,
      "kubernetes:postgresql.cnpg.io/v1:Cluster": 4,
      "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup": 4,
      "kubernetes:core/v1:Secret": 11,
      "kubernetes:batch/v1:Job": 2,
      "kubernetes:apps/v1:Deployment": 3,
      // + the Citus registration Job's
      "kubernetes:networking.k8s.io/v1:NetworkPolicy": 13,
    });
    expect(await valueOf(p.cdc!.writers)).toEqual(["ps-cdc-shard-0", "ps-cdc-shard-1", "ps-cdc-shard-2"]);
  });

  test("wiring: backups to the object store, Lakekeeper on the platform's Postgres, engines and CDC on the catalog", async () => {
    const { p } = await synth("pw", { target: "kubernetes", createNamespace: false, namespace: "data" });
    expect(countsUnder(m, "pw")["kubernetes:core/v1:Namespace"]).toBeUndefined();
    const cluster = m.named("pw-postgres-cluster").inputs;
    expect(cluster.metadata.namespace).toBe("data");
    expect(cluster.spec.backup.barmanObjectStore).toMatchObject({
      destinationPath: "s3://floe-lake/backups",
      endpointURL: "https://pw-storage-minio.data.svc.cluster.local:9000",
      // MinIO's certificate is verified against the platform's CA
      endpointCA: { name: "pw-tls-ca", key: "ca.crt" },
    });
    expect(cluster.spec.backup.barmanObjectStore.s3Credentials.accessKeyId.name).toBe("pw-storage-credentials");
    const lk = m.named("pw-catalog-lakekeeper").inputs.values.externalDatabase;
    expect(lk).toMatchObject({ host_write: "pw-postgres-rw.data.svc.cluster.local", database: "lakekeeper" });
    const catalogUri = "https://pw-catalog-lakekeeper-tls.data.svc.cluster.local:8443/catalog";
    expect(await valueOf(p.catalogUri)).toBe(catalogUri);
    expect(m.named("pw-query-trino").inputs.values.catalogs.floe).toContain(`iceberg.rest-catalog.uri=${catalogUri}`);
    expect(m.named("pw-query-clickhouse-init").inputs.stringData["01-floe-iceberg.sql"]).toContain(`DataLakeCatalog('${catalogUri}'`);
    const cfg = JSON.parse(m.named("pw-cdc-primary-config").inputs.stringData["config.json"]);
    expect(cfg.catalog.uri).toBe(catalogUri);
    expect(cfg.warehouse).toBe("s3://floe-lake/warehouse");
    // TLS verified against CloudNativePG's CA, mounted from its <cluster>-ca secret (issue 11 item 3)
    expect(cfg.sources[0].connectionString).toMatch(
      /^postgresql:\/\/floe_replication:.+@pw-postgres-rw\.data\.svc\.cluster\.local:5432\/app\?sslmode=verify-full$/,
    );
    expect(cfg.sources[0].sslrootcert).toBe("/etc/floe-ca/ca.crt");
    const pod = m.named("pw-cdc-primary").inputs.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "ca", secret: { secretName: "pw-postgres-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "ca", mountPath: "/etc/floe-ca", readOnly: true });
    expect(m.named("pw-pooler-pooler").inputs.spec.cluster.name).toBe("pw-postgres");
    expect(await valueOf(p.poolerEndpoint)).toBe("pw-pooler.data.svc.cluster.local:5432");
    expect(await valueOf(p.warehouseLocation)).toBe("s3://floe-lake/warehouse");
    expect(await valueOf(p.connectionSecret)).toBe("pw-app-connection");
    expect(await valueOf(p.connectionString)).toMatch(/^postgresql:\/\/app:.+@pw-pooler\.data\.svc\.cluster\.local:5432\/app/);
    expect(await isSecret(p.connectionString)).toBe(true);
  });

  test("parentage: every resource hangs under the platform, each child named after its parent", async () => {
    await synth("pp", { target: "kubernetes" });
    const mine = m.resources.filter((r) => r.name.startsWith("pp-") || r.name === "pp");
    const byUrn = new Map(m.resources.map((r) => [r.urn, r]));
    for (const r of mine) {
      if (r.name === "pp") continue;
      expect(underRoot(m, r, "pp")).toBe(true);
      const parent = byUrn.get(r.parentUrn!)!;
      expect(`${r.name} under ${parent.name}`).toMatch(new RegExp(`^${parent.name}-.* under ${parent.name}$`));
      expect(r.urn).toContain(`${parent.type}$${r.type}::`);
    }
    const components = mine
      .filter((r) => !r.custom)
      .map((r) => `${r.type} ${r.name}`)
      .sort();
    expect(components).toEqual([
      "floe:index:CdcWriter pp-cdc",
      "floe:index:DataPlatform pp",
      "floe:index:DatabaseRoles pp-postgres-roles",
      "floe:index:IcebergCatalog pp-catalog",
      "floe:index:ObjectStorage pp-storage",
      "floe:index:Pooler pp-pooler",
      "floe:index:PostgresCluster pp-postgres",
      "floe:index:QueryEngines pp-query",
    ]);
  });

  test("an explicit kubernetes provider reaches every kubernetes resource; roles use the provider built from the cluster", async () => {
    const prov = new k8s.Provider("kc", { kubeconfig: "{}", namespace: "ignored" });
    await synth("pv", { target: "kubernetes" }, { providers: { kubernetes: prov } });
    const ref = `${await valueOf(prov.urn)}::`;
    const kres = m.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:") && underRoot(m, r, "pv"));
    expect(kres.length).toBe(44);
    for (const r of kres) expect(`${r.name}: ${r.provider ?? "default provider"}`).toBe(`${r.name}: ${r.provider?.startsWith(ref) ? r.provider : ref + "…"}`);
    const pgProv = m.named("pv-postgres-roles-provider");
    for (const r of m.resources.filter((x) => x.type.startsWith("postgresql:") && underRoot(m, x, "pv")))
      expect(r.provider?.startsWith(`${pgProv.urn}::`)).toBe(true);
  });

  test("no generated password or storage key appears in plaintext in any resource input", async () => {
    await synth("pn", { target: "kubernetes" });
    expect(m.passwords.length).toBeGreaterThanOrEqual(8);
    expect(m.secretLeaks()).toEqual([]);
  });

  test("the leak check itself catches a password that lost its secretness", async () => {
    const p = new DataPlatform("pl", { target: "kubernetes" });
    const leaked = new k8s.core.v1.ConfigMap("pl-oops", { data: { pw: pulumi.unsecret(p.postgres!.adminPassword) } });
    await m.settled(p.connectionString, leaked.metadata);
    expect(m.secretLeaks()).toEqual([{ resource: "kubernetes:core/v1:ConfigMap::pl-oops", path: "$.data.pw" }]);
    m.resources.splice(
      m.resources.findIndex((r) => r.name === "pl-oops"),
      1,
    );
  });
});

describe("DataPlatform on aws", () => {
  test("not sharded, network created: the exact set of resources", async () => {
    const { p } = await synth("pa", { target: "aws" });
    expect(countsUnder(m, "pa")).toEqual({
      ...AWS_COMMON,
      "aws:ec2/vpc:Vpc": 1,
      "aws:ec2/subnet:Subnet": 2,
      "aws:rds/clusterInstance:ClusterInstance": 2,
      "aws:rds/proxy:Proxy": 1,
      "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": 1,
      "aws:rds/proxyTarget:ProxyTarget": 1,
      // proxy, CDC task, CDC execution.
      "aws:iam/role:Role": 3,
      "aws:iam/rolePolicy:RolePolicy": 3,
      "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 2,
      // proxy cutover, catalog access.
      "aws:iam/policy:Policy": 2,
    });
    expect(await valueOf(p.poolerEndpoint)).toMatch(/^pa-pooler-proxy\.proxy-.*:5432$/);
    expect(await valueOf(p.catalogUri)).toBe("https://glue.us-east-1.amazonaws.com/iceberg");
    expect(await valueOf(p.athenaWorkgroup)).toBe("pa-query-athena");
    expect(await valueOf(p.connectionSecret)).toMatch(/^arn:aws:secretsmanager:/);
    // The proxy sits in the cluster's subnets and security group, and reads the cluster's secret.
    const proxy = m.named("pa-pooler-proxy", "aws:rds/proxy:Proxy").inputs;
    expect(proxy.vpcSubnetIds).toEqual(["pa-postgres-private-0", "pa-postgres-private-1"].map((n) => m.named(n).state.id ?? expect.stringMatching(/^subnet-/)));
    expect(proxy.vpcSecurityGroupIds).toEqual([expect.stringMatching(/^sg-/)]);
    expect(proxy.auths[0].secretArn).toBe(m.named("pa-postgres-admin", "aws:secretsmanager/secret:Secret").state.arn);
    // The CDC writer signs catalog calls for Glue and its task role gets the catalog policy.
    const cfg = JSON.parse(m.named("pa-cdc-primary-config", "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString);
    expect(cfg.catalog).toMatchObject({
      uri: "https://glue.us-east-1.amazonaws.com/iceberg",
      warehouse: "123456789012",
      sigv4: { service: "glue", region: "us-east-1" },
    });
    expect(m.named("pa-cdc-catalog").inputs.policyArn).toBe(m.named("pa-catalog-access").state.arn);
  });

  test("sharded on Aurora Limitless with your VPC: no network, no proxy, a ShardGroup", async () => {
    const { p } = await synth("pb", { target: "aws", postgres: { shards: 3, aws: { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b"] } } });
    expect(countsUnder(m, "pb")).toEqual({
      ...AWS_COMMON,
      "aws:rds/shardGroup:ShardGroup": 1,
      // enhanced monitoring (required by Limitless), CDC task, CDC execution.
      "aws:iam/role:Role": 3,
      "aws:iam/rolePolicy:RolePolicy": 2,
      "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 3,
      "aws:iam/policy:Policy": 1,
    });
    expect(p.pooler).toBeUndefined();
    expect(await valueOf(p.poolerEndpoint)).toMatch(/limitless.*:5432$/);
    expect(m.named("pb-cdc-limitless-service").inputs.networkConfiguration.subnets).toEqual(["subnet-a", "subnet-b"]);
  });

  test("an explicit aws provider reaches every aws resource and every invoke", async () => {
    const prov = new aws.Provider("eu", { region: "eu-west-1" });
    await synth("pr", { target: "aws" }, { providers: { aws: prov } });
    const ref = `${await valueOf(prov.urn)}::`;
    const ares = m.resources.filter((r) => r.custom && r.type.startsWith("aws:") && underRoot(m, r, "pr"));
    expect(ares.length).toBe(50);
    expect(ares.filter((r) => !r.provider?.startsWith(ref)).map((r) => r.name)).toEqual([]);
    const invokes = m.calls.filter((c) => c.provider?.startsWith(ref));
    expect(new Set(invokes.map((c) => c.token))).toEqual(
      new Set([
        "aws:ec2/getVpc:getVpc",
        "aws:index/getRegion:getRegion",
        "aws:index/getAvailabilityZones:getAvailabilityZones",
        "aws:index/getCallerIdentity:getCallerIdentity",
        "aws:index/getPartition:getPartition",
      ]),
    );
  });

  test("no secret in plaintext", async () => {
    await synth("px", { target: "aws" });
    expect(m.secretLeaks()).toEqual([]);
  });
});

describe("DataPlatform validation", () => {
  test.each([
    ["unknown target", { target: "azure" }, /target = "azure" is not one of "kubernetes", "aws", "local"/],
    [
      "piece target",
      { target: "aws", postgres: { target: "kubernetes" } },
      /postgres\.target = "kubernetes" is set on a piece of the platform\. Fix: remove it; the platform's target \("aws"\) applies/,
    ],
    ["roles off", { target: "aws", postgres: { roles: { manage: false } } }, /postgres\.roles\.manage = false is not supported by the platform/],
    [
      "limitless pool mode",
      { target: "aws", postgres: { shards: 2 }, pooler: { poolMode: "session" } },
      /pooler\.poolMode = "session" cannot be applied to Aurora Limitless/,
    ],
    ["bad namespace", { target: "kubernetes", namespace: "Data_NS" }, /namespace = "Data_NS" is not a valid name/],
  ] as [string, DataPlatformArgs, RegExp][])("%s", (_, args, message) => {
    expect(() => new DataPlatform("bad", args)).toThrow(message);
  });
});

test('kubernetes platform with pooler implementation "pgbouncer": the pooler fronts the primary with the app role', async () => {
  const { p } = await synth("pg", { target: "kubernetes", pooler: { implementation: "pgbouncer", configStorageClass: "nfs" } });
  const counts = countsUnder(m, "pg");
  expect(counts["kubernetes:postgresql.cnpg.io/v1:Pooler"]).toBeUndefined();
  expect(counts["kubernetes:core/v1:PersistentVolumeClaim"]).toBe(1);
  expect(m.named("pg-pooler-initial-config").inputs.data["pgbouncer.ini"]).toContain("app = host=pg-postgres-rw.floe.svc.cluster.local port=5432 dbname=app");
  expect(m.named("pg-pooler-userlist").inputs.stringData["userlist.txt"]).toMatch(/^"app" "/);
  expect(await valueOf(p.poolerEndpoint)).toBe("pg-pooler.floe.svc.cluster.local:5432");
  expect(await isSecret(p.pooler!.adminUrl)).toBe(true);
  expect(m.secretLeaks()).toEqual([]);
});

describe("DataPlatform with your own Iceberg catalog", () => {
  test("kubernetes: no Lakekeeper, no catalog database; engines and CDC point at yours", async () => {
    const { p } = await synth("pc", { target: "kubernetes", catalog: { existingUri: "https://catalog.corp/api/catalog", existingWarehouse: "corp" } });
    const counts = countsUnder(m, "pc");
    expect(counts["kubernetes:helm.sh/v3:Release"]).toBe(5); // cert-manager, CNPG, MinIO, Trino, ClickHouse
    expect(counts["kubernetes:batch/v1:Job"]).toBeUndefined();
    expect(counts["postgresql:index/database:Database"]).toBeUndefined();
    expect(counts["postgresql:index/role:Role"]).toBe(2);
    expect(p.catalog).toBeUndefined();
    expect(await valueOf(p.catalogUri)).toBe("https://catalog.corp/api/catalog");
    expect(m.named("pc-query-trino").inputs.values.catalogs.floe).toContain(
      "iceberg.rest-catalog.uri=https://catalog.corp/api/catalog\niceberg.rest-catalog.warehouse=corp",
    );
    expect(JSON.parse(m.named("pc-cdc-primary-config").inputs.stringData["config.json"]).catalog).toMatchObject({
      uri: "https://catalog.corp/api/catalog",
      warehouse: "corp",
    });
  });

  test("aws: no Glue database or policy; the CDC task role gets the policy you pass", async () => {
    const { p } = await synth("pd", {
      target: "aws",
      catalog: {
        existingUri: "https://glue.eu-west-1.amazonaws.com/iceberg",
        existingWarehouse: "999999999999",
        existingSigv4Service: "glue",
        existingAccessPolicyArn: "arn:aws:iam::9:policy/corp-catalog",
      },
    });
    const counts = countsUnder(m, "pd");
    expect(counts["aws:glue/catalogDatabase:CatalogDatabase"]).toBeUndefined();
    expect(counts["aws:iam/policy:Policy"]).toBe(1); // the proxy's cutover policy only
    expect(m.named("pd-cdc-catalog").inputs.policyArn).toBe("arn:aws:iam::9:policy/corp-catalog");
    expect(await valueOf(p.warehouse)).toBe("999999999999");
    const cfg = JSON.parse(m.named("pd-cdc-primary-config", "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString);
    expect(cfg.catalog).toMatchObject({ uri: "https://glue.eu-west-1.amazonaws.com/iceberg", sigv4: { service: "glue" } });
  });

  test("validation: the warehouse is required with an existing catalog", () => {
    expect(() => new DataPlatform("pe", { target: "aws", catalog: { existingUri: "https://x" } })).toThrow(
      /catalog\.existingWarehouse = undefined is required with catalog\.existingUri\. Fix: pass the warehouse identifier/,
    );
  });
});

describe("DataPlatform with your own object storage", () => {
  test("kubernetes: an existing S3 endpoint replaces MinIO everywhere (backups, catalog, engines, CDC)", async () => {
    await synth("pf", {
      target: "kubernetes",
      storage: {
        bucketName: "corp-lake",
        kubernetes: { existingEndpoint: "https://s3.corp", existingAccessKeyId: "AK", existingSecretAccessKey: "corp-secret-key-1" },
      },
    });
    expect(m.resources.filter((r) => r.name === "pf-storage-minio")).toHaveLength(0);
    expect(countsUnder(m, "pf")["kubernetes:helm.sh/v3:Release"]).toBe(5); // cert-manager, CNPG, Lakekeeper, Trino, ClickHouse
    expect(m.named("pf-postgres-cluster").inputs.spec.backup.barmanObjectStore).toMatchObject({
      destinationPath: "s3://corp-lake/backups",
      endpointURL: "https://s3.corp",
    });
    expect(m.named("pf-query-trino").inputs.values.catalogs.floe).toContain("s3.endpoint=https://s3.corp");
    expect(JSON.parse(m.named("pf-cdc-primary-config").inputs.stringData["config.json"]).storage).toMatchObject({
      endpoint: "https://s3.corp",
      secretAccessKey: "corp-secret-key-1",
    });
    expect(m.secretLeaks(["corp-secret-key-1"])).toEqual([]);
  });

  test("aws: an existing bucket is used as is; IAM is scoped to it", async () => {
    const { p } = await synth("pg2", { target: "aws", storage: { aws: { existingBucketName: "corp-lake" } } });
    expect(m.ofType("aws:s3/bucket:Bucket").filter((r) => r.name.startsWith("pg2-"))).toHaveLength(0);
    expect(await valueOf(p.warehouseLocation)).toBe("s3://corp-lake/warehouse");
    expect(JSON.parse(m.named("pg2-cdc-bucket").inputs.policy).Statement[1].Resource).toEqual(["arn:aws:s3:::corp-lake/*"]);
    expect(JSON.stringify(JSON.parse(m.named("pg2-catalog-access").inputs.policy))).toContain("arn:aws:s3:::corp-lake/warehouse/*");
  });
});
