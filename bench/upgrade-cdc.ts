/**
 * bench/upgrade-cdc — how stale Iceberg gets while the CDC writer follows a blue/green cutover
 * (Postgres 16 -> 17 behind pgBouncer, clients writing the whole time), against the staleness of
 * the same writer before the upgrade, in the same run.
 *
 * Staleness at a moment = now minus the commit time of the newest source transaction already
 * committed to Iceberg (the writer's status), sampled every 10 ms. With clients committing every
 * few milliseconds this is how far Iceberg lags behind Postgres. "Around the cutover" is from the
 * start of the switchover to 3 s after it.
 *
 * Run: npm run build && node dist/bench/upgrade-cdc.js
 *   FLOE_BENCH_CLIENTS (default 4), FLOE_BENCH_INTERVAL_MS the writer's commit interval (default 500).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCdcConfig } from "../runtime/cdc/config";
import { CdcWriter } from "../runtime/cdc/writer";
import { createLogger } from "../runtime/core/log";
import { SqlCatalog } from "../runtime/iceberg";
import { followConfig, followUpgrade } from "../test/integration/upgrade/follow";
import { percentile, startWorld, Workload } from "../test/integration/upgrade/workload";
import { loadAverage, selfCpuSeconds } from "./efficiency";

const CLIENTS = Number(process.env.FLOE_BENCH_CLIENTS ?? 4);
const INTERVAL = Number(process.env.FLOE_BENCH_INTERVAL_MS ?? 500);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const silent = createLogger({}, () => undefined);

async function main(): Promise<void> {
  const w = await startWorld({ preloadRows: 20_000, clients: CLIENTS });
  await w.blue.sql("CREATE DATABASE lake");
  const warehouse = mkdtempSync(join(tmpdir(), "floe-bench-upgrade-cdc-"));
  const catalog = await SqlCatalog.connect({ name: "floe", url: w.blue.url("lake"), warehouse: `file://${warehouse}` });
  const config = parseCdcConfig({ ...followConfig(w, warehouse), commit: { intervalMs: INTERVAL } });
  const writer = new CdcWriter(config, { catalog, log: silent });
  const done = writer.run();
  done.catch((e) => console.error("writer failed:", e));
  const load = new Workload(w.bouncer.url("app"), CLIENTS, 2);
  const samples: { at: number; staleMs: number }[] = [];
  let sampling = true;
  try {
    await writer.ready;
    const loadBefore = loadAverage();
    const cpu0 = selfCpuSeconds();
    load.start();
    const sampler = (async () => {
      while (sampling) {
        const last = writer.status.sources.blue?.lastCommitTime;
        if (last) samples.push({ at: Date.now(), staleMs: Date.now() - Date.parse(last) });
        await sleep(10);
      }
    })();
    await sleep(1500); // warm up
    const b0 = Date.now();
    await sleep(4000);
    const baseline = samples.filter((s) => s.at >= b0).map((s) => s.staleMs);

    const c0 = Date.now();
    const report = await followUpgrade(w, join(w.dir, "state.json"), silent).run();
    const c1 = Date.now();
    await sleep(3000);
    const around = samples.filter((s) => s.at >= c0 && s.at <= c1 + 3000).map((s) => s.staleMs);
    sampling = false;
    await sampler;
    await load.stop();
    const follows = writer.status.sources.blue;

    const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `CDC staleness across a 16 -> 17 cutover (${CLIENTS} clients through pgBouncer, commit interval ${INTERVAL} ms, ${load.acked.size} transactions, ${load.errors.length} failed)`,
    );
    console.log(
      `  before the upgrade:  p50 ${f(percentile(baseline, 50))}  p99 ${f(percentile(baseline, 99))}  max ${f(Math.max(...baseline))}  (${baseline.length} samples)`,
    );
    console.log(
      `  around the cutover:  p50 ${f(percentile(around, 50))}  p99 ${f(percentile(around, 99))}  max ${f(Math.max(...around))}  (${around.length} samples; pooler paused ${report?.pausedMs} ms)`,
    );
    console.log(`  ratio max(around) / max(before): ${(Math.max(...around) / Math.max(...baseline)).toFixed(2)}`);
    console.log(`  writer now: ${JSON.stringify(follows)}`);
    // The writer shares this process with the clients and the orchestrator: an upper bound of its CPU.
    console.log(
      `  this process (writer + clients + orchestrator): ${(selfCpuSeconds() - cpu0).toFixed(2)} CPU-s for ${load.acked.size} transactions; load average ${loadBefore.join(" ")} -> ${loadAverage().join(" ")}`,
    );
  } finally {
    sampling = false;
    await load.stop();
    await writer.stop();
    await done.catch(() => undefined);
    await catalog.close();
    await w.stop();
    rmSync(warehouse, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
