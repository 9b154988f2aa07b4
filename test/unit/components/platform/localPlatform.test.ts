import * as pulumi from "@pulumi/pulumi";

const created: { type: string; name: string; inputs: any }[] = [];
void pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      created.push({ type: a.type, name: a.name, inputs: a.inputs });
      const state: Record<string, unknown> = { ...a.inputs };
      if (a.type.includes("LocalPostgresServer"))
        Object.assign(state, { port: 55432, pid: 1, adminUsername: "postgres", adminPassword: "a", appPassword: "b", replicationPassword: "c" });
      if (a.type.includes("LocalPgBouncer")) Object.assign(state, { port: 56432, pid: 2 });
      if (a.type.includes("LocalDirectory")) Object.assign(state, { location: "file://" + a.inputs.path });
      if (a.type.includes("LocalCdcWriter")) Object.assign(state, { pid: 3, httpPort: 59187, logFile: "/x/cdc/cdc.log" });
      return { id: `${a.name}-id`, state };
    },
    call: () => ({}),
  },
  "floe-local",
  "test",
  false,
);

import { LocalPlatform } from "../../../../components/platform/localPlatform";
import { DataPlatform } from "../../../../components/platform/dataPlatform";

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

describe("LocalPlatform", () => {
  beforeEach(() => created.splice(0));

  it("creates one Postgres per shard, a pooler, the warehouse, the SQL catalog and the writer, nothing from k8s or aws", async () => {
    const p = new LocalPlatform("floe", { dataDir: "/var/floe", postgres: { shards: 2 }, cdc: { tables: [{ source: "public.orders" }] } });
    await value(p.cdcHealthUrl);
    const types = created.map((c) => c.type.split(":").pop());
    expect(types.sort()).toEqual(
      [
        ...["LocalPlatform", "PostgresCluster", "ObjectStorage", "IcebergCatalog", "QueryEngines", "CdcWriter", "Pooler"],
        ...["LocalDirectory", "LocalDirectory", "LocalPostgresServer", "LocalPostgresServer", "LocalPgBouncer", "LocalSqlCatalog", "LocalCdcWriter"],
      ].sort(),
    );
    expect(created.some((c) => /kubernetes|aws|random|postgresql:/.test(c.type))).toBe(false);
    const shards = created.filter((c) => c.type.endsWith("LocalPostgresServer")).sort((a, b) => a.name.localeCompare(b.name));
    expect(shards.map((s) => s.inputs.dataDir)).toEqual(["/var/floe/postgres-0", "/var/floe/postgres-1"]);
    expect(shards[0].inputs.extraDatabases).toEqual(["floe_catalog"]);
    const pooler = created.find((c) => c.type.endsWith("LocalPgBouncer"))!;
    expect(pooler.inputs.databases.map((d: any) => d.name)).toEqual(["app", "app_shard0", "app_shard1"]);
    const cdc = created.find((c) => c.type.endsWith("LocalCdcWriter"))!;
    expect(cdc.inputs.config["4dabf18193072939515e22adb298388d"]).toBe("1b47061264138c4ac30d75fd1eb44270"); // a secret
    cdc.inputs.config = cdc.inputs.config.value;
    expect(cdc.inputs.config.sources.map((s: any) => s.name)).toEqual(["shard-0", "shard-1"]);
    expect(cdc.inputs.config.catalog).toMatchObject({ type: "sql", name: "floe" });
    expect(cdc.inputs.config.warehouse).toBe("file:///var/floe/warehouse");
    expect(cdc.inputs.config.tables).toEqual([{ source: "public.orders" }]); // mode: the runtime default (mirror)
    expect(cdc.inputs.config.commit).toBeUndefined(); // the runtime default (runtime/cdc/config.ts)
    expect(await value(p.poolerEndpoint)).toBe("127.0.0.1:56432");
  });

  it("keeps connection strings secret", async () => {
    const p = new LocalPlatform("floe", { dataDir: "/var/floe" });
    expect(await pulumi.isSecret(p.connectionString)).toBe(true);
    expect(await pulumi.isSecret(p.catalogUri)).toBe(true);
    expect(await value(p.connectionString)).toBe("postgresql://app:b@127.0.0.1:56432/app");
  });

  it("refuses a relative dataDir and a bad shard count, naming the input", () => {
    expect(() => new LocalPlatform("bad", { dataDir: "rel/dir" })).toThrow(/dataDir/);
    expect(() => new LocalPlatform("bad2", { dataDir: "/x", postgres: { shards: 0 } })).toThrow(/postgres\.shards/);
  });
});

