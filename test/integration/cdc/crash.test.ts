/**
 * Exactly once under crashes: `floe cdc run` is killed with SIGKILL while three clients keep
 * writing, each kill landing only after the killed writer has committed at least one snapshot
 * since it started, and while Postgres holds transactions it has not committed to Iceberg yet
 * (counted: every kill must land mid-stream). After each kill the next writer starts. At the end
 * the mirror equals Postgres and every change is in the changelogs exactly once: every events row,
 * and every value of every client's counter (an intermediate update lost or replayed shows there,
 * not in the mirror).
 *
 * Fails with a writer that confirms the slot before its Iceberg commit (lost counter values) and
 * with one that does not skip transactions already in Iceberg (duplicated values).
 */
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

const KILLS = Number(process.env.FLOE_CRASH_KILLS ?? 20);

describe("CDC writer crash safety", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
  });
  afterAll(async () => bed?.stop());

  it(`survives ${KILLS} kill -9s after commits, mid-stream, with every change exactly once`, async () => {
    const clients = 3;
    await createWorkloadTables(bed, { accounts: 200, clients });
    const file = bed.configFile({ tables: WORKLOAD_TARGETS, commit: { intervalMs: 50 } });
    const load = startWorkload(bed, { clients, accounts: 200, every: 25 });

    let finals: number[] = [];
    let report: KillReport;
    try {
      report = await killAfterCommits(bed, file, load, { kills: KILLS, spreadMs: 400, watch: "counters" });
    } finally {
      finals = await load.stop();
    }
    expect(report.midStream).toBe(KILLS);
    expect(report.detail.every((k) => k.commits >= 1)).toBe(true);

    const final = spawnWriter(file);
    try {
      const accounts = await bed.waitForEqual("accounts", { pid: final.pid });
      expect(accounts.ice).toEqual(accounts.pg);
      const once = await expectExactlyOnce(bed, finals, { pid: final.pid });
      console.log(
        `crash: ${report.kills} kills (${report.midStream} mid-stream, each after >= 1 commit), ${finals.reduce((a, b) => a + b, 0)} transactions, ${once.changes} changelog rows, lost ${once.lost.length}, duplicated ${once.duplicated.length}`,
      );
    } finally {
      final.kill("SIGTERM");
      await new Promise((r) => final.once("exit", r));
    }
  });
});
