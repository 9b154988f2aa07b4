// The local target's blue/green upgrade setting under mocks: which resources it adds, how they are
// wired (green passwords, pooler entries following each cutover, the CDC slot), what it refuses and
// with which message; and the pure guards (major change, pooler repoint back to blue, alias groups).
import * as pulumi from "@pulumi/pulumi";

const created: { type: string; name: string; inputs: any }[] = [];
void pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      created.push({ type: a.type, name: a.name, inputs: a.inputs });
      const state: Record<string, unknown> = { ...a.inputs };
      if (a.type.includes("LocalPostgresServer")) {
        const green = /-v\d+$|-green$/.test(a.name);
        Object.assign(state, {
          port: green ? 57000 + Number(/(?:postgres|upgrade)-(\d+)/.exec(a.name)?.[1] ?? 9) : 55432,
          pid: 1,
          adminUsername: "postgres",
          adminPassword: "a",
          appPassword: "b",
          replicationPassword: "c",
        });
      }
      if (a.type.includes("LocalPgBouncer")) Object.assign(state, { port: 56432, pid: 2 });
      if (a.type.includes("LocalDirectory")) Object.assign(state, { location: "file://" + a.inputs.path });
      if (a.type.includes("LocalCdcWriter")) Object.assign(state, { pid: 3, httpPort: 59187, logFile: "/x/cdc/cdc.log" });
      if (a.type.includes("LocalUpgrade")) {
        const green = JSON.parse(JSON.stringify(a.inputs.greenUrl)).value ?? a.inputs.greenUrl;
        const port = Number(/:(\d+)\/app$/.exec(String(green))?.[1] ?? 0);
        Object.assign(state, {
          phase: "upgraded",
          poolerTarget: { host: "127.0.0.1", port, dbname: "app" },
          rollbackCommand: "floe upgrade rollback --blue postgresql://postgres:a@…",
          lastCutover: "{}",
          logFile: "/x.log",
        });
      }
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
import { BlueGreenUpgrade } from "../../../../components/upgrade/blueGreenUpgrade";
import { localPostgresServerProvider, majorChangeError } from "../../../../components/postgres/localServer";
import { localPgBouncerProvider, upgradeGuard } from "../../../../components/pooler/localPgBouncer";
import { GroupedPoolerControl, PoolerControl } from "../../../../runtime/upgrade/pooler";
import { localUpgradeProvider } from "../../../../components/upgrade/localUpgrade";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
const unsecret = (x: any) => (x && typeof x === "object" && "value" in x && Object.keys(x).length <= 2 ? x.value : x);

