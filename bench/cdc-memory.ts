/**
 * bench/cdc-memory — peak memory of the CDC writer with spilling (the defaults: commit.spillBytes
 * 256 MiB, commit.changeSpillBytes 64 MiB, or FLOE_BENCH_MEM_SPILL_BYTES for both) against the
 * unbounded writer (thresholds out of reach) in the same run, on the same data:
 *
 *  1. the initial copy of a table of FLOE_BENCH_MEM_COPY_ROWS rows (default 2,000,000), one commit;
 *  2. one source transaction of FLOE_BENCH_MEM_STREAM_ROWS inserted rows (default 1,000,000, a
 *     tenth of them updated again in the same transaction), streamed in progress by Postgres.
 *
 * Each case runs in a child process of its own (peak RSS only grows), sampling heapUsed every
 * 20 ms; the parent prints peak RSS and peak heap per case and the ratio bounded / unbounded, and
 * per case rows/s and the child's CPU-seconds per 1M rows (the writer, plus the catalog polling of
 * the stream case) with the load average before and after (bench/efficiency.ts).
 *
 * Run: npm run build && node dist/bench/cdc-memory.js
 *
 * Measured (2 vCPU, 23 GB, PG 17; peak RSS bounded / unbounded):
 *   defaults (256 MiB / 64 MiB), 2M copy / 1M stream:  copy 1082/1511 MiB (0.72), stream 1039/1280 MiB (0.81)
 *   FLOE_BENCH_MEM_SPILL_BYTES=33554432, 2M / 1M:        copy  584/1500 MiB (0.39), stream  448/1306 MiB (0.34)
 *   same, FLOE_BENCH_MEM_COPY_ROWS=4000000, _STREAM_ROWS=2000000:
 *                                                       copy  674/2227 MiB (0.30), stream  708/2266 MiB (0.31)
 *   FLOE_BENCH_MEM_SPILL_BYTES=33554432, 2M / 1M, changes buffered as pgoutput's bytes (spool.ts):
 *                                                       copy  449/998 MiB (0.45), stream  534/1149 MiB (0.47)
 * What still grows with the row count is the primary-key index (a slot and a key per row).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../runtime/core/log";
import { lsnKey, CdcWriter } from "../runtime/cdc/writer";
import { parseCdcConfig } from "../runtime/cdc/config";
import { parseLsn } from "../runtime/cdc/lsn";
import { SqlCatalog } from "../runtime/iceberg";
import { startPostgres } from "../test/helpers/postgres";
import { describe, loadAverage, stopwatch, summary } from "./efficiency";

const COPY_ROWS = Number(process.env.FLOE_BENCH_MEM_COPY_ROWS ?? 2_000_000);
const STREAM_ROWS = Number(process.env.FLOE_BENCH_MEM_STREAM_ROWS ?? 1_000_000);
const SPILL = process.env.FLOE_BENCH_MEM_SPILL_BYTES ? Number(process.env.FLOE_BENCH_MEM_SPILL_BYTES) : undefined;
const UNBOUNDED = 2 ** 50;

interface Measured {
  maxRssMiB: number;
  peakHeapMiB: number;
  seconds: number;
  rows: number;
  cpuSeconds: number;
}

/** One case, in this (child) process: prints a JSON line with what it measured. */
async function child(kind: "copy" | "stream", mode: "bounded" | "unbounded", url: (db: string) => string): Promise<void> {
  let peakHeap = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed + m.arrayBuffers);
  }, 20);
  const warehouse = mkdtempSync(join(tmpdir(), "floe-bench-mem-wh-"));
  const name = `${kind}_${mode}`;
  const commit = mode === "unbounded" ? { spillBytes: UNBOUNDED, changeSpillBytes: UNBOUNDED } : SPILL ? { spillBytes: SPILL, changeSpillBytes: SPILL } : {};
  const config = parseCdcConfig({
    sources: [{ name: name.replace(/_/g, "-"), connectionString: url("app") }],
    catalog: { type: "sql", uri: url(`lake_${name}`) },
    warehouse: `file://${warehouse}`,
    tables: [{ source: kind === "copy" ? "public.copy_src" : `public.${name}` }],
    commit,
    http: { port: 0 },
  });
  const catalog = await SqlCatalog.connect({ name: "floe", url: url(`lake_${name}`), warehouse: `file://${warehouse}` });
  const clock = stopwatch();
  const writer = new CdcWriter(config, { catalog, log: createLogger({}, () => undefined) });
  const done = writer.run();
  done.catch(() => undefined); // a failure is awaited below (writer.status / await done), never left unhandled
  try {
    await writer.ready;
    if (kind === "stream") {
      const { Client } = await import("pg");
      const c = new Client({ connectionString: url("app") });
      await c.connect();
      await c.query(
        `BEGIN; INSERT INTO ${name} SELECT g, g % 1000, 'row ' || g || repeat('x', 40), now(), g / 7.0 FROM generate_series(1, ${STREAM_ROWS}) g;
         UPDATE ${name} SET a = -a WHERE id % 10 = 0; COMMIT;`,
      );
      const end = parseLsn((await c.query("SELECT pg_current_wal_lsn()::text AS l")).rows[0].l);
      await c.end();
      for (;;) {
        if (writer.status.state === "failed") await done;
        const m = (await catalog.loadTable({ namespace: ["floe"], name })).metadata;
        const id = m["current-snapshot-id"];
        const lsn = m.snapshots.find((s) => id !== null && id !== undefined && BigInt(s["snapshot-id"]) === BigInt(id))?.summary[
          lsnKey(name.replace(/_/g, "-"))
        ];
        if (lsn && BigInt(lsn) >= end - 4096n) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const seconds = clock.seconds();
    const cpuSeconds = clock.cpuSeconds();
    clearInterval(sampler);
    const rows = kind === "copy" ? COPY_ROWS : STREAM_ROWS;
    const out: Measured = { maxRssMiB: process.resourceUsage().maxRSS / 1024, peakHeapMiB: peakHeap / 2 ** 20, seconds, rows, cpuSeconds };
    console.log(JSON.stringify(out));
  } finally {
    await writer.stop();
    await done.catch(() => undefined);
    await catalog.close();
    rmSync(warehouse, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") {
    const [, , , kind, mode, base] = process.argv;
    await child(kind as "copy" | "stream", mode as "bounded" | "unbounded", (db) => `${base}/${db}`);
    return;
  }
  const pg = await startPostgres({ major: 17, settings: { max_wal_size: "4GB", checkpoint_timeout: "30min", logical_decoding_work_mem: "16MB" } });
  const results: Record<string, unknown> = {};
  try {
    await pg.sql("CREATE DATABASE app");
    const tables = ["stream_unbounded", "stream_bounded"]
      .map((t) => `CREATE TABLE ${t} (id bigint PRIMARY KEY, a int, t text, ts timestamptz, n numeric(12,2));`)
      .join("\n");
    await pg.sql(
      `CREATE TABLE copy_src (id bigint PRIMARY KEY, a int, t text, ts timestamptz, n numeric(12,2));
       INSERT INTO copy_src SELECT g, g % 1000, 'row ' || g || repeat('x', 40), now(), g / 7.0 FROM generate_series(1, ${COPY_ROWS}) g;
       ${tables}
       CHECKPOINT;`,
      [],
      "app",
    );
    const base = pg.url("app").replace(/\/app$/, "");
    for (const kind of ["copy", "stream"] as const) {
      const m: Partial<Record<"unbounded" | "bounded", Measured>> = {};
      const loadBefore = loadAverage();
      for (const mode of ["unbounded", "bounded"] as const) {
        await pg.sql(`CREATE DATABASE lake_${kind}_${mode}`);
        const r = spawnSync(process.execPath, [__filename, "--child", kind, mode, base], { encoding: "utf8", maxBuffer: 1 << 26 });
        if (r.status !== 0) throw new Error(`${kind} ${mode} failed: ${r.stderr}`);
        const line = r.stdout.trim().split("\n").pop()!;
        const x = (m[mode] = JSON.parse(line) as Measured);
        results[`${kind}_${mode}`] = x;
        console.log(`${kind} ${mode}: peak RSS ${x.maxRssMiB.toFixed(0)} MiB, peak heap ${x.peakHeapMiB.toFixed(0)} MiB, ${x.seconds.toFixed(1)} s`);
      }
      const u = m.unbounded!;
      const b = m.bounded!;
      console.log(
        `${kind}: bounded / unbounded peak RSS ${(b.maxRssMiB / u.maxRssMiB).toFixed(3)}, peak heap ${(b.peakHeapMiB / u.peakHeapMiB).toFixed(3)}, time ${(b.seconds / u.seconds).toFixed(3)}`,
      );
      const c = {
        name: `${kind} efficiency`,
        writer: { label: "bounded", rows: b.rows, seconds: b.seconds, cpuSeconds: b.cpuSeconds },
        baseline: { label: "unbounded", rows: u.rows, seconds: u.seconds, cpuSeconds: u.cpuSeconds },
        loadBefore,
        loadAfter: loadAverage(),
      };
      console.log(describe(c));
      results[`${kind}_efficiency`] = summary(c);
    }
  } finally {
    await pg.stop();
  }
  console.log(JSON.stringify({ bench: "cdc-memory", copyRows: COPY_ROWS, streamRows: STREAM_ROWS, spillBytes: SPILL ?? "defaults", ...results }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
