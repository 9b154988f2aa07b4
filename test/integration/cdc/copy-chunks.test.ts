/**
 * The initial copy of a large table in ctid ranges over several connections, all in the one
 * snapshot the slot exported, while clients keep inserting rows and deleting rows all over it:
 * in the changelog every row is born exactly once (a copy row if it existed at the snapshot, an
 * insert row if it came after, never both, never neither) and dies (a delete row) exactly when
 * Postgres no longer has it; a row deleted before the snapshot appears not at all.
 *
 * Watched from outside (pg_stat_activity): COPYs of ctid ranges from at least two backends, and
 * writes committed between the first and the last of them seen (the writes really ran during the
 * copy). The writer runs as `floe cdc run` in its own process, so this process's clients keep
 * their pace. Fails with a range connection that does not join the exported snapshot (rows
 * deleted or inserted between the two snapshots: born never or twice) and with ranges that skip
 * a page (rows never born).
 */
import type { Client } from "pg";
import { CdcBed, cdcProgress, icebergLsn, spawnWriter, startCdcBed } from "../../helpers/cdc";
import { GiveUp, waitUntil } from "../../helpers/wait";

jest.setTimeout(600_000);

const ROWS = 500_000;

/** Backends running a COPY of a ctid range of items at this moment. */
async function copySessions(c: Client): Promise<number[]> {
  const r = await c.query(`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY (SELECT % FROM "public"."items" WHERE ctid >= %'`);
  return r.rows.map((x) => x.pid);
}

describe("a large table copied in ranges at one snapshot while it is written", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it("holds every row once: the copy as of the snapshot, the stream after it", async () => {
    // about 25 MB: 25 ranges of 1 MiB
    await bed.pg.sql(
      `CREATE TABLE items (id bigserial PRIMARY KEY, v bigint NOT NULL, note text); INSERT INTO items (v, note) SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`,
      [],
      "app",
    );
    await bed.pg.sql("VACUUM ANALYZE items", [], "app");
    let writing = true;
    let commits = 0;
    // two clients: one inserting, one deleting random rows of the whole table (every range)
    const clients = [0, 1].map(async (k) => {
      const c = await bed.pg.connect("app");
      try {
        while (writing) {
          if (k === 0) await c.query("INSERT INTO items (v, note) SELECT g, 'new' FROM generate_series(1, 5) g");
          else await c.query("DELETE FROM items WHERE id = ANY($1::bigint[])", [Array.from({ length: 5 }, () => 1 + Math.floor(Math.random() * ROWS))]);
          commits++;
        }
      } finally {
        await c.end();
      }
    });
    const watch = await bed.pg.connect("app");
    let watching = true;
    const seen = { max: 0, samples: 0, firstCommitted: -1, lastCommitted: -1, pids: new Set<number>() };
    const watcher = (async () => {
      while (watching) {
        const pids = await copySessions(watch);
        if (pids.length > 0) {
          seen.samples++;
          seen.max = Math.max(seen.max, pids.length);
          for (const p of pids) seen.pids.add(p);
          if (seen.firstCommitted < 0) seen.firstCommitted = commits;
          seen.lastCommitted = commits;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const file = bed.configFile({ tables: [{ source: "public.items", mode: "changelog" }], snapshot: { parallelism: 3, chunkBytes: 1 << 20 } });
    const child = spawnWriter(file);
    const exited = new Promise((r) => child.once("exit", r));
    try {
      try {
        await waitUntil(
          "the initial copy of items to be committed",
          async () => {
            if (child.exitCode !== null) throw new GiveUp(`the writer exited (code ${child.exitCode})`);
            return (await icebergLsn(bed, "items")) > 0n;
          },
          { everyMs: 100, progress: () => cdcProgress(bed.pg, bed.warehouse, child.pid) },
        );
        watching = false;
        await watcher;
        // the stream goes on a little after the copy
        const after = commits;
        await waitUntil("60 more writes after the copy", () => commits >= after + 60, { progress: () => ({ commits }) });
      } finally {
        watching = false;
        writing = false;
        await watcher.catch(() => undefined);
        await Promise.all(clients);
        await watch.end();
      }
      const during = seen.lastCommitted - seen.firstCommitted;
      console.log(
        `chunked copy: ${seen.samples} samples with a range COPY running, ${seen.pids.size} backends, at most ${seen.max} at once, ${during} writes committed during them, ${commits} in all`,
      );
      expect(seen.pids.size).toBeGreaterThanOrEqual(2);
      expect(during).toBeGreaterThanOrEqual(5);

      // Per id: born once (R or I), dead (D) iff gone from Postgres; polled until it holds (the
      // stream catching up), failing when the writer's commits stop advancing while it does not.
      const live = new Set((await bed.pg.sql("SELECT id::text AS id FROM items", [], "app")).map((r) => String(r.id)));
      const [{ max }] = await bed.pg.sql("SELECT last_value::text AS max FROM items_id_seq", [], "app");
      let wrong: string[] = [];
      let ops = new Map<string, string>();
      const check = async () => {
        ops = new Map<string, string>();
        for (const l of await bed.icebergRows("items")) {
          const r = JSON.parse(l);
          ops.set(String(r.id), (ops.get(String(r.id)) ?? "") + String(r._op));
        }
        wrong = [];
        for (let id = 1; id <= Number(max); id++) {
          const o = [...(ops.get(String(id)) ?? "")].sort().join("");
          if (o === "" && !live.has(String(id))) continue; // deleted before the snapshot: never seen
          const born = [...o].filter((x) => x === "R" || x === "I").length;
          const dead = [...o].filter((x) => x === "D").length;
          if (born !== 1 || dead !== (live.has(String(id)) ? 0 : 1)) wrong.push(`${id}:${o || "-"}${live.has(String(id)) ? "" : " (deleted)"}`);
        }
        return wrong.length === 0 || undefined;
      };
      await waitUntil("every id of items born once and deleted iff gone", check, {
        everyMs: 1000,
        idleMs: 60_000,
        progress: async () => ({ lsn: await icebergLsn(bed, "items") }),
        explain: () => `${wrong.length} wrong, e.g. ${wrong.slice(0, 10).join(", ")}`,
      });
      const copied = [...ops.values()].filter((o) => o.includes("R")).length;
      console.log(`chunked copy: ${ops.size} ids in the changelog (${copied} copied), ${live.size} rows in Postgres, ${wrong.length} wrong`);
      expect({ wrong: wrong.length, examples: wrong.slice(0, 10) }).toEqual({ wrong: 0, examples: [] });
      expect(copied).toBeGreaterThan(ROWS / 2);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