describe("LocalPlatform with upgrade", () => {
  beforeEach(() => created.splice(0));

  it("adds a green server and a cutover per shard, nothing else; blue stays as it was", async () => {
    const p = new LocalPlatform("floe", { dataDir: "/var/floe", postgres: { shards: 2 }, upgrade: { toVersion: 17, budgetMs: 2500 } });
    await value(p.poolerEndpoint);
    await value(p.upgradeStatePaths);
    const count = (t: string) => created.filter((c) => c.type.endsWith(t)).length;
    expect({
      servers: count("LocalPostgresServer"),
      upgrades: count("LocalUpgrade"),
      poolers: count("LocalPgBouncer"),
      writers: count("LocalCdcWriter"),
    }).toEqual({ servers: 4, upgrades: 2, poolers: 1, writers: 1 });
    // names: blue is the PostgresCluster's, green and the cutover each shard's BlueGreenUpgrade's
    // (aliased to the names LocalPlatform gave them before: floe-postgres-0-v17, floe-upgrade-0)
    const servers = created.filter((c) => c.type.endsWith("LocalPostgresServer")).sort((a, b) => a.inputs.dataDir.localeCompare(b.inputs.dataDir));
    expect(servers.map((s) => [s.name, s.inputs.major, s.inputs.dataDir])).toEqual([
      ["floe-postgres-0", 16, "/var/floe/postgres-0"],
      ["floe-upgrade-0-green", 17, "/var/floe/postgres-0-v17"],
      ["floe-postgres-1", 16, "/var/floe/postgres-1"],
      ["floe-upgrade-1-green", 17, "/var/floe/postgres-1-v17"],
    ]);
    // green reuses blue's passwords (clients, pgBouncer's user list and the writer keep theirs), secret
    const g0 = servers[1];
    expect(g0.inputs.passwords["4dabf18193072939515e22adb298388d"]).toBe("1b47061264138c4ac30d75fd1eb44270");
    expect(unsecret(g0.inputs.passwords)).toEqual({ admin: "a", app: "b", replication: "c" });
    expect(g0.inputs.requestedPort).toBe(0);

    const ups = created.filter((c) => c.type.endsWith("LocalUpgrade")).sort((a, b) => a.name.localeCompare(b.name));
    expect(ups.map((u) => [u.name, u.inputs.poolerDatabase, u.inputs.poolerAliases, u.inputs.statePath, u.inputs.budgetMs, u.inputs.cdc])).toEqual([
      ["floe-upgrade-0-run", "app", ["app_shard0"], "/var/floe/upgrade/shard-0-to-17.json", 2500, { publication: "floe", slot: "floe_shard_0" }],
      ["floe-upgrade-1-run", "app_shard1", [], "/var/floe/upgrade/shard-1-to-17.json", 2500, { publication: "floe", slot: "floe_shard_1" }],
    ]);
    expect(ups[0].inputs.poolerDir).toBe("/var/floe/pgbouncer");
    expect(unsecret(ups[0].inputs.blueUrl)).toBe("postgresql://postgres:a@127.0.0.1:55432/app");
    expect(unsecret(ups[1].inputs.greenUrl)).toBe("postgresql://postgres:a@127.0.0.1:57001/app");
    for (const k of ["blueUrl", "greenUrl", "poolerAdmin"]) expect(ups[0].inputs[k]["4dabf18193072939515e22adb298388d"]).toBeDefined();

    // the pooler's entries follow each shard's cutover (the LocalUpgrade output), shard 0's alias too
    const pooler = created.find((c) => c.type.endsWith("LocalPgBouncer"))!;
    expect(pooler.inputs.databases.map((d: any) => [d.name, d.port])).toEqual([
      ["app", 57000],
      ["app_shard0", 57000],
      ["app_shard1", 57001],
    ]);
    // the writer reads with origin none (what replication applied is not read twice)
    const cdc = created.find((c) => c.type.endsWith("LocalCdcWriter"))!;
    expect(unsecret(cdc.inputs.config).sources.map((s: any) => [s.name, s.origin])).toEqual([
      ["shard-0", "none"],
      ["shard-1", "none"],
    ]);
    expect(await value(p.upgradeStatePaths)).toEqual(["/var/floe/upgrade/shard-0-to-17.json", "/var/floe/upgrade/shard-1-to-17.json"]);
    expect(await pulumi.isSecret(p.upgradeRollbackCommands)).toBe(true);
    expect(await value(p.adminConnectionString)).toBe("postgresql://postgres:a@127.0.0.1:57000/app"); // shard 0 where the pooler sends it
  });

  it("retireBlue: blue is kept as a retired record, the catalog and the writer move to green, blue's processes go after the writer", async () => {
    const p = new LocalPlatform("floe", { dataDir: "/var/floe", postgres: { shards: 2 }, upgrade: { toVersion: 17, retireBlue: true } });
    await value(p.catalogUri);
    await value(p.cdcHealthUrl);
    const servers = created.filter((c) => c.type.endsWith("LocalPostgresServer")).sort((a, b) => a.inputs.dataDir.localeCompare(b.inputs.dataDir));
    expect(servers.map((s) => [s.name, s.inputs.retired ?? false, s.inputs.extraDatabases])).toEqual([
      ["floe-postgres-0", true, ["floe_catalog"]],
      ["floe-upgrade-0-green", false, ["floe_catalog"]],
      ["floe-postgres-1", true, []],
      ["floe-upgrade-1-green", false, []],
    ]);
    expect(created.filter((c) => c.type.endsWith("LocalUpgrade")).map((u) => u.inputs.retireBlue)).toEqual([true, true]);
    const retired = created.filter((c) => c.type.endsWith("LocalRetiredServers"));
    expect(retired.map((r) => [r.name, r.inputs.servers, r.inputs.statePaths])).toEqual([
      [
        "floe-retired-blue",
        [
          { dataDir: "/var/floe/postgres-0", major: 16 },
          { dataDir: "/var/floe/postgres-1", major: 16 },
        ],
        ["/var/floe/upgrade/shard-0-to-17.json", "/var/floe/upgrade/shard-1-to-17.json"],
      ],
    ]);
    expect(await value(p.catalogUri)).toBe("postgresql://postgres:a@127.0.0.1:57000/floe_catalog");
    const cdc = created.find((c) => c.type.endsWith("LocalCdcWriter"))!;
    expect(unsecret(cdc.inputs.config).sources.map((s: any) => s.connectionString)).toEqual([
      "postgresql://floe_replication:c@127.0.0.1:57000/app",
      "postgresql://floe_replication:c@127.0.0.1:57001/app",
    ]);
    expect(unsecret(cdc.inputs.config).catalog.uri).toBe("postgresql://postgres:a@127.0.0.1:57000/floe_catalog");
  });

  it("without upgrade: no green server, no cutover, the pooler on blue", async () => {
    const p = new LocalPlatform("floe", { dataDir: "/var/floe" });
    await value(p.poolerEndpoint);
    expect(created.filter((c) => /LocalUpgrade|BlueGreenUpgrade|-green$/.test(c.type + c.name))).toEqual([]);
    expect(created.find((c) => c.type.endsWith("LocalPgBouncer"))!.inputs.databases.map((d: any) => d.port)).toEqual([55432, 55432]);
    expect(await value(p.upgradeStatePaths)).toEqual([]);
  });

  it.each([
    [
      { postgres: { version: 16 }, upgrade: { toVersion: 16 } },
      'LocalPlatform "bad": upgrade.toVersion = 16 is not newer than postgres.version (16). Fix: keep postgres.version at the running major and set upgrade.toVersion above it, e.g. 17',
    ],
    [{ upgrade: { toVersion: 19 } }, "upgrade.toVersion = 19 is not a Postgres major floe supports (14 to 18)"],
    [{ postgres: { version: 15 }, upgrade: { toVersion: 17 } }, "postgres.version = 15 is older than 16: the CDC writer cannot follow the cutover"],
    [{ upgrade: { toVersion: 17, budgetMs: -1 } }, "upgrade.budgetMs = -1 is not an integer between 0 and 600000"],
  ])("refuses %j", (extra, message) => {
    expect(() => new LocalPlatform("bad", { dataDir: "/var/floe", ...(extra as any) })).toThrow(message);
  });

  it("DataPlatform (local) carries upgrade over to the same local composition", async () => {
    const p = new DataPlatform("dp", { upgrade: { toVersion: 17, budgetMs: 3000 } });
    await value(p.upgradeStatePaths);
    const u = created.find((c) => c.type.endsWith("LocalUpgrade"))!;
    expect([u.name, u.inputs.budgetMs]).toEqual(["dp-upgrade-0-run", 3000]);
    expect((await value(p.upgradeStatePaths))[0]).toMatch(/\.floe-test\/upgrade\/shard-0-to-17\.json$/);
  });
});

