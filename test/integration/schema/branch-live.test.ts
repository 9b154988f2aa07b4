/**
 * Instance branches of a live database: four clients write to the parent all along (one
 * transaction each at a time, every commit recorded with the LSNs that bracket its commit record).
 *   - A branch made under that load: no client error, every client's session the same at the end
 *     (nothing terminated), every client committed while the branch was being made and none was
 *     ever seen waiting on a lock meanwhile (nothing waited for the branch), and the branch equal
 *     to the parent at the LSN the branch reports: every commit known to end before it is there,
 *     none known to start after it is, counters equal their rows.
 *   - Point-in-time branches (WAL archive + a base backup taken under the load): as of an LSN (the
 *     WAL before it, checked the same way) and as of a time (exactly the rows whose commit
 *     timestamp on the parent is at or before it: track_commit_timestamp).
 *   - reset, list, delete; refusals (a target before the oldest base backup, in the future, no
 *     archive; a template option with the instance strategy).
 * Run on Postgres 17 and 18.
 */
import { Client } from "pg";
import { existsSync } from "node:fs";
import { createBranch, deleteBranch, listBranches, resetBranch, takeBranchBackup, listBranchBackups } from "../../../runtime/schema/branch";
import { parseLsn } from "../../../runtime/cdc/lsn";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { checkBranchPoint, WriteLoad } from "../../helpers/write-load";

async function read(url: string): Promise<{ rows: { client: number; seq: number }[]; counters: { client: number; n: number }[] }> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const rows = (await c.query("SELECT client, seq::int AS seq FROM branch_log")).rows;
    const counters = (await c.query("SELECT client, n::int AS n FROM branch_counters")).rows;
    return { rows, counters };
  } finally {
    await c.end();
  }
}

