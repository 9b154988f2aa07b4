/**
 * End to end: a cutover that fails, then finishing a local upgrade. examples/local at Postgres 16
 * with two shards; the first `pulumi up` with `upgradeTo: 17` fails (a row written on green behind
 * the orchestrator's back fails verification: the cutover resumes on blue, the up says why), the
 * next one resumes and cuts over; then `retireBlue: true` while clients keep writing through pgBouncer: no
 * failed transaction, blue's processes and data directories are gone, the SQL catalog now lives on
 * green (the catalogUri output moved) and Iceberg still equals Postgres, also for rows written after
 * the retirement; a second up is a no-op and destroy leaves nothing.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { Client } from "pg";
import { alive, E2eStack, pollUntil, portFree, query, slotProgress, withClient } from "./stack";

const DBS = ["app", "app_shard1"];
const ID_START: Record<string, number> = { app: 1, app_shard1: 1_000_000_000 };
let st: E2eStack;

async function writeFor(ms: number, urls: Record<string, string>): Promise<{ acked: number; errors: string[] }> {
  const errors: string[] = [];
  let acked = 0;
  const stopAt = Date.now() + ms;
  await Promise.all(
    DBS.map(async (db) => {
      const c = new Client({ connectionString: urls[db] });
      c.on("error", (e) => errors.push(`${db}: ${e.message}`));
      await c.connect();
      try {
        while (Date.now() < stopAt) {
          try {
            await c.query("INSERT INTO events (note) VALUES ($1)", [`${db} ${Date.now()}`]);
            acked++;
          } catch (e) {
            errors.push(`${db}: ${(e as Error).message}`);
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      } finally {
        await c.end().catch(() => undefined);
      }
    }),
  );
  return { acked, errors };
}

const rowsOf = async (url: string) =>
  withClient(url, async (c) =>
    (await c.query("SELECT id::text AS id, note FROM events ORDER BY events.id")).rows.map((r) => ({ id: Number(r.id), note: r.note })),
  );

beforeAll(() => {
  st = new E2eStack(`e2e-retire-${process.pid}`);
  st.pulumi(["config", "set", "shards", "2"]);
});

afterAll(() => {
  if (!st) return;
  st.dispose();
  process.stdout.write(`e2e retire timings (s): ${JSON.stringify(st.timings)}\n`);
});

describe("finishing a local upgrade: retireBlue", () => {
  let urls: Record<string, string>;
  let bluePids: number[];

  it("upgrades 16 -> 17 through the config; a cutover that fails verification fails the up, blue keeps serving, the next up resumes", async () => {
    st.pulumi(["up", "--yes", "--skip-preview"]);
    const cs = st.outputs().connectionString as string;
    urls = Object.fromEntries(DBS.map((d) => [d, cs.replace(/\/app$/, `/${d}`)]));
    for (const db of DBS) {
      await withClient(urls[db], async (c) => {
        await c.query(`CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY (START WITH ${ID_START[db]}) PRIMARY KEY, note text)`);
        await c.query("INSERT INTO events (note) SELECT 'preload ' || g FROM generate_series(1, 300) g");
      });
    }
    bluePids = st
      .resources()
      .filter((r) => /postgres-\d$/.test(r.urn))
      .map((r) => r.outputs.pid);
    expect(bluePids).toHaveLength(2);
    st.pulumi(["config", "set", "upgradeTo", "17"]);
    st.pulumi(["config", "set", "upgradeBudgetMs", "5000"]);

    // A row written on green behind the orchestrator's back: verification (while paused) finds the
    // row counts differ, the cutover resumes on blue, and `pulumi up` fails saying why.
    const green0 = `${st.dataDir}/postgres-0-v17`;
    // Waits as long as the up runs (green is made inside it, however slowly a loaded machine goes).
    let upEnded = false;
    const extraOnGreen = (async () => {
      for (;;) {
        const last = upEnded;
        try {
          const port = Number(readFileSync(`${green0}/postmaster.pid`, "utf8").split("\n")[3]);
          const done = await withClient(`postgres://postgres@/app?host=${encodeURIComponent(green0)}&port=${port}`, async (c) => {
            if (!(await c.query("SELECT to_regclass('public.events') AS t")).rows[0].t) return false;
            await c.query("INSERT INTO events (id, note) OVERRIDING SYSTEM VALUE VALUES (-1, 'only on green')");
            return true;
          });
          if (done) return port;
        } catch {
          /* not up yet */
        }
        if (last) throw new Error("green's events table never appeared while the up ran");
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const failed = await st.pulumiAsync(["up", "--yes", "--skip-preview"], { allowFail: true });
    upEnded = true;
    const greenPort = await extraOnGreen;
    expect(failed.code).not.toBe(0);
    expect(failed.out).toMatch(/cutover aborted \(the pooler resumed on the old primary after \d+ ms\): verification failed: .*events/);
    expect(failed.out).toMatch(/Run pulumi up again to resume/);
    for (const db of DBS) expect(await withClient(urls[db], async (c) => (await c.query("SHOW server_version_num")).rows[0].server_version_num)).toMatch(/^16/);
    await withClient(urls.app, (c) => c.query("INSERT INTO events (note) VALUES ('written on blue after the failed cutover')"));
    await withClient(`postgres://postgres@/app?host=${encodeURIComponent(green0)}&port=${greenPort}`, (c) => c.query("DELETE FROM events WHERE id = -1"));

    // the next up resumes from the state file (replication kept running) and cuts over
    st.timed("pulumi up with the upgrade", () => st.pulumi(["up", "--yes", "--skip-preview"]));
    for (const db of DBS) expect(await withClient(urls[db], async (c) => (await c.query("SHOW server_version_num")).rows[0].server_version_num)).toMatch(/^17/);
    expect(
      await withClient(
        urls.app,
        async (c) => (await c.query("SELECT count(*)::int AS n FROM events WHERE note = 'written on blue after the failed cutover'")).rows[0].n,
      ),
    ).toBe(1);
  });

  it("retires blue while clients write: no failed transaction, blue gone, the catalog on green, Iceberg equal to Postgres", async () => {
    const catalogBefore = st.outputs().catalogUri as string;
    st.pulumi(["config", "set", "retireBlue", "true"]);
    const writing = writeFor(4_000, urls);
    const t0 = Date.now();
    const r = await st.pulumiAsync(["up", "--yes", "--skip-preview"]);
    st.timings["pulumi up retiring blue"] = (Date.now() - t0) / 1000;
    const w = await writing;
    expect(w.errors).toEqual([]);
    expect(w.acked).toBeGreaterThan(50);
    expect(r.out).toMatch(/finished: replication objects dropped on blue and green/);
    expect(r.out).not.toMatch(/\d+ (deleted|replaced)|deleting|replacing/);

    for (const pid of bluePids) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    for (const i of [0, 1]) expect(existsSync(`${st.dataDir}/postgres-${i}`)).toBe(false);
    for (const p of st.outputs().upgradeStatePaths) expect(JSON.parse(readFileSync(p, "utf8")).phase).toBe("cleaned");

    const out = st.outputs();
    expect(out.catalogUri).not.toBe(catalogBefore);
    const greenPort = st.resources().find((x) => /upgrade-0-green$/.test(x.urn)).outputs.port;
    expect(out.catalogUri).toMatch(new RegExp(`@127\\.0\\.0\\.1:${greenPort}/floe_catalog$`));
    // the writer, restarted on the moved catalog, keeps following green: rows from after the retirement too
    await writeFor(500, urls);
    const want = [...(await rowsOf(urls.app)), ...(await rowsOf(urls.app_shard1))].sort((a, b) => a.id - b.id);
    const seen = await pollUntil(
      "Iceberg equal to Postgres after blue was retired",
      () => query(out.catalogUri, "SELECT id, note FROM floe.events ORDER BY id").map((x) => ({ id: Number(x.id), note: x.note })),
      (got) => JSON.stringify(got) === JSON.stringify(want),
      { progress: slotProgress(urls.app) },
    );
    st.timings["Iceberg caught up after the retirement"] = seen.ms / 1000;
    expect(want.length).toBeGreaterThan(600 + w.acked); // the preload, the writes during the retirement, the ones after
  });

  it("reports no changes on a second pulumi up", () => {
    const r = st.timed("no-op pulumi up", () => st.pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(r.out).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
  });

  it("destroys green and what is left of blue: no process, port or file", async () => {
    const { pids, ports } = st.processes();
    st.timed("pulumi destroy", () => st.pulumi(["destroy", "--yes", "--skip-preview"]));
    for (const pid of pids) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    for (const port of ports) expect({ port, free: await portFree(port) }).toEqual({ port, free: true });
    expect(existsSync(st.dataDir)).toBe(false);
    expect(readdirSync(st.tmp).sort()).toEqual(["pulumi-home", "state"].filter((d) => existsSync(`${st.tmp}/${d}`)));
  });
});