describe("localPlatformArgs (DataPlatform with target local)", () => {
  it("carries the shared settings over and resolves the data directory", () => {
    const { localPlatformArgs } = require("../../../../components/platform/local");
    const a = localPlatformArgs(
      {
        target: "local",
        postgres: { version: 17, shards: 2, database: "shop", roles: { publication: "pub" } },
        pooler: { poolMode: "session" },
        catalog: { namespace: "lake" },
        cdc: { tables: [{ source: "public.orders" }], commitIntervalMs: 250 },
      },
      "/var/floe",
    );
    expect(a).toMatchObject({
      dataDir: "/var/floe",
      postgres: { version: 17, shards: 2, database: "shop", publication: "pub" },
      pooler: { poolMode: "session" },
      namespace: "lake",
      cdc: { tables: [{ source: "public.orders" }], commitIntervalMs: 250 },
    });
    expect(localPlatformArgs({}).dataDir).toMatch(/\/\.floe-test$/);
  });
});

describe("DataPlatform with target local (the default)", () => {
  beforeEach(() => created.splice(0));

  it("composes the pieces' local builders from the same typed config, with the same outputs", async () => {
    const p = new DataPlatform("lake", { postgres: { shards: 2, version: 17 }, cdc: { tables: [{ source: "public.orders" }] } });
    expect(p.target).toBe("local");
    expect(p.postgres.engine).toBe("local");
    await value(p.cdc.healthUrl);
    expect(await value(p.poolerEndpoint)).toBe("127.0.0.1:56432");
    expect(await value(p.warehouseLocation)).toMatch(/^file:\/\/\/.+\/warehouse$/);
    const types = created.map((c) => c.type.split(":").pop()).sort();
    expect(types).toEqual(
      [
        "DataPlatform",
        "PostgresCluster",
        "ObjectStorage",
        "IcebergCatalog",
        "QueryEngines",
        "CdcWriter",
        "Pooler",
        "LocalDirectory",
        "LocalDirectory",
        "LocalPostgresServer",
        "LocalPostgresServer",
        "LocalPgBouncer",
        "LocalSqlCatalog",
        "LocalCdcWriter",
      ].sort(),
    );
    const shard = created.find((c) => c.type.endsWith("LocalPostgresServer"))!;
    expect(shard.inputs.major).toBe(17);
    const writer = created.find((c) => c.type.endsWith("LocalCdcWriter"))!;
    expect(JSON.stringify(writer.inputs)).toContain("public.orders");
  });
});

describe("the local processes keep their names and parents from before the pieces (aliases)", () => {
  const { legacyName } = require("../../../../components/platform/local");
  const asLocalPlatform = { parent: "urn:…LocalPlatform::floe", base: "floe" };
  const asDataPlatform = { parent: "urn:…DataPlatform$floe:index:LocalPlatform::lake-local", base: "lake-local" };

  it.each([
    ["floe-postgres-1", "floe", asLocalPlatform, "floe-postgres-1"],
    ["floe-pooler-pgbouncer", "floe", asLocalPlatform, "floe-pooler"],
    ["floe-storage-warehouse", "floe", asLocalPlatform, "floe-warehouse"],
    ["floe-catalog-sql", "floe", asLocalPlatform, "floe-catalog"],
    ["floe-cdc-writer", "floe", asLocalPlatform, "floe-cdc"],
    ["floe-upgrade-1-green", "floe", asLocalPlatform, "floe-postgres-1-v17"],
    ["floe-upgrade-1-run", "floe", asLocalPlatform, "floe-upgrade-1"],
    ["lake-postgres-0", "lake", asDataPlatform, "lake-local-postgres-0"],
    ["lake-root", "lake", asDataPlatform, "lake-local-root"],
    ["lake-pooler-pgbouncer", "lake", asDataPlatform, "lake-local-pooler"],
    ["lake-something-else", "lake", asDataPlatform, undefined],
  ])("%s (platform %s) was %s", (name, base, legacy, old) => {
    expect(legacyName(name, base, legacy, 17)).toBe(old);
  });
});