describe("BlueGreenUpgrade with target local (a hand-composed local stack)", () => {
  beforeEach(() => created.splice(0));

  it("builds a green LocalPostgresServer and a LocalUpgrade on the given pooler", async () => {
    const u = new BlueGreenUpgrade("bgl", {
      target: "local",
      toVersion: 17,
      blueUrl: "postgresql://postgres:pw@127.0.0.1:5432/app",
      poolerAdminUrl: "postgresql://postgres:pw@127.0.0.1:6432/pgbouncer",
      cdc: { publication: "floe", slot: "floe_shard_0" },
      local: {
        dataDir: "/srv/floe",
        poolerDir: "/srv/floe/pgbouncer",
        poolerAliases: ["app_shard0"],
        passwords: { admin: "pw", app: "ap", replication: "rp" },
      },
    });
    await value(u.poolerPort);
    expect(
      created
        .filter((c) => c.name.startsWith("bgl"))
        .map((c) => c.type.split(":").pop())
        .sort(),
    ).toEqual(["BlueGreenUpgrade", "LocalPostgresServer", "LocalUpgrade"].sort());
    const green = created.find((c) => c.type.endsWith("LocalPostgresServer"))!;
    expect([green.name, green.inputs.major, green.inputs.dataDir]).toEqual(["bgl-green", 17, "/srv/floe/green-17"]);
    const run = created.find((c) => c.type.endsWith("LocalUpgrade"))!;
    expect(unsecret(run.inputs.poolerAdmin)).toEqual({ user: "postgres", password: "pw" });
    expect([run.inputs.poolerDatabase, run.inputs.poolerAliases, run.inputs.statePath, run.inputs.cdc]).toEqual([
      "app",
      ["app_shard0"],
      "/srv/floe/upgrade-to-17.json",
      { publication: "floe", slot: "floe_shard_0" },
    ]);
    expect(await value(u.statePath)).toBe("/srv/floe/upgrade-to-17.json");
    expect(await value(u.greenHost)).toBe("127.0.0.1");
  });

  it.each([
    [{}, 'local = undefined is required when target is "local"'],
    [{ local: { dataDir: "rel", poolerDir: "/p", passwords: { admin: "a", app: "b", replication: "c" } } }, 'local.dataDir = "rel" must be an absolute path'],
    [{ toVersion: 16, local: { dataDir: "/d", poolerDir: "/p", passwords: { admin: "a", app: "b", replication: "c" } } }, "toVersion = 16 is older than 17"],
    [
      { kubernetes: { poolerConfigClaim: "c" }, local: { dataDir: "/d", poolerDir: "/p", passwords: { admin: "a", app: "b", replication: "c" } } },
      'kubernetes = "{…}" is set but target is "local"',
    ],
  ])("refuses %j", (extra, message) => {
    expect(
      () =>
        new BlueGreenUpgrade("bgv", {
          target: "local",
          toVersion: 17,
          blueUrl: "postgresql://x",
          poolerAdminUrl: "postgresql://u:p@h:1/pgbouncer",
          ...(extra as any),
        }),
    ).toThrow(message);
  });
});

