/**
 * Exactly once under crashes with spilling: `floe cdc run` with thresholds so small that the
 * initial copy, batches' pending writes and every bigger transaction's changes spill (data files
 * before the commit, change spool files), killed with SIGKILL at random moments while clients
 * write. (Thresholds of a few KiB work too but make thousands of tiny files, and every restart
 * reads them all back to rebuild the index: too slow for CI.) At the end Iceberg equals Postgres, the changelog holds every
 * insert exactly once, and no change-spool file is left behind.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CdcBed, expectEveryRowOnce, killRepeatedly, spawnWriter, startCdcBed, startTransfers } from "../../helpers/cdc";

jest.setTimeout(240_000);
const KILLS = Number(process.env.FLOE_SPILL_CRASH_KILLS ?? 4);

describe("CDC writer crash safety with spilling", () => {
  let bed: CdcBed;
  let spillDir: string;
  beforeAll(async () => {
    bed = await startCdcBed();
    spillDir = mkdtempSync(join(tmpdir(), "floe-spill-crash-"));
  });
  afterAll(async () => {
    await bed?.stop();
    rmSync(spillDir, { recursive: true, force: true });
  });

  it(`survives ${KILLS} kill -9s with tiny spill thresholds, nothing lost or duplicated`, async () => {
    await bed.pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text);
       CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, delta bigint NOT NULL);
       INSERT INTO accounts SELECT g, 1000, 'start' FROM generate_series(1, 3000) g;`,
      [],
      "app",
    );
    const file = bed.configFile({
      tables: [{ source: "public.accounts" }, { source: "public.events", mode: "changelog" }],
      commit: { intervalMs: 50, spillBytes: 64 * 1024, changeSpillBytes: 8 * 1024, spillDir },
    });

    const load = startTransfers(bed, 3000, 20, async (c, txn) => {
      // a bigger transaction: its changes and its pending write spill; a savepoint rolled back
      await c.query("UPDATE accounts SET note = 'bulk' || $1 WHERE id % 10 = $2", [txn, txn % 10]);
      await c.query("SAVEPOINT s");
      await c.query("DELETE FROM accounts WHERE id % 7 = 0");
      await c.query("ROLLBACK TO SAVEPOINT s");
    });

    await killRepeatedly(file, KILLS, 400, 1200);
    expect(await load.stop()).toBeGreaterThan(20);

    const final = spawnWriter(file);
    try {
      const accounts = await bed.waitForEqual("accounts", { timeoutMs: 60_000 });
      if (JSON.stringify(accounts.ice) !== JSON.stringify(accounts.pg)) {
        const pgSet = new Set(accounts.pg);
        const iceSet = new Set(accounts.ice);
        console.log("only in iceberg", accounts.ice.filter((l) => !pgSet.has(l)).slice(0, 5), "only in pg", accounts.pg.filter((l) => !iceSet.has(l)).slice(0, 5), accounts.ice.length, accounts.pg.length);
      }
      expect(accounts.ice).toEqual(accounts.pg);
      await expectEveryRowOnce(bed, "events");
      // one more big transaction: the running writer spools it, which sweeps the killed writers' files
      await bed.pg.sql("UPDATE accounts SET note = 'final'", [], "app");
      const again = await bed.waitForEqual("accounts", { timeoutMs: 60_000 });
      expect(again.ice).toEqual(again.pg);
      expect(readdirSync(spillDir).filter((f) => !f.includes(`-${final.pid}-`))).toEqual([]);
    } finally {
      final.kill("SIGTERM");
      await new Promise((r) => final.once("exit", r));
    }
    expect(readdirSync(spillDir)).toEqual([]);
  });
});
