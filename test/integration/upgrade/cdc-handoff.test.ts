/**
 * The CDC handoff across a cutover, at the replication-stream level (the stream the CDC writer
 * consumes): blue's CDC slot up to blue's final LSN, then green's slot of the same name, both with
 * pgoutput origin = none, carry every acknowledged client write exactly once — no gap, no duplicate.
 * Decoded with the CDC writer's own pgoutput decoder.
 */
import { join } from "node:path";
import { PgoutputDecoder } from "../../../runtime/cdc/pgoutput";
import { followUpgrade } from "./follow";
import { parseLsn } from "../../../runtime/upgrade/plan";
import { loadState } from "../../../runtime/upgrade/state";
import type { TestPostgres } from "../../helpers/postgres";
import { contentOf, startWorld, waitFor, Workload, World } from "./workload";

/** Client inserts into items in a slot's stream (peeked, not consumed), with their commit LSNs. */
async function streamedItems(pg: TestPostgres, slot: string, originNone: boolean): Promise<{ id: string; commitEnd: bigint }[]> {
  const opts = ["'proto_version', '1'", "'publication_names', 'floe'", ...(originNone ? ["'origin', 'none'"] : [])].join(", ");
  const rows = await pg.sql(`SELECT data FROM pg_logical_slot_peek_binary_changes('${slot}', NULL, NULL, ${opts})`, [], "app");
  const dec = new PgoutputDecoder();
  const rel = new Map<number, string>();
  const out: { id: string; commitEnd: bigint }[] = [];
  let pending: string[] = [];
  for (const r of rows) {
    const m = dec.decode(r.data);
    if (m.tag === "relation") rel.set(m.oid, m.name);
    else if (m.tag === "insert" && rel.get(m.oid) === "items" && Number(m.newTuple[1]) >= 0) pending.push(String(m.newTuple[0]));
    else if (m.tag === "commit") {
      for (const id of pending) out.push({ id, commitEnd: m.endLsn });
      pending = [];
    }
  }
  return out;
}

describe("CDC handoff across the cutover", () => {
  let w: World;
  let load: Workload;

  beforeAll(async () => {
    w = await startWorld({ preloadRows: 1000, clients: 3 });
    await w.blue.sql("CREATE PUBLICATION floe FOR TABLE items, tickets, counters", [], "app");
    await w.blue.sql("SELECT pg_create_logical_replication_slot('floe_cdc', 'pgoutput')", [], "app");
    load = new Workload(w.bouncer.url("app"), 3);
  });
  afterAll(async () => {
    await load?.stop();
    await w?.stop();
  });

  it("blue's slot up to the final LSN, then green's slot, carry every acknowledged write exactly once", async () => {
    const statePath = join(w.dir, "state.json");
    load.start();
    await new Promise((r) => setTimeout(r, 300));
    const report = await followUpgrade(w, statePath).run();
    await new Promise((r) => setTimeout(r, 400));
    await load.stop();
    expect(load.errors).toEqual([]);

    const handoff = loadState(statePath)!.cdcHandoff!;
    expect(handoff).toEqual({ publication: "floe", slot: "floe_cdc", blueFinalLsn: report!.finalLsn, origin: "none" });
    expect(await w.green.sql("SELECT pubname FROM pg_publication WHERE pubname = 'floe'", [], "app")).toEqual([{ pubname: "floe" }]);

    // wait until reverse replication has brought green's writes back to blue (they must NOT reappear in blue's CDC stream)
    await waitFor("reverse replication to blue", async () => (await contentOf(w.blue)).ids.length === load.acked.size);
    const final = parseLsn(handoff.blueFinalLsn);
    const fromBlue = await streamedItems(w.blue, "floe_cdc", true);
    const fromGreen = await streamedItems(w.green, "floe_cdc", true);
    for (const x of fromBlue) expect(x.commitEnd <= final).toBe(true);
    expect(fromBlue.length).toBeGreaterThan(0);
    expect(fromGreen.length).toBeGreaterThan(0);

    const acked = [...load.acked].sort((a, b) => Number(a) - Number(b));
    const union = [...fromBlue, ...fromGreen].map((x) => x.id).sort((a, b) => Number(a) - Number(b));
    expect(union).toEqual(acked); // no gap, and (same length as a set) no duplicate
    expect(new Set(union).size).toBe(union.length);

    // the origin filter is what keeps reverse-replicated rows out of blue's stream
    const blueAll = await streamedItems(w.blue, "floe_cdc", false);
    expect(blueAll.length).toBeGreaterThan(fromBlue.length);
  });
});
