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
 * a page (rows never born). It runs with the ranges decoded on the writer's main thread and on
 * worker threads (snapshot.threads), and checks in the writer's log that the copy ran that way.
 *
 * Then a fault from outside: one thread's range COPY is terminated (pg_terminate_backend) while
 * the copy is under way (rows on /healthz, files written, nothing committed). The copy must fail
 * as a whole, delete the files it wrote, and be done again from the start: the mirror then equals
 * Postgres. Fails with a thread whose error is taken for its end (the copy commits without its
 * ranges) and with an abort that keeps its files.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, sep } from "node:path";
import type { Client } from "pg";
import { freePort } from "../../../runtime/local/process";
import { CdcBed, cdcProgress, icebergLsn, spawnWriter, startCdcBed } from "../../helpers/cdc";
import { GiveUp, waitUntil } from "../../helpers/wait";

jest.setTimeout(600_000);

const ROWS = 500_000;

/** Backends running a COPY of a ctid range of items at this moment. */
async function copySessions(c: Client): Promise<number[]> {
  const r = await c.query(`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY (SELECT % FROM "public"."items" WHERE ctid >= %'`);
  return r.rows.map((x) => x.pid);
}

describe.each([false, true])("a large table copied in ranges at one snapshot while it is written (snapshot.threads %s)", (threads) => {
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
    const file = bed.configFile({ tables: [{ source: "public.items", mode: "changelog" }], snapshot: { parallelism: 3, chunkBytes: 1 << 20, threads } });
    const child = spawnWriter(file);
    const exited = new Promise((r) => child.once("exit", r));
    let copiedLine = "";
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
        copiedLine = await waitUntil("the writer's log line of the copy", () =>
          child
            .logTail(200)
            .split("\n")
            .find((l) => l.includes('"copied table"')),
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
      // the copy ran the way asked: ranges decoded on worker threads, or on the main thread
      expect(JSON.parse(copiedLine).threads).toBe(threads ? 3 : undefined);
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
      const born = [...ops.values()].filter((o) => o.includes("R")).length;
      console.log(`chunked copy: ${ops.size} ids in the changelog (${born} copied), ${live.size} rows in Postgres, ${wrong.length} wrong`);
      expect({ wrong: wrong.length, examples: wrong.slice(0, 10) }).toEqual({ wrong: 0, examples: [] });
      expect(born).toBeGreaterThan(ROWS / 2);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});

/** Parquet files of the Iceberg table `name` in the warehouse. */
const dataFiles = (warehouse: string, name: string): string[] =>
  (readdirSync(warehouse, { recursive: true }) as string[]).filter((f) => f.endsWith(".parquet") && f.split(sep).includes(name)).map((f) => join(warehouse, f));

describe("a copy thread's connection killed in the middle of the copy", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it("fails the copy, deletes what it wrote, and the copy done again equals Postgres", async () => {
    await bed.pg.sql(
      `CREATE TABLE big (id bigint PRIMARY KEY, v int, note text, amount numeric(12,2), at timestamptz);
       INSERT INTO big SELECT g, g % 1000, 'row ' || g, g / 100.0, '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 300000) g`,
      [],
      "app",
    );
    await bed.pg.sql("VACUUM ANALYZE big", [], "app");
    const port = await freePort();
    // small spills: each thread sends files all along the copy (1 MiB of rows each)
    const file = bed.configFile({
      tables: [{ source: "public.big", mode: "mirror" }],
      snapshot: { parallelism: 2, chunkBytes: 1 << 20, threads: true },
      commit: { intervalMs: 100, spillBytes: 2 << 20 },
      http: { host: "127.0.0.1", port },
    });
    const health = async () =>
      (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { copies?: Record<string, { rows: number; estimatedRows?: number }> };
    const child = spawnWriter(file);
    const exited = new Promise((r) => child.once("exit", r));
    const watch = await bed.pg.connect("app");
    try {
      // Mid-copy: rows copied (on /healthz), files of the copy written, nothing committed yet.
      const progress = await waitUntil(
        "the copy of big to be under way, with files written",
        async () => {
          if (child.exitCode !== null) throw new GiveUp(`the writer exited (code ${child.exitCode}): ${child.logTail()}`);
          const copy = (await health().catch(() => ({}) as Awaited<ReturnType<typeof health>>)).copies?.["public.big"];
          return copy && copy.rows > 0 && dataFiles(bed.warehouse, "big").length > 0 ? copy : undefined;
        },
        { everyMs: 20, progress: () => cdcProgress(bed.pg, bed.warehouse, child.pid) },
      );
      const written = dataFiles(bed.warehouse, "big");
      // a thread's connection between two ranges runs no COPY: try until one is caught in one
      const killed = await waitUntil(
        "a range COPY of big to terminate",
        async () => {
          const r = await watch.query(
            `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY (SELECT % FROM "public"."big" WHERE ctid >= %' LIMIT 1`,
          );
          return r.rows.length ? (r.rows[0].ok as boolean) : undefined;
        },
        { everyMs: 2 },
      );
      console.log(`killed a range COPY after ${progress.rows} of ~${progress.estimatedRows} rows, ${written.length} files written; terminated: ${killed}`);
      // the fault hit a range COPY in flight (the copy had not committed: a later check finds its files deleted)
      expect(killed).toBe(true);
      expect(progress.estimatedRows).toBeGreaterThan(250_000);
      await waitUntil(
        "the writer to restart after the failed copy",
        async () => {
          if (child.logTail(200).includes("writer fault, restarting")) return true;
          if ((await icebergLsn(bed, "big")) > 0n) throw new GiveUp("the copy was committed although one of its range COPYs failed");
          return undefined;
        },
        { progress: () => cdcProgress(bed.pg, bed.warehouse, child.pid) },
      );
      const { pg } = await bed.waitForEqual("public.big", { child });
      expect(pg.length).toBe(300_000);
      // the failed copy's files are gone; the one that landed copied on threads, and left /healthz
      expect(written.filter((f) => existsSync(f))).toEqual([]);
      const copied = child
        .logTail(200)
        .split("\n")
        .filter((l) => l.includes('"copied table"'));
      expect(copied.map((l) => JSON.parse(l).threads)).toEqual([2]);
      expect((await health()).copies ?? {}).toEqual({});
    } finally {
      await watch.end();
      child.kill("SIGTERM");
      await exited;
    }
  });
});
