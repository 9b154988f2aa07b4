/**
 * Exactly once under crashes: `floe cdc run` is killed with SIGKILL at random moments while
 * clients keep writing; after each kill it is restarted. At the end Iceberg equals Postgres, and
 * the append-only changelog table holds every insert exactly once.
 */
import { CdcBed, expectEveryRowOnce, killRepeatedly, spawnWriter, startCdcBed } from "../../helpers/cdc";

jest.setTimeout(300_000);
const KILLS = Number(process.env.FLOE_CRASH_KILLS ?? 20);

describe("CDC writer crash safety", () => {
  let bed: CdcBed;
  beforeAll(async () => {
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

    await killRepeatedly(file, KILLS, 300, 1200);
    writing = false;
    await load;
    expect(txns).toBeGreaterThan(50);

    const final = spawnWriter(file);
    try {
      const accounts = await bed.waitForEqual("accounts", { timeoutMs: 60_000 });
      expect(accounts.ice).toEqual(accounts.pg);
      await expectEveryRowOnce(bed, "events");
    } finally {
      final.kill("SIGTERM");
      await new Promise((r) => final.once("exit", r));
    }
  });
});
