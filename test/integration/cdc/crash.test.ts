/**
 * Exactly once under crashes: `floe cdc run` is killed with SIGKILL at random moments while
 * clients keep writing; after each kill it is restarted. At the end Iceberg equals Postgres, and
 * the append-only changelog table holds every insert exactly once.
 */
import { CdcBed, expectEveryRowOnce, killRepeatedly, spawnWriter, startCdcBed, startTransfers } from "../../helpers/cdc";

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
    const load = startTransfers(bed, 200, 25);

    await killRepeatedly(file, KILLS, 300, 1200);
    expect(await load.stop()).toBeGreaterThan(50);

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
