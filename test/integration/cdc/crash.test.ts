/**
 * Exactly once under crashes: `floe cdc run` is killed with SIGKILL at random moments while
 * clients keep writing; after each kill it is restarted. At the end Iceberg equals Postgres, and
 * the append-only changelog table holds every insert exactly once.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CdcBed, startCdcBed } from "../../helpers/cdc";

jest.setTimeout(300_000);
const CLI = join(__dirname, "../../../dist/runtime/cli.js");
const KILLS = Number(process.env.FLOE_CRASH_KILLS ?? 20);

describe("CDC writer crash safety", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
    bed = await startCdcBed();
  });
  afterAll(async () => bed?.stop());

  it(`survives ${KILLS} kill -9s under continuous writes with nothing lost or duplicated`, async () => {
    await bed.pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text);
       CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, delta bigint NOT NULL);
       INSERT INTO accounts SELECT g, 1000, 'start' FROM generate_series(1, 200) g;`,
      [],
      "app",
    );
    const file = bed.configFile({ tables: [{ source: "public.accounts" }, { source: "public.events", mode: "changelog" }], commit: { intervalMs: 50 } });

    // Continuous writers: transfers (two updates + one event each), occasional deletes/re-inserts.
    let writing = true;
    let txns = 0;
    const load = (async () => {
      const c = await bed.pg.connect("app");
      try {
        while (writing) {
          const a = 1 + Math.floor(Math.random() * 200);
          const b = 1 + Math.floor(Math.random() * 200);
          const amt = Math.floor(Math.random() * 50);
          await c.query("BEGIN");
          await c.query("UPDATE accounts SET balance = balance - $2, note = 'tx' || $3 WHERE id = $1", [a, amt, txns]);
          await c.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1", [b, amt]);
          await c.query("INSERT INTO events (account, delta) VALUES ($1, $2), ($3, $4)", [a, -amt, b, amt]);
          if (txns % 25 === 0) {
            await c.query("DELETE FROM accounts WHERE id = $1", [a]);
            await c.query("INSERT INTO accounts VALUES ($1, 1000, 'reborn')", [a]);
          }
          await c.query("COMMIT");
          txns++;
        }
      } finally {
        await c.end();
      }
    })();

    const run = (): ChildProcess => spawn(process.execPath, [CLI, "cdc", "run", "--config", file], { stdio: ["ignore", "ignore", process.env.FLOE_TEST_LOG ? "inherit" : "ignore"] });
    for (let i = 0; i < KILLS; i++) {
      const child = run();
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    writing = false;
    await load;
    expect(txns).toBeGreaterThan(50);

    const final = run();
    try {
      const accounts = await bed.waitForEqual("accounts", { timeoutMs: 60_000 });
      expect(accounts.ice).toEqual(accounts.pg);
      const events = await bed.icebergRows("events");
      const [{ n }] = await bed.pg.sql("SELECT count(*)::int AS n FROM events", [], "app");
      // every insert exactly once: no duplicate ids, and as many as in Postgres
      const ids = events.map((l) => JSON.parse(l).id);
      expect(new Set(ids).size).toBe(ids.length);
      const deadline = Date.now() + 30_000;
      let count = ids.length;
      while (count < n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        count = (await bed.icebergRows("events")).length;
      }
      expect(count).toBe(n);
    } finally {
      final.kill("SIGTERM");
      await new Promise((r) => final.once("exit", r));
    }
  });
});