describe("a major version change of a local server", () => {
  it("is refused by check with what to set instead, never planned as a replacement", async () => {
    const olds = { dataDir: "/var/floe/postgres-0", major: 16 } as any;
    const r = await localPostgresServerProvider.check!(olds, { ...olds, major: 17 });
    expect(r.failures).toEqual([{ property: "major", reason: majorChangeError("/var/floe/postgres-0", 16, 17) }]);
    expect(r.failures![0].reason).toMatch(
      /holds data at major 16; changing its version to 17 would re-create it empty .* keep postgres.version: 16 and set upgrade: \{ toVersion: 17 \}/,
    );
    expect((await localPostgresServerProvider.check!({} as any, { ...olds, major: 17 })).failures).toBeUndefined(); // a new server
    expect((await localPostgresServerProvider.check!(olds, { ...olds })).failures).toBeUndefined();
    const d = await localPostgresServerProvider.diff!(
      "id",
      { ...olds, requestedPort: 0, port: 1, settings: {} } as any,
      { ...olds, requestedPort: 0, major: 17, settings: {} } as any,
    );
    expect(d.replaces).toEqual([]);
  });
});

describe("pgBouncer after a cutover", () => {
  const marker = { statePath: "/s/shard-0.json", entries: ["app", "app_shard0"], green: { port: 7001 }, blue: { port: 5001 } };
  it("refuses a config that repoints an upgraded entry back to blue, and allows it once rolled back", () => {
    const back = [
      { name: "app", port: 5001 },
      { name: "app_shard0", port: 5001 },
    ];
    expect(upgradeGuard(back, [marker], () => true)).toMatch(
      /pgBouncer entry "app" is served by green \(port 7001\) .* from the stack output upgradeRollbackCommands/,
    );
    expect(upgradeGuard(back, [marker], () => false)).toBeUndefined();
    expect(
      upgradeGuard(
        [
          { name: "app", port: 7001 },
          { name: "app_shard0", port: 7001 },
        ],
        [marker],
        () => true,
      ),
    ).toBeUndefined();
    expect(upgradeGuard([{ name: "app", port: "unknown-in-preview" }], [marker], () => true)).toBeUndefined();
    expect(upgradeGuard([{ name: "other", port: 5001 }], [marker], () => true)).toBeUndefined();
  });

  it("check reads the markers next to pgbouncer.ini", async () => {
    const dir = mkdtempSync(join(tmpdir(), "floe-guard-"));
    writeFileSync(join(dir, "state.json"), JSON.stringify({ phase: "upgraded" }));
    writeFileSync(join(dir, "floe-upgrade-app.json"), JSON.stringify({ ...marker, statePath: join(dir, "state.json") }));
    const r = await localPgBouncerProvider.check!({} as any, { dir, databases: [{ name: "app", host: "127.0.0.1", port: 5001 }] } as any);
    expect(r.failures?.[0].property).toBe("databases");
    const ok = await localPgBouncerProvider.check!({} as any, { dir, databases: [{ name: "app", host: "127.0.0.1", port: 7001 }] } as any);
    expect(ok.failures).toBeUndefined();
  });
});

