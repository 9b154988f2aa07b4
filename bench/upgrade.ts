/**
 * bench/upgrade — the longest write stall clients see during a blue/green cutover (Postgres 16 ->
 * 17 behind pgBouncer), against two baselines measured in the same run on the same clients:
 * - the p99 transaction latency before anything happens;
 * - the floor: a bare PAUSE -> RELOAD -> RESUME of the pooler with nothing else.
 *
 * "Around" an event = the transactions whose run overlaps [start - 500 ms, end + 500 ms] of it.
 * Each transaction: BEGIN; INSERT item; INSERT ticket; UPDATE counter; COMMIT (4 round trips).
 *
 * Run: npm run build && node dist/bench/upgrade.js
 *   FLOE_BENCH_CLIENTS (default 8), FLOE_BENCH_ROWS preloaded rows (default 20000).
 */
import { Upgrade } from "../runtime/upgrade/orchestrator";
import { join } from "node:path";
import { percentile, startWorld, TxSample, Workload } from "../test/integration/upgrade/workload";

const CLIENTS = Number(process.env.FLOE_BENCH_CLIENTS ?? 8);
const ROWS = Number(process.env.FLOE_BENCH_ROWS ?? 20_000);
const MARGIN = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function around(samples: TxSample[], start: number, end: number): number[] {
  return samples.filter((s) => s.start + s.ms >= start - MARGIN && s.start <= end + MARGIN).map((s) => s.ms);
}

const f = (ms: number) => `${ms.toFixed(1)} ms`;

async function main(): Promise<void> {
  const w = await startWorld({ preloadRows: ROWS, clients: CLIENTS });
  const load = new Workload(w.bouncer.url("app"), CLIENTS, 2);
  try {
    load.start();
    await sleep(500); // warm up
    const b0 = performance.now();
    await sleep(2000);
    const baseline = load.samples.filter((s) => s.start >= b0).map((s) => s.ms);

    // the floor: PAUSE -> RELOAD -> RESUME, nothing else
    const floorStart = performance.now();
    await w.bouncer.control.command("PAUSE app");
    await w.bouncer.control.command("RELOAD");
    await w.bouncer.control.command("RESUME app");
    const floorEnd = performance.now();
    await sleep(1500);
    const floor = around(load.samples, floorStart, floorEnd);

    let cutStart = 0;
    const up = new Upgrade({
      blueUrl: w.blue.url("app"),
      greenUrl: w.green.url("app"),
      pooler: w.bouncer.control,
      statePath: join(w.dir, "state.json"),
      hooks: { beforePause: async () => void (cutStart = performance.now()) },
    });
    const report = (await up.run())!;
    const cutEnd = cutStart + report.pausedMs;
    await sleep(1500);
    await load.stop();
    const cut = around(load.samples, cutStart, cutEnd);

    const r = {
      clients: CLIENTS,
      transactions: load.samples.length,
      failed: load.errors.length,
      baselineP99: percentile(baseline, 99),
      floorP100: Math.max(...floor),
      floorP99: percentile(floor, 99),
      floorPausedMs: floorEnd - floorStart,
      cutoverP100: Math.max(...cut),
      cutoverP99: percentile(cut, 99),
      cutoverPausedMs: report.pausedMs,
      cutoverWaitMs: report.waitMs,
    };
    console.log(`blue/green cutover 16 -> 17 behind pgBouncer, ${CLIENTS} clients, ${r.transactions} transactions, ${r.failed} failed`);
    console.log(`baseline (before):         p99 ${f(r.baselineP99)}`);
    console.log(`floor (PAUSE/RELOAD/RESUME): p100 ${f(r.floorP100)}  p99 ${f(r.floorP99)}  (pooler paused ${f(r.floorPausedMs)})`);
    console.log(
      `cutover:                   p100 ${f(r.cutoverP100)}  p99 ${f(r.cutoverP99)}  (pooler paused ${r.cutoverPausedMs} ms, of which ${r.cutoverWaitMs} ms waiting for blue's final LSN)`,
    );
    console.log(
      `ratios: cutover p100 / floor p100 = ${(r.cutoverP100 / r.floorP100).toFixed(2)}x; cutover p100 / baseline p99 = ${(r.cutoverP100 / r.baselineP99).toFixed(1)}x; goal p100 <= 500 ms: ${r.cutoverP100 <= 500 ? "met" : "NOT met"}`,
    );
    console.log(JSON.stringify(r));
    if (r.failed) console.log(`first failures: ${load.errors.slice(0, 3).join(" | ")}`);
  } finally {
    await load.stop();
    await w.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
