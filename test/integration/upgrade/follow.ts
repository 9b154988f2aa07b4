/**
 * What the CDC-follow tests share: a writer configured for blue only, the orchestrator with the CDC
 * handoff, and the two end checks — mirror tables equal Postgres, and the `counters` changelog
 * holds each client's counter values 1..n exactly once (every client transaction adds 1, so a lost
 * or duplicated transaction shows up as a gap or a repeat).
 */
import { CdcConfigInput } from "../../../runtime/cdc/config";
import { followKey } from "../../../runtime/cdc/handoff";
import type { Logger } from "../../../runtime/core/log";
import { SqlCatalog, Table } from "../../../runtime/iceberg";
import { Upgrade } from "../../../runtime/upgrade/orchestrator";
import { chdbRows } from "../../helpers/chdb";
import { lines, readIceberg, readPostgres } from "../../helpers/compare";
import type { TestPostgres } from "../../helpers/postgres";
import type { Progress } from "../../helpers/wait";
import { waitFor, Workload, World } from "./workload";

export function followConfig(w: World, warehouse: string): CdcConfigInput {
  return {
    sources: [{ name: "blue", connectionString: w.blue.url("app"), slot: "floe_cdc", publication: "floe" }],
    tables: [{ source: "public.items" }, { source: "public.tickets" }, { source: "public.counters", mode: "changelog" }],
    catalog: { type: "sql", uri: w.blue.url("lake") },
    warehouse: `file://${warehouse}`,
    commit: { intervalMs: 100 },
    http: { port: 0 },
  };
}

/** The orchestrator for the world's blue and green, with the CDC handoff of the writer's slot. */
export const followUpgrade = (w: World, statePath: string, log?: Logger): Upgrade =>
  new Upgrade({
    blueUrl: w.blue.url("app"),
    greenUrl: w.green.url("app"),
    pooler: w.bouncer.control,
    statePath,
    budgetMs: 5000,
    cdc: { publication: "floe", slot: "floe_cdc" },
    log,
  });

export const loadTable = (catalog: SqlCatalog, name: string) => Table.load(catalog, { namespace: ["floe"], name });

/** The follow record the writer left in `items` (null before any handoff). */
export async function followRecord(
  catalog: SqlCatalog,
): Promise<{ generation: number; kind: string; seq: number; slot: string; to: { port: number; dbname: string } } | null> {
  return JSON.parse((await loadTable(catalog, "items")).summaryProperty(followKey("blue")) ?? "null");
}

export async function expectMirrorsEqual(catalog: SqlCatalog, pg: TestPostgres, progress?: () => Promise<Progress>): Promise<void> {
  for (const name of ["items", "tickets"]) {
    let want: string[] = [];
    let got: string[] = [];
    await waitFor(
      `Iceberg ${name} equal to Postgres`,
      async () => {
        want = lines(await readPostgres(pg.url("app"), name));
        const t = await loadTable(catalog, name);
        got = lines(readIceberg(t.metadata.location, t.schema().fields));
        return JSON.stringify(want) === JSON.stringify(got);
      },
      { progress },
    ).catch(() => undefined);
    expect(got).toEqual(want);
  }
}

export async function expectEachCounterValueOnce(catalog: SqlCatalog, load: Workload, progress?: () => Promise<Progress>): Promise<void> {
  let byClient = new Map<number, number[]>();
  await waitFor(
    "the changelog to hold every counter update",
    async () => {
      const t = await loadTable(catalog, "counters");
      byClient = new Map();
      for (const r of chdbRows(t.metadata.location, "client, n", "WHERE _op = 'U'")) {
        const c = Number(r.client);
        byClient.set(c, [...(byClient.get(c) ?? []), Number(r.n)]);
      }
      return [...load.counters].every(([c, n]) => (byClient.get(c)?.length ?? 0) >= n);
    },
    { progress },
  ).catch(() => undefined);
  expect(load.counters.size).toBeGreaterThan(0);
  for (const [client, n] of load.counters) {
    const seen = (byClient.get(client) ?? []).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  }
}
