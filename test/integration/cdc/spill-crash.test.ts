/**
 * Exactly once under crashes with spilling: `floe cdc run` with thresholds so small that the
 * initial copy, batches' pending writes and every bigger transaction's changes spill (data files
 * before the commit, change spool files), killed with SIGKILL while clients write — each kill only
 * after the killed writer has committed, while transactions are in flight (as crash.test.ts).
 * (Thresholds of a few KiB work too but make thousands of tiny files, and every restart reads them
 * all back to rebuild the index: too slow for CI.) At the end Iceberg equals Postgres, every change
 * is in the changelogs exactly once, and no change-spool file is left behind.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "pg";
import {
  CdcBed,
  createWorkloadTables,
  KillReport,
  expectExactlyOnce,
  killAfterCommits,
  spawnWriter,
  startCdcBed,
  startWorkload,
  WORKLOAD_TARGETS,
} from "../../helpers/cdc";

const KILLS = Number(process.env.FLOE_SPILL_CRASH_KILLS ?? 6);

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

  it(`survives ${KILLS} kill -9s after commits with tiny spill thresholds, every change exactly once`, async () => {
    const clients = 2;
    await createWorkloadTables(bed, { accounts: 3000, clients });
    const file = bed.configFile({
      tables: WORKLOAD_TARGETS,
      commit: { intervalMs: 50, spillBytes: 64 * 1024, changeSpillBytes: 8 * 1024, spillDir },
    });

    const load = startWorkload(bed, {
      clients,
      accounts: 3000,
      every: 20,
      extra: async (c: Client, txn: number) => {
        // a bigger transaction: its changes and its pending write spill; a savepoint rolled back
        await c.query("UPDATE accounts SET note = 'bulk' || $1 WHERE id % 10 = $2", [txn, txn % 10]);
        await c.query("SAVEPOINT s");
        await c.query("DELETE FROM accounts WHERE id % 7 = 0");
        await c.query("ROLLBACK TO SAVEPOINT s");
      },
    });

    let finals: number[] = [];
    let report: KillReport;
    try {
      report = await killAfterCommits(bed, file, load, { kills: KILLS, spreadMs: 600, watch: "counters" });
    } finally {
      finals = await load.stop();
    }
    expect(report.midStream).toBe(KILLS);

    const final = spawnWriter(file);
    try {
      const accounts = await bed.waitForEqual("accounts", { pid: final.pid });
      expect(accounts.ice).toEqual(accounts.pg);
      const once = await expectExactlyOnce(bed, finals, { pid: final.pid });
      console.log(
        `spill-crash: ${report.kills} kills (${report.midStream} mid-stream), ${finals.reduce((a, b) => a + b, 0)} transactions, ${once.changes} changelog rows, lost ${once.lost.length}, duplicated ${once.duplicated.length}`,
      );
      // one more big transaction: the running writer spools it, which sweeps the killed writers' files
      await bed.pg.sql("UPDATE accounts SET note = 'final'", [], "app");
      const again = await bed.waitForEqual("accounts", { pid: final.pid });
      expect(again.ice).toEqual(again.pg);
      expect(readdirSync(spillDir).filter((f) => !f.includes(`-${final.pid}-`))).toEqual([]);
    } finally {
      final.kill("SIGTERM");
      await new Promise((r) => final.once("exit", r));
    }
    expect(readdirSync(spillDir)).toEqual([]);
  });
});