describe.each([17, 18])("instance branches of a live Postgres %i", (major) => {
  let pg: TestPostgres;
  let load: WriteLoad;

  beforeAll(async () => {
    pg = await startPostgres({ major, walArchive: true, settings: { track_commit_timestamp: "on" } });
    await pg.sql("CREATE DATABASE app");
    load = new WriteLoad(pg.url("app"), 4);
    await load.start();
    await load.progress(100);
  }, 120_000);
  afterAll(async () => {
    await load?.stop().catch(() => undefined);
    await pg?.stop();
  });

  it("branches under continuous writes without touching the parent's sessions, equal to the parent at the LSN it reports", async () => {
    const perClientBefore = [0, 1, 2, 3].map((i) => load.commits.filter((c) => c.client === i).length);
    // a monitor session samples, all through the create, whether any client waits on a lock (they
    // never do on their own: each writes its own rows)
    const monitor = await pg.connect("app");
    let creating = true;
    const waits: string[] = [];
    let samples = 0;
    const watching = (async () => {
      while (creating) {
        const r = await monitor.query(
          "SELECT application_name AS app, wait_event FROM pg_stat_activity WHERE application_name LIKE 'load-%' AND wait_event_type = 'Lock'",
        );
        samples++;
        for (const x of r.rows) waits.push(`${x.app} waiting on ${x.wait_event}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const start = Date.now();
    const b = await createBranch(pg.url("app"), { name: "live" }).finally(() => (creating = false));
    const end = Date.now();
    await watching;
    await monitor.end();
    expect(waits).toEqual([]);
    expect(samples).toBeGreaterThan(3); // the monitor looked while the branch was made
    const perClientAfter = [0, 1, 2, 3].map((i) => load.commits.filter((c) => c.client === i).length);
    await load.progress(50); // writes go on after the branch point: some commits must be absent from the branch
    expect(load.errors).toEqual([]);
    // every client committed while the branch was being made: nobody waited for it
    expect(perClientAfter.map((n, i) => n - perClientBefore[i] > 0)).toEqual([true, true, true, true]);
    expect(load.latencies(start, end).length).toBeGreaterThan(0);
    expect(b).toMatchObject({ name: "live", kind: "instance", strategy: "instance", parent: "app", terminated: 0, running: true });
    expect(new URL(b.url).port).not.toBe(String(pg.port));
    const lsn = parseLsn(b.lsn!);
    const { rows, counters } = await read(b.url);
    const check = checkBranchPoint(load.commits, rows, counters, lsn);
    expect(check.problems).toEqual([]);
    expect(check.inside).toBeGreaterThan(100);
    expect(check.outside).toBeGreaterThan(0);
    // the branch is its own server: writes there never reach the parent
    const bc = new Client({ connectionString: b.url });
    await bc.connect();
    await bc.query("INSERT INTO branch_log VALUES (99, 1, 'branch only')");
    await bc.end();
    expect(await pg.sql("SELECT count(*)::int AS n FROM branch_log WHERE client = 99", [], "app")).toEqual([{ n: 0 }]);
    // and the parent's sessions are the same ones
    expect((await pg.sql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'load-%' ORDER BY application_name")).map((r) => r.pid)).toEqual(
      load.pids,
    );
    // nothing of the copy stays on the parent
    expect(await pg.sql("SELECT slot_name FROM pg_replication_slots")).toEqual([]);
  }, 180_000);

  it("lists, resets (same port, newer LSN) and deletes an instance branch", async () => {
    const [b] = (await listBranches(pg.url())).filter((x) => x.name === "live");
    expect(b).toMatchObject({ kind: "instance", parent: "app", running: true });
    const again = await resetBranch(pg.url(), "live");
    expect(new URL(again.url).port).toBe(new URL(b.url).port);
    expect(parseLsn(again.lsn!)).toBeGreaterThan(parseLsn(b.lsn!));
    const { rows } = await read(again.url);
    expect(rows.filter((r) => r.client === 99)).toEqual([]); // the branch-only write is gone: the branch is the parent's again
    expect(checkBranchPoint(load.commits, rows, (await read(again.url)).counters, parseLsn(again.lsn!)).problems).toEqual([]);
    await deleteBranch(pg.url(), "live");
    expect(existsSync(b.dataDir!)).toBe(false);
    expect((await listBranches(pg.url())).map((x) => x.name)).toEqual([]);
    expect(load.errors).toEqual([]);
  }, 180_000);

  it("branches as of a past LSN and a past time from the WAL archive", async () => {
    await expect(createBranch(pg.url("app"), { name: "too_early", at: "0/1000000" })).rejects.toThrow(
      /no base backup .* consistent before LSN 0\/1000000: there is none yet: take one with floe branch backup/,
    );
    const base = await takeBranchBackup(pg.url());
    expect(await listBranchBackups(pg.url())).toEqual([expect.objectContaining({ id: base.id, stopLsn: base.stopLsn })]);
    await load.progress(100);
    const [{ lsn: x }] = await pg.sql("SELECT pg_current_wal_insert_lsn()::text AS lsn");
    await load.progress(100);
    const [{ t }] = await pg.sql("SELECT clock_timestamp() AS t");
    await load.progress(100);
    await expect(createBranch(pg.url("app"), { name: "before_base", at: base.startLsn })).rejects.toThrow(/no base backup .*the oldest reachable point is LSN/);

    const atLsn = await createBranch(pg.url("app"), { name: "at_lsn", at: x });
    const byLsn = await read(atLsn.url);
    const check = checkBranchPoint(load.commits, byLsn.rows, byLsn.counters, parseLsn(x));
    expect(check.problems).toEqual([]);
    expect(check.inside).toBeGreaterThan(100);
    expect(check.outside).toBeGreaterThan(100);
    expect(parseLsn(atLsn.lsn!)).toBeLessThanOrEqual(parseLsn(x));
    expect(atLsn.asOf).toBe(x);

    const atTime = await createBranch(pg.url("app"), { name: "at_time", at: (t as Date).toISOString() });
    const byTime = await read(atTime.url);
    // exactly the rows the parent committed at or before t (commit timestamps, not LSNs)
    const want = await pg.sql("SELECT client, seq::int AS seq FROM branch_log WHERE pg_xact_commit_timestamp(xmin) <= $1 AND client < 99", [t], "app");
    const key = (r: { client: number; seq: number }) => `${r.client}:${r.seq}`;
    expect(byTime.rows.map(key).sort()).toEqual(want.map(key).sort());
    expect(want.length).toBeGreaterThan(200);
    expect(checkBranchPoint(load.commits, byTime.rows, byTime.counters, parseLsn(atTime.lsn!)).problems).toEqual([]);

    await expect(createBranch(pg.url("app"), { name: "future", at: new Date(Date.now() + 3_600_000).toISOString() })).rejects.toThrow(/is in the future/);
    await expect(createBranch(pg.url("app"), { name: "bad", at: "yesterday" })).rejects.toThrow(/neither an LSN .* nor a time with a zone/);
    await expect(createBranch(pg.url("app"), { name: "bad", strategy: "instance", terminateConnections: true })).rejects.toThrow(
      /never touches the parent's sessions/,
    );
    for (const n of ["at_lsn", "at_time"]) await deleteBranch(pg.url(), n);
    expect(await listBranches(pg.url())).toEqual([]);
    expect(load.errors).toEqual([]);
  }, 300_000);
});

it("a point-in-time branch needs the parent to archive its WAL", async () => {
  const pg = await startPostgres({ major: 17 });
  try {
    await pg.sql("CREATE DATABASE app");
    await expect(createBranch(pg.url("app"), { at: "0/1000000" })).rejects.toThrow(
      /needs the parent to archive its WAL with floe's archive_command \(archive_mode is off/,
    );
    await expect(takeBranchBackup(pg.url())).rejects.toThrow(/needs the parent to archive its WAL/);
  } finally {
    await pg.stop();
  }
}, 60_000);
