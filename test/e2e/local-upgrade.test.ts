/**
 * End to end: a zero-downtime major upgrade of the local platform through its config. A real
 * `pulumi up` of examples/local at Postgres 16 with two shards; a direct version change is refused
 * (nothing re-created, no data lost); then `upgradeTo: 17` while clients keep writing through
 * pgBouncer to both shards: no failed transaction, green (17) serves every pooler entry, every row
 * is there, the CDC writer followed green by itself (Iceberg equals Postgres), a second up is a
 * no-op, and destroy leaves no process of blue or green behind.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { Client } from "pg";
import { alive, E2eStack, pollUntil, portFree, query, slotProgress, withClient } from "./stack";

const SHARD_DBS = ["app", "app_shard1"];
/** Each shard hands out its own id range, so both feed one Iceberg table without colliding. */
const ID_START: Record<string, number> = { app: 1, app_shard1: 1_000_000_000 };

let st: E2eStack;

/** Clients inserting one row per transaction through pgBouncer, each on its own connection. */
class Writers {
  readonly acked: Record<string, number[]> = Object.fromEntries(SHARD_DBS.map((d) => [d, []]));
  readonly errors: string[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  constructor(private readonly url: (db: string) => string) {}

  start(perShard: number): void {
    this.running = true;
    for (const db of SHARD_DBS) for (let i = 0; i < perShard; i++) this.loops.push(this.loop(db, i));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(db: string, client: number): Promise<void> {
    const c = new Client({ connectionString: this.url(db) });
    c.on("error", (e) => this.errors.push(`${db} client ${client} connection: ${e.message}`));
    await c.connect();
    let seq = 0;
    try {
      while (this.running) {
        seq++;
        try {
          const r = await c.query("INSERT INTO events (client, seq, note) VALUES ($1, $2, $3) RETURNING id::text", [client, seq, `${db}-${client}-${seq}`]);
          this.acked[db].push(Number(r.rows[0].id));
        } catch (e) {
          this.errors.push(`${db} client ${client} tx ${seq}: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}

const poolerUrl = (db: string) => (st.outputs().connectionString as string).replace(/\/app$/, `/${db}`);

async function rows(url: string): Promise<{ id: number; client: number; seq: number }[]> {
  return withClient(url, async (c) =>
    (await c.query("SELECT id::text AS id, client, seq FROM events ORDER BY events.id")).rows.map((r) => ({ id: Number(r.id), client: r.client, seq: r.seq })),
  );
}

beforeAll(() => {
  st = new E2eStack(`e2e-upgrade-${process.pid}`);
  st.pulumi(["config", "set", "shards", "2"]); // every shard is upgraded: two blue/green pairs
});

afterAll(() => {
  if (!st) return;
  st.dispose();
  process.stdout.write(`e2e upgrade timings (s): ${JSON.stringify(st.timings)}\n`);
});

describe("a local platform upgraded from Postgres 16 to 17 through its config", () => {
  let urls: Record<string, string>;
  let before: { pids: number[] };

  it("comes up at 16 and takes writes on both shards through pgBouncer", async () => {
    st.timed("pulumi up at 16", () => st.pulumi(["up", "--yes", "--skip-preview"]));
    urls = Object.fromEntries(SHARD_DBS.map((d) => [d, poolerUrl(d)]));
    for (const db of SHARD_DBS) {
      await withClient(urls[db], async (c) => {
        await c.query(
          `CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY (START WITH ${ID_START[db]}) PRIMARY KEY, client int NOT NULL, seq int NOT NULL, note text)`,
        );
        await c.query("INSERT INTO events (client, seq, note) SELECT -1, g, 'preload' FROM generate_series(1, 500) g");
        expect((await c.query("SHOW server_version_num")).rows[0].server_version_num).toMatch(/^16/);
      });
    }
    before = st.processes();
  });

  it("refuses a direct version change instead of re-creating the servers empty", async () => {
    st.pulumi(["config", "set", "postgresVersion", "17"]);
    const r = st.pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
    st.pulumi(["config", "set", "postgresVersion", "16"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/holds data at major 16; changing its version to 17 would re-create it empty/);
    expect(r.out).toMatch(/set upgrade: \{ toVersion: 17 \}/);
    expect(r.out).not.toMatch(/\d+ (deleted|replaced)|deleting|replacing/);
    for (const pid of before.pids) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: true });
    for (const db of SHARD_DBS) expect((await rows(urls[db])).length).toBe(500);
    st.pulumi(["preview", "--expect-no-changes"]);
  });

  it("upgrades every shard while clients write through pgBouncer: no failed transaction, green serves, every row is there", async () => {
    const writers = new Writers((db) => urls[db]);
    writers.start(2);
    await new Promise((r) => setTimeout(r, 500));
    st.pulumi(["config", "set", "upgradeTo", "17"]);
    st.pulumi(["config", "set", "upgradeBudgetMs", "5000"]); // correctness here, not speed: a shared 2-core machine
    const t0 = Date.now();
    const countAtStart = SHARD_DBS.map((d) => writers.acked[d].length);
    const r = await st.pulumiAsync(["up", "--yes", "--skip-preview"]);
    st.timings["pulumi up with the upgrade"] = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 500));
    await writers.stop();

    expect(writers.errors).toEqual([]);
    SHARD_DBS.forEach((d, i) => expect(writers.acked[d].length).toBeGreaterThan(countAtStart[i] + 10)); // they wrote during the up
    expect(r.out).toMatch(/\+\s+6 created/); // per shard a BlueGreenUpgrade (component), its green server and its cutover
    expect(r.out).not.toMatch(/\d+ (deleted|replaced)|deleting|replacing/);
    // progress reached the Pulumi log
    expect(r.out).toMatch(/floe upgrade \[app\]: green serves the pooler \(paused \d+ ms/);
    expect(r.out).toMatch(/floe upgrade \[app_shard1\]: green serves the pooler/);

    // green (17) behind every pooler entry, including shard 0's alias
    for (const db of [...SHARD_DBS, "app_shard0"]) {
      const v = await withClient(poolerUrl(db), async (c) => (await c.query("SHOW server_version_num")).rows[0].server_version_num);
      expect({ db, v: v.slice(0, 2) }).toEqual({ db, v: "17" });
    }
    // every acknowledged row, the preload, and nothing else; sequences carried over (a new insert works)
    for (const db of SHARD_DBS) {
      const got = await rows(urls[db]);
      expect(got.filter((x) => x.client === -1).length).toBe(500);
      expect(got.filter((x) => x.client >= 0).map((x) => x.id)).toEqual([...writers.acked[db]].sort((a, b) => a - b));
      await withClient(urls[db], (c) => c.query("INSERT INTO events (client, seq, note) VALUES (99, 1, 'after the upgrade')"));
    }
    const out = st.outputs();
    expect(out.upgradeStatePaths).toHaveLength(2);
    for (const p of out.upgradeStatePaths) expect(JSON.parse(readFileSync(p, "utf8")).phase).toBe("upgraded");
    expect(out.upgradeRollbackCommands[0]).toMatch(/upgrade rollback .*--pooler-db 'app' --pooler-alias 'app_shard0' --state /);
    process.stdout.write(`cutovers: ${out.upgradeStatePaths.map((p: string) => JSON.stringify(JSON.parse(readFileSync(p, "utf8")).lastCutover)).join(" ")}\n`);
    st.timings["rows acknowledged during the up"] = SHARD_DBS.reduce((n, d, i) => n + writers.acked[d].length - countAtStart[i], 0);
  });

  it("the CDC writer followed green by itself: Iceberg equals Postgres", async () => {
    const catalog = st.outputs().catalogUri;
    const pg = async () => [...(await rows(urls.app)), ...(await rows(urls.app_shard1))].sort((a, b) => a.id - b.id);
    const want = await pg();
    const seen = await pollUntil(
      "Iceberg equal to Postgres",
      () =>
        query(catalog, "SELECT id, client, seq FROM floe.events ORDER BY id").map((x) => ({ id: Number(x.id), client: Number(x.client), seq: Number(x.seq) })),
      (got) => JSON.stringify(got) === JSON.stringify(want),
      { progress: slotProgress(urls.app) },
    );
    st.timings["Iceberg caught up after the upgrade"] = seen.ms / 1000;
    expect(seen.value.length).toBe(want.length);
  });

  it("reports no changes on a second pulumi up", () => {
    const r = st.timed("no-op pulumi up", () => st.pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(r.out).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
  });

  it("refuses to drop upgrade from the config while green serves (the pooler would go back to blue without a cutover)", async () => {
    const pids = st.processes().pids;
    st.pulumi(["config", "rm", "upgradeTo"]);
    const r = st.pulumi(["up", "--yes", "--skip-preview"], { allowFail: true });
    st.pulumi(["config", "set", "upgradeTo", "17"]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/pgBouncer entry "app(_shard\d)?" is served by green \(port \d+\)/);
    expect(r.out).toMatch(/upgradeRollbackCommand/);
    expect(r.out).not.toMatch(/\d+ (deleted|replaced)|deleting|replacing/);
    for (const pid of pids) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: true });
    const v = await withClient(urls.app, async (c) => (await c.query("SHOW server_version_num")).rows[0].server_version_num);
    expect(v).toMatch(/^17/);
    st.pulumi(["preview", "--expect-no-changes"]);
  });

  it("rolls back with the rollback command under writes; the next up follows blue, and upgrade can then go", async () => {
    const writers = new Writers((db) => urls[db]);
    writers.start(2);
    await new Promise((r) => setTimeout(r, 300));
    const commands: string[] = st.outputs().upgradeRollbackCommands;
    const t0 = Date.now();
    for (const cmd of commands) {
      const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = require("node:child_process").spawn("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d));
        child.stderr.on("data", (d: Buffer) => (out += d));
        child.on("exit", (code: number | null) => resolve({ code, out }));
      });
      expect({ code: res.code, tail: res.code === 0 ? "" : res.out.slice(-3000) }).toEqual({ code: 0, tail: "" });
      expect(res.out).toMatch(/rolled back: blue is primary/);
    }
    st.timings["rollback of both shards"] = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 300));
    await writers.stop();
    expect(writers.errors).toEqual([]);
    for (const db of [...SHARD_DBS, "app_shard0"]) {
      const v = await withClient(poolerUrl(db), async (c) => (await c.query("SHOW server_version_num")).rows[0].server_version_num);
      expect({ db, v: v.slice(0, 2) }).toEqual({ db, v: "16" });
    }
    for (const db of SHARD_DBS) {
      const ids = (await rows(urls[db])).map((x) => x.id);
      for (const id of writers.acked[db]) if (!ids.includes(id)) throw new Error(`${db}: acknowledged row ${id} missing after the rollback`);
    }
    // the next up notices the rollback: the cutovers' outputs and the pooler's rendered config go back to blue
    const up = st.pulumi(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/3 updated/); // two cutovers, the pooler
    st.pulumi(["preview", "--expect-no-changes"]);
    // the writer followed blue back: Iceberg still equals Postgres
    const catalog = st.outputs().catalogUri;
    const want = [...(await rows(urls.app)), ...(await rows(urls.app_shard1))].sort((a, b) => a.id - b.id);
    await pollUntil(
      "Iceberg equal to Postgres after the rollback",
      () =>
        query(catalog, "SELECT id, client, seq FROM floe.events ORDER BY id").map((x) => ({ id: Number(x.id), client: Number(x.client), seq: Number(x.seq) })),
      (got) => JSON.stringify(got) === JSON.stringify(want),
      { progress: slotProgress(urls.app) },
    );
    // rolled back, upgrade may leave the config now: the plan deletes green and the cutovers, the pooler stays
    st.pulumi(["config", "rm", "upgradeTo"]);
    const plan = st.pulumi(["preview", "--diff"], { allowFail: true });
    st.pulumi(["config", "set", "upgradeTo", "17"]);
    expect({ code: plan.code, tail: plan.code === 0 ? "" : plan.out.slice(-3000) }).toEqual({ code: 0, tail: "" });
    expect(plan.out).toMatch(/6 to delete/); // the two BlueGreenUpgrades with their green servers and cutovers
    expect(plan.out).not.toMatch(/LocalPgBouncer[^\n]*\n[^\n]*~|to update|to replace/);
    st.pulumi(["preview", "--expect-no-changes"]);
  });

  it("destroys blue and green: no process, port or file left", async () => {
    const { pids, ports } = st.processes();
    expect(pids.length).toBeGreaterThanOrEqual(6); // 2 blue, 2 green, pgbouncer, writer
    st.timed("pulumi destroy", () => st.pulumi(["destroy", "--yes", "--skip-preview"]));
    for (const pid of pids) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    for (const port of ports) expect({ port, free: await portFree(port) }).toEqual({ port, free: true });
    expect(existsSync(st.dataDir)).toBe(false);
    expect(readdirSync(st.tmp).sort()).toEqual(["pulumi-home", "state"].filter((d) => existsSync(`${st.tmp}/${d}`)));
  });
});
