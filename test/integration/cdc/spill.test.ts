/**
 * Bounded memory, same result: with tiny spill thresholds the initial copy of a table writes many
 * spill chunks before its one commit, and one big source transaction (streamed in progress by
 * Postgres: logical_decoding_work_mem at its 64 kB minimum) goes through the change spool's temp
 * file and a spilling pending write, with updates of rows it inserted itself, unchanged TOAST
 * values of rows it changed earlier, and a ROLLBACK TO SAVEPOINT. Iceberg must equal Postgres.
 * On Postgres 17 and 18 (streamed transactions, pgoutput protocol 2, from either).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CdcBed, startCdcBed } from "../../helpers/cdc";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { Table } from "../../../runtime/iceberg";

describe.each([17, 18])("CDC writer with spilling (tiny thresholds) on Postgres %i", (major) => {
  let pg: TestPostgres;
  let bed: CdcBed;
  let spillDir: string;
  beforeAll(async () => {
    pg = await startPostgres({ major, settings: { logical_decoding_work_mem: "64kB" } });
    bed = await startCdcBed({ pg });
    spillDir = mkdtempSync(join(tmpdir(), "floe-spill-"));
  });
  afterAll(async () => {
    await bed?.stop();
    await pg?.stop();
    rmSync(spillDir, { recursive: true, force: true });
  });

  const commit = () => ({ intervalMs: 100, spillBytes: 256 * 1024, changeSpillBytes: 64 * 1024, spillDir });

  it("copies a table many times the threshold in one snapshot, then streams a big transaction with a rolled-back savepoint", async () => {
    await pg.sql(
      `CREATE TABLE big (id bigint PRIMARY KEY, v text NOT NULL, n int);
       INSERT INTO big SELECT g, md5(g::text), g FROM generate_series(1, 200000) g;
       CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
       ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
       INSERT INTO docs SELECT g, 't' || g, repeat('old body ' || g, 400) FROM generate_series(1, 200) g;`,
      [],
      "app",
    );
    const w = await bed.startWriter({ tables: [{ source: "public.big" }, { source: "public.docs" }], commit: commit() });
    let r = await bed.waitForEqual("big", { writer: w });
    expect(r.ice).toHaveLength(200_000);
    expect(r.ice).toEqual(r.pg);
    // one snapshot, written as several spill chunks (without spilling: one file of 200k rows)
    // (the writer's maintenance may add a compaction, operation "replace", at any time: not a write)
    const writes = (t: Table) => t.metadata.snapshots.filter((s) => s.summary.operation !== "replace");
    const t = await Table.load(await bed.catalog(), { namespace: ["floe"], name: "big" });
    expect(writes(t)).toHaveLength(1);
    expect(Number(writes(t)[0].summary["added-data-files"])).toBeGreaterThanOrEqual(3);

    // One transaction, streamed in progress: inserts, updates of its own new rows and of copied
    // rows, a key change, TOAST bodies changed then left out of a later update, and a savepoint
    // whose changes are rolled back.
    let sawSpoolFile = false;
    const poll = setInterval(() => {
      if (readdirSync(spillDir).some((f) => f.startsWith("floe-changes-"))) sawSpoolFile = true;
    }, 5);
    try {
      await pg.sql(
        `BEGIN;
         INSERT INTO big SELECT g, 'new ' || g, g FROM generate_series(200001, 260000) g;
         UPDATE big SET v = 'updated', n = -n WHERE id > 200000 AND id % 3 = 0;
         UPDATE big SET v = 'old updated' WHERE id <= 20000 AND id % 4 = 0;
         UPDATE docs SET body = repeat('new body ' || id, 400) WHERE id <= 100;
         INSERT INTO big SELECT g, 'filler ' || g, g FROM generate_series(300001, 320000) g;
         UPDATE docs SET title = 'retitled' WHERE id <= 150;
         UPDATE docs SET body = repeat('newer body ' || id, 400) WHERE id > 150 AND id <= 180;
         UPDATE docs SET title = title || '!' WHERE id > 140 AND id <= 180;
         SAVEPOINT s1;
         INSERT INTO big SELECT g, 'doomed', g FROM generate_series(400001, 420000) g;
         UPDATE big SET v = 'doomed' WHERE id % 5 = 0;
         DELETE FROM big WHERE id % 7 = 0;
         DELETE FROM docs WHERE id > 190;
         ROLLBACK TO SAVEPOINT s1;
         DELETE FROM big WHERE id % 11 = 0;
         UPDATE big SET id = id + 1000000 WHERE id IN (2, 200002);
         UPDATE big SET v = 'last' WHERE id > 250000 AND id <= 260000;
         COMMIT;`,
        [],
        "app",
      );
      r = await bed.waitForEqual("big", { writer: w });
    } finally {
      clearInterval(poll);
    }
    expect(r.ice.length).toBe(r.pg.length);
    expect(r.ice).toEqual(r.pg);
    expect(r.ice.some((l) => l.includes("doomed"))).toBe(false);
    // the pending write of that transaction spilled too: several data files in its one snapshot
    const after = await Table.load(await bed.catalog(), { namespace: ["floe"], name: "big" });
    expect(writes(after)).toHaveLength(2);
    expect(Number(writes(after)[1].summary["added-data-files"])).toBeGreaterThanOrEqual(2);
    const d = await bed.waitForEqual("docs", { writer: w });
    expect(d.ice).toEqual(d.pg);
    const bodies = d.ice.map((l) => JSON.parse(l) as { id: number; title: string; body: string });
    expect(bodies.filter((b) => b.title === "retitled" && b.body.startsWith("new body")).length).toBe(100);
    expect(bodies.filter((b) => b.title.endsWith("!") && b.body.startsWith("newer body")).length).toBe(30);
    // Postgres streamed it in progress, the writer's change spool went to a file, and removed it
    const streamed = await pg.sql(`SELECT sum(stream_txns)::int AS n FROM pg_stat_replication_slots`);
    expect(streamed[0].n).toBeGreaterThan(0);
    expect(sawSpoolFile).toBe(true);
    expect(readdirSync(spillDir)).toEqual([]);
    await w.stop();
  });
});
