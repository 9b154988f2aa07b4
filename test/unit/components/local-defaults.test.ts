// Every piece on the local target (the default) under mocks, with its defaults: what it creates,
// what it outputs, and that the outputs wire into the next piece the way DataPlatform wires them.
import * as pulumi from "@pulumi/pulumi";
import type { FloeMocks } from "../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "./helpers";
import { PostgresCluster } from "../../../components/postgres/postgresCluster";
import { ObjectStorage } from "../../../components/storage/objectStorage";
import { IcebergCatalog } from "../../../components/catalog/icebergCatalog";
import { QueryEngines } from "../../../components/query/queryEngines";
import { CdcWriter } from "../../../components/cdc/cdcWriter";
import { Pooler } from "../../../components/pooler/pooler";
import { DatabaseBranch } from "../../../components/branch/databaseBranch";
import { parseCdcConfig } from "../../../runtime/cdc/config";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

const SERVER = "pulumi-nodejs:dynamic/floe:LocalPostgresServer";

describe("every piece with its defaults on the local target", () => {
  test("PostgresCluster: one server under .floe-<stack>/<name>, its own roles, a secret connection string", async () => {
    const db = new PostgresCluster("db", {});
    await m.settled(db.connectionString, db.sources);
    expect(countsUnder(m, "db")).toEqual({ [SERVER]: 1 });
    const server = only(m, SERVER, "db");
    expect(server.name).toBe("db-0");
    expect(server.inputs.dataDir).toBe(`${process.cwd()}/.floe-test/db/postgres-0`);
    expect(server.inputs).toMatchObject({ major: 16, database: "app", appUsername: "app", replicationUsername: "floe_replication", publication: "floe" });
    expect(db.engine).toBe("local");
    const port = await valueOf(db.port);
    expect(await valueOf(db.sources)).toEqual([{ name: "shard-0", host: "127.0.0.1", port }]);
    expect(await valueOf(db.roles!.appUsername)).toBe("app");
    expect(await isSecret(db.connectionString)).toBe(true);
    expect(await valueOf(db.connectionString)).toMatch(new RegExp(`^postgresql://app:[^@]+@127\\.0\\.0\\.1:${port}/app\\?sslmode=disable$`));
    expect(m.secretLeaks()).toEqual([]);
  });

  test("PostgresCluster: shards share shard 0's passwords; the catalog's database lives on shard 0", async () => {
    const db = new PostgresCluster("sh", { shards: 3, version: 17, roles: { extraDatabases: ["floe_catalog"] }, local: { dataDir: "/var/floe" } });
    await m.settled(db.sources);
    const servers = m
      .ofType(SERVER)
      .filter((r) => r.name.startsWith("sh-"))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(servers.map((s) => [s.name, s.inputs.dataDir, s.inputs.major, s.inputs.extraDatabases])).toEqual([
      ["sh-0", "/var/floe/postgres-0", 17, ["floe_catalog"]],
      ["sh-1", "/var/floe/postgres-1", 17, []],
      ["sh-2", "/var/floe/postgres-2", 17, []],
    ]);
    expect(servers[0].inputs.passwords).toBeUndefined();
    expect(servers[1].inputs.passwords).toEqual(servers[2].inputs.passwords);
    expect((await valueOf(db.sources))!.map((s) => s.name)).toEqual(["shard-0", "shard-1", "shard-2"]);
    expect(Object.keys((await valueOf(db.roles!.extraDatabases))!)).toEqual(["floe_catalog"]);
  });

  test("the local target refuses what it cannot do, naming the input", () => {
    expect(() => new PostgresCluster("bad1", { roles: { manage: false } })).toThrow(
      'PostgresCluster "bad1": roles.manage = false cannot be false on target "local"',
    );
    expect(() => new PostgresCluster("bad2", { kubernetes: {} })).toThrow('kubernetes = "{…}" is set but target is "local"');
    expect(() => new PostgresCluster("bad3", { local: { dataDir: "rel" } })).toThrow("local.dataDir");
    expect(() => new QueryEngines("bad4", { catalog: { uri: "x", warehouse: "w" }, storage: { bucket: "b" }, trino: true })).toThrow(
      'trino = true is not available on target "local"',
    );
    expect(() => new IcebergCatalog("bad5", { storage: { bucket: "b" } })).toThrow('local = undefined is required when target is "local"');
    expect(() => new Pooler("bad6", {})).toThrow('local = undefined is required when target is "local"');
  });

  test("ObjectStorage, IcebergCatalog, QueryEngines, CdcWriter and Pooler wired like the platform wires them", async () => {
    const db = new PostgresCluster("lk-postgres", { roles: { extraDatabases: ["floe_catalog"] }, local: { dataDir: "/lk" } });
    const storage = new ObjectStorage("lk-storage", { local: { path: "/lk" } });
    const catalogUri = pulumi.interpolate`postgresql://${db.adminUsername}:${db.adminPassword}@127.0.0.1:${db.port}/floe_catalog`;
    const catalog = new IcebergCatalog("lk-catalog", {
      storage: { bucket: storage.bucket, warehouseLocation: storage.warehouseLocation },
      local: { uri: catalogUri },
    });
    const query = new QueryEngines("lk-query", { catalog: { uri: catalog.uri, warehouse: catalog.warehouse }, storage: { bucket: storage.bucket } });
    const cdc = new CdcWriter("lk-cdc", {
      sources: [{ name: "shard-0", host: "127.0.0.1", port: db.port, origin: "none" }],
      database: db.database,
      replicationUsername: db.roles!.replicationUsername,
      replicationPassword: db.roles!.replicationPassword,
      catalog: { type: "sql", uri: catalog.uri },
      warehouseLocation: storage.warehouseLocation,
      tables: [{ source: "public.orders" }],
      local: { dir: "/lk/cdc" },
    });
    const pooler = new Pooler("lk-pooler", {
      local: {
        dir: "/lk/pgbouncer",
        databases: [{ name: "app", host: "127.0.0.1", port: db.port, dbname: "app" }],
        users: [{ name: db.adminUsername, password: db.adminPassword }],
        adminUsers: ["postgres"],
      },
    });
    await m.settled(catalog.uri, query.trinoEndpoint, cdc.healthUrl, pooler.adminUrl);

    expect(await valueOf(storage.warehouseLocation)).toBe("file:///lk/warehouse");
    expect(countsUnder(m, "lk-query")).toEqual({});
    expect(catalog.type).toBe("sql");
    expect(await isSecret(catalog.uri)).toBe(true);
    expect(only(m, "pulumi-nodejs:dynamic/floe:LocalSqlCatalog", "lk-catalog").inputs).toMatchObject({
      name: "floe",
      namespace: "floe",
      warehouse: "file:///lk/warehouse",
    });

    const writer = only(m, "pulumi-nodejs:dynamic/floe:LocalCdcWriter", "lk-cdc");
    expect(writer.inputs.dir).toBe("/lk/cdc");
    const cfg = parseCdcConfig(writer.inputs.config);
    expect(cfg.sources.map((s) => [s.name, s.origin, s.publication])).toEqual([["shard-0", "none", "floe"]]);
    expect(cfg.catalog).toMatchObject({ type: "sql", name: "floe" });
    expect(cfg.warehouse).toBe("file:///lk/warehouse");
    expect(cfg.commit.intervalMs).toBe(500); // the runtime's default
    expect(cfg.http).toEqual({ host: "127.0.0.1", port: 0 });
    expect(await valueOf(cdc.healthUrl)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const bouncer = only(m, "pulumi-nodejs:dynamic/floe:LocalPgBouncer", "lk-pooler");
    expect(bouncer.inputs).toMatchObject({
      dir: "/lk/pgbouncer",
      poolMode: "transaction",
      maxClientConnections: 1000,
      defaultPoolSize: 20,
      adminUsers: ["postgres"],
    });
    expect(await valueOf(pooler.configDir)).toBe("/lk/pgbouncer");
    expect(await isSecret(pooler.adminUrl)).toBe(true);
    expect(await valueOf(pooler.adminUrl)).toMatch(new RegExp(`^postgresql://postgres:[^@]+@127\\.0\\.0\\.1:${await valueOf(pooler.port)}/pgbouncer$`));
    expect(m.secretLeaks()).toEqual([]);
  });

  test("DatabaseBranch: a database on the parent's server (the parent's URL is required)", async () => {
    const b = new DatabaseBranch("try-it", { local: { parentUrl: "postgresql://postgres:pw@127.0.0.1:5432/app" } });
    await m.settled(b.connectionString);
    expect(only(m, "pulumi-nodejs:dynamic/floe:LocalDatabaseBranch", "try-it").inputs).toMatchObject({ branchName: "try_it", timeoutSeconds: 30 });
    expect(() => new DatabaseBranch("nope", {})).toThrow('local = undefined is required when target is "local"');
  });
});
