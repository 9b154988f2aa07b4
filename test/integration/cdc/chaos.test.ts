/**
 * The CI-sized chaos run (test/helpers/chaos.ts; bench/chaos.ts runs the same code with 200 kills):
 * 20 kill -9 of `floe cdc run` under continuous writes, each after the killed writer committed and
 * mid-stream, with every fault in rotation between commit and kill (the catalog's commit reply
 * dropped, a catalog outage, both, a source Postgres restart), each hitting the moment it aimed
 * at; then the mirror equals Postgres and every change is in the changelogs exactly once.
 */
import { describeChaos, FAULT_KINDS, runChaos } from "../../helpers/chaos";

const KILLS = Number(process.env.FLOE_CHAOS_KILLS ?? 20);

it(`chaos: ${KILLS} kill -9 with catalog faults and source restarts, every change exactly once`, async () => {
  const r = await runChaos({ kills: KILLS, log: (l) => process.env.FLOE_TEST_LOG && console.log(l) });
  console.log(describeChaos(r));
  if (r.diagnosis.length) console.log(r.diagnosis.join("\n"));
  expect(r.midStream).toBe(KILLS);
  for (const k of FAULT_KINDS) {
    expect({ kind: k, injected: r.faults[k].injected > 0, hit: r.faults[k].hit }).toEqual({ kind: k, injected: true, hit: r.faults[k].injected });
  }
  expect({
    mirrorEqual: r.mirrorEqual,
    lost: r.lost.length,
    duplicated: r.duplicated.length,
    examples: [...r.lost.slice(0, 5), ...r.duplicated.slice(0, 5)],
  }).toEqual({
    mirrorEqual: true,
    lost: 0,
    duplicated: 0,
    examples: [],
  });
});
