/**
 * bench/cdc — the CDC writer against the physical limits of this machine, measured in one run on
 * the same data (narrow table: bigint pk, int, text, timestamptz, numeric):
 *
 *  1. initial snapshot rows/s vs `COPY … TO STDOUT (FORMAT binary)` of the same table;
 *  2. streaming rows/s committed into Iceberg vs `pg_recvlogical` streaming the same changes to
 *     /dev/null from a second slot created at the same point;
 *  3. streaming many small transactions (FLOE_BENCH_SMALL_TXNS of 100 rows, default 2,000), written
 *     while the writer is stopped, vs `pg_recvlogical` of the same changes. The writer's
 *     maintenance after phase 2's big transaction (a compaction of the whole table) is waited
 *     for first; the maintenance these transactions cause themselves counts, as in production;
 *  4. freshness p50/p99 (source COMMIT -> visible in Iceberg) at a steady 10k rows/s.
 *
 * The writer runs alone in a child process (bench/writer-child.ts): its CPU-seconds per 1M rows
 * are its own (user + system, all threads), from the moment it starts (modules loaded) to the end
 * of the copy, and from the moment it streams to the moment the backlog is in Iceberg. Each
 * comparison prints rows/s, the ratio, CPU per 1M rows and the load average before and after
 * (bench/efficiency.ts); on a busy machine compare the CPU numbers, not the rates.
 *
 * Run: npm run build && node dist/bench/cdc.js   (FLOE_BENCH_ROWS, FLOE_BENCH_STREAM_ROWS,
 * FLOE_BENCH_FRESH_SECONDS tune the sizes; FLOE_BENCH_PARALLELISM the copy's snapshot.parallelism;
 * FLOE_BENCH_THREADS=1 or 0 its snapshot.threads (ranges decoded on worker threads or not);
 * FLOE_BENCH_SPILL_BYTES the writer's commit.spillBytes (below the table's size: the copy spills
 * in parallel chunks and still lands as one snapshot, which the bench checks);
 * FLOE_BENCH_WRITER_ARGS extra node flags for the writer child, e.g. "--cpu-prof"). Prints one
 * JSON line at the end too.
 *
 * FLOE_BENCH_OLD_DIST=<dist of another build> (e.g. of an older commit: git archive, npm run
 * build) also runs that build's writer on the same data in the same run, with a catalog and a
 * slot of its own (created with the new writer's, so both stream the same changes): its copy and
 * its streaming are printed as the new code's baseline.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { formatLsn, parseLsn } from "../runtime/cdc/lsn";
import { lsnKey } from "../runtime/cdc/writer";
import { SqlCatalog } from "../runtime/iceberg";
import { startPostgres } from "../test/helpers/postgres";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Comparison, describe, loadAverage, summary, WriterChild } from "./efficiency";

const ROWS = Number(process.env.FLOE_BENCH_ROWS ?? 1_000_000);
const STREAM_ROWS = Number(process.env.FLOE_BENCH_STREAM_ROWS ?? 500_000);
const FRESH_SECONDS = Number(process.env.FLOE_BENCH_FRESH_SECONDS ?? 10);
const PARALLELISM = process.env.FLOE_BENCH_PARALLELISM ? Number(process.env.FLOE_BENCH_PARALLELISM) : undefined;
const SMALL_TXNS = Number(process.env.FLOE_BENCH_SMALL_TXNS ?? 2000);
const SPILL_BYTES = process.env.FLOE_BENCH_SPILL_BYTES ? Number(process.env.FLOE_BENCH_SPILL_BYTES) : undefined;
const THREADS = process.env.FLOE_BENCH_THREADS ? process.env.FLOE_BENCH_THREADS === "1" : undefined;
const OLD_DIST = process.env.FLOE_BENCH_OLD_DIST;

function pgBin(name: string): string {
  const dirs = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").sort().reverse() : [];
  for (const d of dirs) {
    const p = `/usr/lib/postgresql/${d}/bin/${name}`;
    if (existsSync(p)) return p;
  }
  throw new Error(`${name} not found: bash scripts/setup.sh installs the Postgres client tools`);
}

/** With FLOE_BENCH_MARKS=1, prints phase boundaries in monotonic microseconds (the clock of `node --cpu-prof` profiles). */
const mark = (phase: string) => {
  if (process.env.FLOE_BENCH_MARKS) console.log(`mark ${phase} ${process.hrtime.bigint() / 1000n}`);
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

type Postgres = Awaited<ReturnType<typeof startPostgres>>;

/**
 * Seconds `pg_recvlogical` takes to stream the slot bench_recv (made before the changes) up to
 * `end` into /dev/null; the slot is dropped after.
 */
async function recvlogical(pg: Postgres, end: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const recv = spawnSync(
    pgBin("pg_recvlogical"),
    ["-d", pg.url("app"), "-S", "bench_recv", "--start", "-E", end, "-f", "/dev/null", "-o", "proto_version=2", "-o", "publication_names=floe", "--no-loop"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  if (recv.status !== 0) throw new Error(`pg_recvlogical failed: ${recv.stderr}`);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await pg.sql("SELECT pg_drop_replication_slot('bench_recv')", [], "app");
  return secs;
}

/** The source LSN the bench table's current snapshot holds. Polls metadata only, in this process: the writer child's CPU is the writer's alone. */
async function committedLsn(catalog: SqlCatalog): Promise<string | undefined> {
  const m = (await catalog.loadTable({ namespace: ["floe"], name: "bench" })).metadata;
  const id = m["current-snapshot-id"];
  return m.snapshots.find((s) => id !== null && id !== undefined && BigInt(s["snapshot-id"]) === BigInt(id))?.summary[lsnKey("pg")];
}

/** Waits until the writer has committed through `target`; returns its CPU-seconds since `cpu0`. */
async function untilCommitted(writer: WriterChild, catalog: SqlCatalog, target: bigint, cpu0: number): Promise<number> {
  for (;;) {
    if (writer.failure) throw new Error(`writer failed: ${writer.failure}`);
    const v = await committedLsn(catalog);
    if (v && BigInt(v) >= target - 1024n) return writer.cpuSeconds() - cpu0;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the table's current snapshot has not changed for `quietMs`: the writer's maintenance
 * after its last commit (a compaction of the whole table after a big transaction) is over.
 */
async function settled(writer: WriterChild, catalog: SqlCatalog, quietMs = 3000): Promise<void> {
  let last: unknown;
  let since = Date.now();
  for (;;) {
    if (writer.failure) throw new Error(`writer failed: ${writer.failure}`);
    const id = (await catalog.loadTable({ namespace: ["floe"], name: "bench" })).metadata["current-snapshot-id"];
    if (String(id) !== String(last)) {
      last = id;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const pg = await startPostgres({ major: 17, settings: { max_wal_size: "4GB", checkpoint_timeout: "30min" } });
  const warehouse = mkdtempSync(join(tmpdir(), "floe-bench-wh-"));
  const results: Record<string, unknown> = {};
  const writerArgs = (process.env.FLOE_BENCH_WRITER_ARGS ?? "").split(/\s+/).filter(Boolean);
  let writer: WriterChild | undefined;
  try {
    await pg.sql("CREATE DATABASE app");
    await pg.sql("CREATE DATABASE lake");
    await pg.sql(
      `CREATE TABLE bench (id bigint PRIMARY KEY, a int, t text, ts timestamptz, n numeric(12,2));
       INSERT INTO bench SELECT g, g % 1000, 'row ' || g, now(), g / 7.0 FROM generate_series(1, ${ROWS}) g;
       CHECKPOINT;`,
      [],
      "app",
    );
    await pg.sql("VACUUM ANALYZE bench", [], "app"); // visibility map and statistics set, as on a settled table

    // 1. snapshot vs COPY
    let loadBefore = loadAverage();
    let t0 = process.hrtime.bigint();
    execFileSync(pgBin("psql"), [pg.url("app"), "-qAt", "-c", "COPY bench TO STDOUT (FORMAT binary)"], {
      stdio: ["ignore", "ignore", "inherit"],
      maxBuffer: 1 << 30,
    });
    const copySecs = Number(process.hrtime.bigint() - t0) / 1e9;
    const rawConfig = {
      sources: [{ name: "pg", connectionString: pg.url("app") }],
      catalog: { type: "sql", uri: pg.url("lake") },
      warehouse: `file://${warehouse}`,
      http: { port: 0 },
      ...(PARALLELISM || THREADS !== undefined
        ? { snapshot: { ...(PARALLELISM ? { parallelism: PARALLELISM } : {}), ...(THREADS !== undefined ? { threads: THREADS } : {}) } }
        : {}),
      ...(SPILL_BYTES ? { commit: { spillBytes: SPILL_BYTES } } : {}),
    };
    const catalog = await SqlCatalog.connect({ name: "floe", url: pg.url("lake"), warehouse: `file://${warehouse}` });
    mark("snapshot-start");
    writer = new WriterChild(rawConfig, writerArgs);
    const started = await writer.started();
    const readyCpu = await writer.ready();
    const snapSecs = Number(process.hrtime.bigint() - started.at) / 1e9;
    mark("snapshot-end");
    const snapshot: Comparison = {
      name: "initial copy",
      writer: { label: "floe", rows: ROWS, seconds: snapSecs, cpuSeconds: readyCpu - started.cpuSeconds },
      baseline: { label: "COPY (FORMAT binary)", rows: ROWS, seconds: copySecs },
      loadBefore,
      loadAfter: loadAverage(),
    };
    console.log(describe(snapshot));
    results.snapshot = summary(snapshot);
    // The copy is one snapshot holding every row, whatever it spilled on the way (maintenance may add its own after it).
    const first = (await catalog.loadTable({ namespace: ["floe"], name: "bench" })).metadata.snapshots[0];
    const copiedRows = Number(first?.summary["total-records"] ?? -1);
    const copiedFiles = Number(first?.summary["added-data-files"] ?? -1);
    console.log(
      `initial copy: one snapshot of ${copiedRows.toLocaleString("en-US")} rows in ${copiedFiles} data files${SPILL_BYTES ? ` (spillBytes ${SPILL_BYTES})` : ""}`,
    );
    if (copiedRows !== ROWS || first?.summary["floe.snapshot"] !== "pg")
      throw new Error(`the copy's snapshot should hold ${ROWS} rows: ${JSON.stringify(first?.summary)}`);
    await writer.stop();
    writer = undefined;
    // The old build's copy of the same table, into its own catalog, from its own slot.
    const oldScript = OLD_DIST ? join(OLD_DIST, "bench/writer-child.js") : undefined;
    const oldWarehouse = oldScript ? mkdtempSync(join(tmpdir(), "floe-bench-wh-old-")) : "";
    const oldConfig = {
      ...rawConfig,
      sources: [{ name: "pg", connectionString: pg.url("app"), slot: "floe_old" }],
      catalog: { type: "sql", uri: pg.url("lake_old") },
      warehouse: `file://${oldWarehouse}`,
    };
    const oldCatalog = oldScript
      ? (await pg.sql("CREATE DATABASE lake_old"), await SqlCatalog.connect({ name: "floe", url: pg.url("lake_old"), warehouse: `file://${oldWarehouse}` }))
      : undefined;
    if (oldScript) {
      if (!existsSync(oldScript)) throw new Error(`FLOE_BENCH_OLD_DIST: ${oldScript} is missing (build that tree first)`);
      loadBefore = loadAverage();
      writer = new WriterChild(oldConfig, writerArgs, oldScript);
      const s0 = await writer.started();
      const cpu = (await writer.ready()) - s0.cpuSeconds;
      const secs = Number(process.hrtime.bigint() - s0.at) / 1e9;
      const old: Comparison = {
        name: "initial copy, new code vs the old build",
        writer: snapshot.writer,
        baseline: { label: `old build (${OLD_DIST})`, rows: ROWS, seconds: secs, cpuSeconds: cpu },
        loadBefore,
        loadAfter: loadAverage(),
      };
      console.log(describe(old));
      results.snapshotVsOld = summary(old);
      await writer.stop();
      writer = undefined;
    }

    // 2. streaming vs pg_recvlogical from a second slot at the same point
    await pg.sql("SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')", [], "app");
    await pg.sql(`INSERT INTO bench SELECT g, g % 1000, 'row ' || g, now(), g / 7.0 FROM generate_series(${ROWS + 1}, ${ROWS + STREAM_ROWS}) g`, [], "app");
    const [{ end }] = await pg.sql("SELECT pg_current_wal_lsn()::text AS end", [], "app");
    loadBefore = loadAverage();
    const recvSecs = await recvlogical(pg, end);
    // The clock starts once the writer streams (its table loaded, its key index built).
    writer = new WriterChild(rawConfig, writerArgs);
    const streamCpu0 = await writer.ready();
    t0 = process.hrtime.bigint();
    mark("stream-start");
    const target = parseLsn(end);
    const streamCpu = await untilCommitted(writer, catalog, target, streamCpu0);
    const streamSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    mark("stream-end");
    const streaming: Comparison = {
      name: `streaming (up to ${formatLsn(target)})`,
      writer: { label: "floe into Iceberg", rows: STREAM_ROWS, seconds: streamSecs, cpuSeconds: streamCpu },
      baseline: { label: "pg_recvlogical to /dev/null", rows: STREAM_ROWS, seconds: recvSecs },
      loadBefore,
      loadAfter: loadAverage(),
    };
    console.log(describe(streaming));
    results.streaming = summary(streaming);
    if (oldScript && oldCatalog) {
      // The old build streams the same changes from its own slot (made with its copy, before them).
      await writer.stop();
      loadBefore = loadAverage();
      writer = new WriterChild(oldConfig, writerArgs, oldScript);
      const c0 = await writer.ready();
      const t1 = process.hrtime.bigint();
      const cpu = await untilCommitted(writer, oldCatalog, target, c0);
      const old: Comparison = {
        name: "streaming, new code vs the old build",
        writer: streaming.writer,
        baseline: { label: `old build (${OLD_DIST})`, rows: STREAM_ROWS, seconds: Number(process.hrtime.bigint() - t1) / 1e9, cpuSeconds: cpu },
        loadBefore,
        loadAfter: loadAverage(),
      };
      console.log(describe(old));
      results.streamingVsOld = summary(old);
      await writer.stop();
      await oldCatalog.close();
      rmSync(oldWarehouse, { recursive: true, force: true });
      // the freshness phase runs the new writer again
      writer = new WriterChild(rawConfig, writerArgs);
      await writer.ready();
    }

    // 3. many small transactions, written while the writer is stopped; vs pg_recvlogical from a slot made before them
    let nextId = ROWS + STREAM_ROWS + 1;
    if (SMALL_TXNS > 0) {
      // phase 2's big transaction may have the writer compact the table: not this phase's cost
      await settled(writer, catalog);
      await writer.stop();
      await pg.sql("SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')", [], "app");
      await pg.sql(
        `CREATE PROCEDURE bench_small(first bigint, txns int) LANGUAGE plpgsql AS $$
         BEGIN
           FOR i IN 0 .. txns - 1 LOOP
             INSERT INTO bench SELECT g, g % 1000, 'row ' || g, now(), g / 7.0 FROM generate_series(first + i * 100, first + i * 100 + 99) g;
             COMMIT;
           END LOOP;
         END $$`,
        [],
        "app",
      );
      await pg.sql(`CALL bench_small(${nextId}, ${SMALL_TXNS})`, [], "app");
      nextId += SMALL_TXNS * 100;
      const [{ end: smallEnd }] = await pg.sql("SELECT pg_current_wal_lsn()::text AS end", [], "app");
      loadBefore = loadAverage();
      const recvSmallSecs = await recvlogical(pg, smallEnd);
      writer = new WriterChild(rawConfig, writerArgs);
      const cpu0 = await writer.ready();
      t0 = process.hrtime.bigint();
      const cpu = await untilCommitted(writer, catalog, parseLsn(smallEnd), cpu0);
      const small: Comparison = {
        name: `streaming ${SMALL_TXNS.toLocaleString("en-US")} transactions of 100 rows`,
        writer: { label: "floe into Iceberg", rows: SMALL_TXNS * 100, seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuSeconds: cpu },
        baseline: { label: "pg_recvlogical to /dev/null", rows: SMALL_TXNS * 100, seconds: recvSmallSecs },
        loadBefore,
        loadAfter: loadAverage(),
      };
      console.log(describe(small));
      results.smallTransactions = summary(small);
    }

    // 4. freshness at a steady 10k rows/s: 100 transactions of 100 rows per second
    const load = await pg.connect("app");
    const pending: { lsn: bigint; at: number }[] = [];
    const fresh: number[] = [];
    let next = nextId;
    const stopAt = Date.now() + FRESH_SECONDS * 1000;
    const poll = (async () => {
      while (Date.now() < stopAt + 5000 && (Date.now() < stopAt || pending.length)) {
        const v = await committedLsn(catalog);
        const now = Date.now();
        while (v && pending.length && pending[0].lsn <= BigInt(v)) fresh.push((now - pending.shift()!.at) / 1000);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let tick = Date.now();
    while (Date.now() < stopAt) {
      const r = await load.query(
        `WITH ins AS (INSERT INTO bench SELECT g, 1, 'fresh', now(), 1 FROM generate_series($1::bigint, $1::bigint + 99) g RETURNING 1) SELECT pg_current_wal_insert_lsn()::text AS lsn`,
        [next],
      );
      pending.push({ lsn: parseLsn(r.rows[0].lsn), at: Date.now() });
      next += 100;
      tick += 10;
      const wait = tick - Date.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
    await poll;
    await load.end();
    results.freshnessP50 = pct(fresh, 50);
    results.freshnessP99 = pct(fresh, 99);
    console.log(
      `freshness at 10k rows/s: p50 ${pct(fresh, 50).toFixed(3)} s, p99 ${pct(fresh, 99).toFixed(3)} s over ${fresh.length} transactions; load average ${loadAverage().join(" ")}`,
    );
    await writer.stop();
    writer = undefined;
    await catalog.close();
  } finally {
    await writer?.stop();
    await pg.stop();
    rmSync(warehouse, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ bench: "cdc", rows: ROWS, streamRows: STREAM_ROWS, ...results }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