describe("LocalUpgrade", () => {
  it("refuses another toVersion (another state file) while the green it made serves; allows it after a rollback", async () => {
    const dir = mkdtempSync(join(tmpdir(), "floe-upg-"));
    const statePath = join(dir, "shard-0-to-17.json");
    const olds = { statePath } as any;
    const news = { statePath: join(dir, "shard-0-to-18.json") } as any;
    writeFileSync(statePath, JSON.stringify({ phase: "upgraded" }));
    const r = await localUpgradeProvider.check!(olds, news);
    expect(r.failures?.[0].reason).toMatch(/made its green the primary; changing upgrade.toVersion would delete that server with its data/);
    writeFileSync(statePath, JSON.stringify({ phase: "cleaned", lastCutover: { kind: "cutover" } }));
    expect((await localUpgradeProvider.check!(olds, news)).failures).toHaveLength(1);
    writeFileSync(statePath, JSON.stringify({ phase: "rolled-back", lastCutover: { kind: "rollback" } }));
    expect((await localUpgradeProvider.check!(olds, news)).failures).toBeUndefined();
    expect((await localUpgradeProvider.check!({} as any, news)).failures).toBeUndefined();
  });
});

describe("LocalUpgrade create refuses what it cannot upgrade safely", () => {
  const base = (dir: string) => ({
    blueUrl: "postgresql://postgres:a@127.0.0.1:1/app",
    greenUrl: "postgresql://postgres:a@127.0.0.1:2/app",
    poolerDir: join(dir, "pgbouncer"),
    poolerAdmin: { user: "postgres", password: "a" },
    poolerDatabase: "app",
    poolerAliases: [],
    statePath: join(dir, "upgrade", "shard-0-to-17.json"),
    budgetMs: 1000,
    retireBlue: false,
  });

  it("a platform that is not deployed yet (no pgbouncer.ini): set the version instead", async () => {
    const dir = mkdtempSync(join(tmpdir(), "floe-upg-"));
    await expect(localUpgradeProvider.create!(base(dir) as any)).rejects.toThrow(
      /pgbouncer.ini does not exist: an upgrade moves a running platform. For a new platform, set postgres.version to the new major and remove upgrade/,
    );
  });
});

describe("GroupedPoolerControl", () => {
  function fake(failPause?: string, ports: Record<string, number> = {}) {
    const calls: string[] = [];
    const inner: PoolerControl = {
      pause: async (db) => {
        calls.push(`pause ${db}`);
        if (db === failPause) throw new Error(`PAUSE ${db} timed out`);
      },
      resume: async (db) => void calls.push(`resume ${db}`),
      getQueryWaitTimeout: async () => 120,
      setQueryWaitTimeout: async (s) => void calls.push(`qwt ${s}`),
      target: async (db) => ({ host: "h", port: ports[db] ?? 1, dbname: "app" }),
      repoint: async (db, t) => {
        ports[db] = t.port;
        calls.push(`repoint ${db} ${t.port}`);
      },
      paused: async () => [],
    };
    return { calls, inner };
  }

  it("pauses, repoints and resumes an entry with its aliases; the named entry moves last", async () => {
    const { calls, inner } = fake();
    const g = new GroupedPoolerControl(inner, { app: ["app_shard0"] });
    await g.pause("app", 1000);
    await g.repoint("app", { host: "h", port: 2, dbname: "app" });
    await g.resume("app");
    await g.pause("app_shard1", 1000);
    expect(calls).toEqual(["pause app", "pause app_shard0", "repoint app_shard0 2", "repoint app 2", "resume app", "resume app_shard0", "pause app_shard1"]);
  });

  it("RESUME first points the aliases where the named entry points (a run that stopped half-way through the repoint)", async () => {
    const { calls, inner } = fake(undefined, { app: 1, app_shard0: 2 }); // the alias moved to green, the entry did not
    await new GroupedPoolerControl(inner, { app: ["app_shard0"] }).resume("app");
    expect(calls).toEqual(["repoint app_shard0 1", "resume app", "resume app_shard0"]);
  });

  it("resumes what it paused when an alias cannot be paused", async () => {
    const { calls, inner } = fake("app_shard0");
    await expect(new GroupedPoolerControl(inner, { app: ["app_shard0"] }).pause("app", 10)).rejects.toThrow("PAUSE app_shard0 timed out");
    expect(calls).toEqual(["pause app", "pause app_shard0", "resume app"]);
  });
});
