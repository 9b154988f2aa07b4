/**
 * bench/cdc — the CDC writer against the physical limits of this machine, measured in one run on
 * the same data (narrow table: bigint pk, int, text, timestamptz, numeric):
 *
 *  1. initial snapshot rows/s vs `COPY … TO STDOUT (FORMAT binary)` of the same table;
 *  2. streaming rows/s committed into Iceberg vs `pg_recvlogical` streaming the same changes to
 *     /dev/null from a second slot created at the same point;
 *  3. freshness p50/p99 (source COMMIT -> visible in Iceberg) at a steady 10k rows/s.
 *
 * Run: npm run build && node dist/bench/cdc.js   (FLOE_BENCH_ROWS, FLOE_BENCH_STREAM_ROWS,
 * FLOE_BENCH_FRESH_SECONDS tune the sizes). Prints one JSON line at the end too.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createLogger } from "../runtime/core/log";
import { formatLsn, parseLsn } from "../runtime/cdc/lsn";
import { CdcWriter, lsnKey } from "../runtime/cdc/writer";
import { parseCdcConfig } from "../runtime/cdc/config";
import { SqlCatalog } from "../runtime/iceberg";
import { startPostgres } from "../test/helpers/postgres";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROWS = Number(process.env.FLOE_BENCH_ROWS ?? 1_000_000);
const STREAM_ROWS = Number(process.env.FLOE_BENCH_STREAM_ROWS ?? 500_000);
const FRESH_SECONDS = Number(process.env.FLOE_BENCH_FRESH_SECONDS ?? 10);

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

/** CPU seconds of this process (the writer; Postgres runs elsewhere): steadier than wall time on a shared machine. */
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main(): Promise<void> {
  const log = createLogger({}, () => undefined);
  const pg = await startPostgres({ major: 17, settings: { max_wal_size: "4GB", checkpoint_timeout: "30min" } });
  const warehouse = mkdtempSync(join(tmpdir(), "floe-bench-wh-"));
  const results: Record<string, number> = {};
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

    // 1. snapshot vs COPY
    let t0 = Date.now();
    execFileSync(pgBin("psql"), [pg.url("app"), "-qAt", "-c", "COPY bench TO STDOUT (FORMAT binary)"], { stdio: ["ignore", "ignore", "inherit"], maxBuffer: 1 << 30 });
    const copySecs = (Date.now() - t0) / 1000;
    const config = parseCdcConfig({
      sources: [{ name: "pg", connectionString: pg.url("app") }],
      catalog: { type: "sql", uri: pg.url("lake") },
      warehouse: `file://${warehouse}`,
      http: { port: 0 },
    });
    const catalog = await SqlCatalog.connect({ name: "floe", url: pg.url("lake"), warehouse: `file://${warehouse}` });
    t0 = Date.now();
    mark("snapshot-start");
    let cpu0 = process.cpuUsage();
    let writer = new CdcWriter(config, { catalog, log });
    let done = writer.run();
    await writer.ready;
    const snapSecs = (Date.now() - t0) / 1000;
    mark("snapshot-end");
    results.snapshotCpuSeconds = cpuSeconds(process.cpuUsage(cpu0));
    results.snapshotRowsPerSec = ROWS / snapSecs;
    results.copyRowsPerSec = ROWS / copySecs;
    results.snapshotRatio = results.snapshotRowsPerSec / results.copyRowsPerSec;
    console.log(`snapshot: floe ${Math.round(results.snapshotRowsPerSec)} rows/s, COPY binary ${Math.round(results.copyRowsPerSec)} rows/s, ratio ${results.snapshotRatio.toFixed(3)}; writer CPU ${results.snapshotCpuSeconds.toFixed(2)} s`);
    await writer.stop();
    await done;

    // 2. streaming vs pg_recvlogical from a second slot at the same point
    await pg.sql("SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')", [], "app");
    await pg.sql(`INSERT INTO bench SELECT g, g % 1000, 'row ' || g, now(), g / 7.0 FROM generate_series(${ROWS + 1}, ${ROWS + STREAM_ROWS}) g`, [], "app");
    const [{ end }] = await pg.sql("SELECT pg_current_wal_lsn()::text AS end", [], "app");
    t0 = Date.now();
    const recv = spawnSync(
      pgBin("pg_recvlogical"),
      ["-d", pg.url("app"), "-S", "bench_recv", "--start", "-E", end, "-f", "/dev/null", "-o", "proto_version=2", "-o", "publication_names=floe", "--no-loop"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    if (recv.status !== 0) throw new Error(`pg_recvlogical failed: ${recv.stderr}`);
    const recvSecs = (Date.now() - t0) / 1000;
    await pg.sql("SELECT pg_drop_replication_slot('bench_recv')", [], "app");
    t0 = Date.now();
    mark("stream-start");
    cpu0 = process.cpuUsage();
    writer = new CdcWriter(config, { catalog, log });
    done = writer.run();
    // Polls metadata only: a Table object would rebuild and catch up its own primary-key index
    // in this process, on the writer's event loop, and be measured as the writer's time.
    const committedLsn = async (): Promise<string | undefined> => {
      const m = (await catalog.loadTable({ namespace: ["floe"], name: "bench" })).metadata;
      const id = m["current-snapshot-id"];
      return m.snapshots.find((s) => id !== null && id !== undefined && BigInt(s["snapshot-id"]) === BigInt(id))?.summary[lsnKey("pg")];
    };
    const target = parseLsn(end);
    for (;;) {
      if (writer.status.state === "failed") await done;
      const v = await committedLsn();
      if (v && BigInt(v) >= target - 1024n) {
        const [{ n }] = await pg.sql("SELECT count(*)::int AS n FROM bench", [], "app");
        if (n === ROWS + STREAM_ROWS) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const streamSecs = (Date.now() - t0) / 1000;
    mark("stream-end");
    results.streamCpuSeconds = cpuSeconds(process.cpuUsage(cpu0));
    results.streamRowsPerSec = STREAM_ROWS / streamSecs;
    results.recvlogicalRowsPerSec = STREAM_ROWS / recvSecs;
    results.streamRatio = results.streamRowsPerSec / results.recvlogicalRowsPerSec;
    console.log(`streaming: floe ${Math.round(results.streamRowsPerSec)} rows/s into Iceberg, pg_recvlogical ${Math.round(results.recvlogicalRowsPerSec)} rows/s to /dev/null, ratio ${results.streamRatio.toFixed(3)} (up to ${formatLsn(target)}); writer CPU ${results.streamCpuSeconds.toFixed(2)} s`);

    // 3. freshness at a steady 10k rows/s: 100 transactions of 100 rows per second
    const load = await pg.connect("app");
    const pending: { lsn: bigint; at: number }[] = [];
    const fresh: number[] = [];
    let next = ROWS + STREAM_ROWS + 1;
    const stopAt = Date.now() + FRESH_SECONDS * 1000;
    const poll = (async () => {
      while (Date.now() < stopAt + 5000 && (Date.now() < stopAt || pending.length)) {
        const v = await committedLsn();
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
    console.log(`freshness at 10k rows/s: p50 ${results.freshnessP50.toFixed(3)} s, p99 ${results.freshnessP99.toFixed(3)} s over ${fresh.length} transactions`);
    await writer.stop();
    await done;
    await catalog.close();
  } finally {
    await pg.stop();
    rmSync(warehouse, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ bench: "cdc", rows: ROWS, streamRows: STREAM_ROWS, ...results }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
