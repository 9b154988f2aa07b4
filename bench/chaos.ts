/**
 * bench/chaos — the long chaos run of issue 11 (test/helpers/chaos.ts): `floe cdc run` under
 * continuous writes (3 clients: transfers, events, counters, deletes and re-inserts), killed with
 * SIGKILL FLOE_CHAOS_KILLS times (default 200), each kill after the killed writer committed, with
 * the catalog's commit reply dropped, catalog outages (alone and right after a dropped reply) and
 * source Postgres restarts in rotation between commit and kill. Prints the count of each fault
 * injected and hit at its moment, then whether the mirror equals Postgres and how many changes
 * were lost or duplicated in the changelogs. Exit 1 if anything was lost, duplicated or missed.
 *
 * Not a timed test: no timing goal; it prints its duration and the load average for context.
 *
 *   npm run build && node dist/bench/chaos.js        (FLOE_CHAOS_KILLS=200, FLOE_CHAOS_SPREAD_MS=400)
 */
import { describeChaos, FAULT_KINDS, runChaos } from "../test/helpers/chaos";
import { loadAverage } from "./efficiency";

async function main(): Promise<void> {
  const kills = Number(process.env.FLOE_CHAOS_KILLS ?? 200);
  const spreadMs = Number(process.env.FLOE_CHAOS_SPREAD_MS ?? 400);
  const loadBefore = loadAverage();
  const r = await runChaos({ kills, spreadMs, log: (l) => console.log(l) });
  console.log(describeChaos(r));
  console.log(`load average before ${JSON.stringify(loadBefore)}, after ${JSON.stringify(loadAverage())}`);
  for (const l of [...r.lost.slice(0, 10), ...r.duplicated.slice(0, 10)]) console.log(`  ${l}`);
  for (const l of r.diagnosis) console.log(l);
  const missed = FAULT_KINDS.filter((k) => r.faults[k].hit !== r.faults[k].injected);
  if (r.lost.length || r.duplicated.length || !r.mirrorEqual || r.midStream < kills || missed.length) {
    console.log(`FAILED${missed.length ? `: faults that missed their moment: ${missed.join(", ")}` : ""}`);
    process.exitCode = 1;
  }
}

// A handle the run leaves open (a pool's idle timer) kept the process alive after the verdict: exit with it.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
