/**
 * A commit whose reply is lost, with the catalog still unreachable when the writer re-checks
 * (issue 11, item 1). The fault proxy sits between `floe cdc run` and the catalog: it forwards the
 * commit (SQL catalog: the compare-and-swap UPDATE of iceberg_tables; REST: POST …/tables/{t}),
 * swallows the catalog's answer (recorded: the catalog did apply it), resets the connection and
 * refuses every new connection until the writer has tried again several times. Then the catalog is
 * back. The table must stay readable by an engine nobody here wrote (chdb) — every file the
 * committed snapshot references still there — and end equal to Postgres.
 */
import { existsSync } from "node:fs";
import { ChildProcess } from "node:child_process";
import type { Catalog } from "../../../runtime/iceberg/catalog";
import { localPath } from "../../../runtime/iceberg/io";
import { readManifest, readManifestList } from "../../../runtime/iceberg/manifests";
import { currentSnapshot } from "../../../runtime/iceberg/metadata";
import { RestCatalog } from "../../../runtime/iceberg/rest";
import { SqlCatalog } from "../../../runtime/iceberg";
import { CdcBed, spawnWriter, startCdcBed, WriterProcess } from "../../helpers/cdc";
import { lines, readIceberg, readPostgres } from "../../helpers/compare";
import { FaultProxy } from "../../helpers/faults";
import { INSTALL_TIMEOUT_MS, RestCatalogServer, startRestCatalog } from "../../helpers/iceberg-rest";
import { GiveUp, waitUntil } from "../../helpers/wait";

const RECHECKS = 5;

/**
 * Waits until the writer has tried the unreachable catalog RECHECKS times (each try is a new
 * connection the proxy refuses). Progress: refusals and connections (not the writer's CPU or log:
 * a writer that got through some other way and idles would advance those forever); its exit ends
 * the wait at once; a failure shows the writer's last log lines.
 */
async function waitForRechecks(proxy: FaultProxy, child: WriterProcess): Promise<void> {
  await waitUntil(
    `the writer to try the unreachable catalog ${RECHECKS} times`,
    () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new GiveUp(`the writer exited (code ${child.exitCode}, signal ${child.signalCode})`);
      return proxy.refused >= RECHECKS;
    },
    {
      progress: () => ({ refused: proxy.refused, connections: proxy.connections }),
      explain: () => `refused ${proxy.refused}, open ${proxy.openConnections}; the writer's last log lines:\n${child.logTail()}`,
    },
  );
}

/** Files the current snapshot references (manifest list, manifests, data and delete files) that do not exist. */
async function missingFiles(catalog: Catalog, name: string): Promise<string[]> {
  const loaded = await catalog.loadTable({ namespace: ["floe"], name });
  const snap = currentSnapshot(loaded.metadata);
  if (!snap) return [];
  const io = catalog.fileIO(loaded);
  const missing: string[] = [];
  const exists = (p: string) => existsSync(localPath(p));
  if (!exists(snap["manifest-list"])) return [snap["manifest-list"]];
  for (const m of await readManifestList(io, snap["manifest-list"])) {
    if (!exists(m.manifest_path)) {
      missing.push(m.manifest_path);
      continue;
    }
    for (const e of await readManifest(io, m)) if (e.status !== 2 && !exists(e.file.file_path)) missing.push(e.file.file_path);
  }
  return missing;
}

/** Waits until the table, read by chdb, equals Postgres; says why not (unreadable, missing files, rows) when it never does. */
async function expectEqual(bed: CdcBed, catalog: Catalog, what: string, child: WriterProcess): Promise<void> {
  let last = "";
  let icebergRows = 0;
  await waitUntil(
    `${what}: Iceberg table t equal to Postgres`,
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new GiveUp(`the writer exited (code ${child.exitCode}, signal ${child.signalCode})`);
      const pg = lines(await readPostgres(bed.pg.url("app"), "public.t"));
      try {
        const loaded = await catalog.loadTable({ namespace: ["floe"], name: "t" });
        const fields = loaded.metadata.schemas.find((s) => s["schema-id"] === loaded.metadata["current-schema-id"])!.fields;
        const ice = lines(readIceberg(loaded.metadata.location, fields));
        last = `Iceberg ${ice.length} rows, Postgres ${pg.length}`;
        icebergRows = ice.length;
        return JSON.stringify(ice) === JSON.stringify(pg);
      } catch (e) {
        const missing = await missingFiles(catalog, "t").catch(() => []);
        last = `unreadable: ${(e as Error).message.slice(0, 300)}; missing files: ${missing.join(", ")}`;
        // files of the committed snapshot deleted: that never heals, however busy the writer is
        if (missing.length) throw new GiveUp(last);
        return false;
      }
    },
    {
      everyMs: 250,
      progress: () => ({ icebergRows, writerLogLines: child.logLines }),
      explain: () => `last: ${last}; the writer's last log lines:\n${child.logTail()}`,
    },
  );
  expect(await missingFiles(catalog, "t")).toEqual([]);
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(t);
}

describe("a lost commit reply with the catalog unreachable on the re-check", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
    await bed.pg.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g", [], "app");
  });
  afterAll(async () => bed?.stop());

  it("SQL catalog: the snapshot the catalog committed keeps its files, the table stays readable and catches up", async () => {
    const proxy = await FaultProxy.start({ name: "catalog", protocol: "postgres", target: { port: bed.pg.port } });
    const direct = await SqlCatalog.connect({ name: "floe", url: bed.pg.url("lake"), warehouse: `file://${bed.warehouse}` });
    let child: WriterProcess | undefined;
    try {
      const file = bed.configFile({
        catalog: { type: "sql", uri: proxy.pgUrl("lake"), name: "floe" },
        tables: [{ source: "public.t" }],
        commit: { intervalMs: 50 },
      });
      child = spawnWriter(file);
      await expectEqual(bed, direct, "initial copy", child);

      const fault = proxy.arm({ name: "commit CAS", match: /^UPDATE iceberg_tables SET metadata_location/, action: "drop-reply", thenRefuse: true });
      await bed.pg.sql("INSERT INTO t SELECT g, 'new' || g FROM generate_series(51, 80) g; UPDATE t SET v = 'changed' WHERE id <= 5", [], "app");
      const hit = await fault.hit;
      expect(hit).toMatchObject({ action: "drop-reply", reply: "UPDATE 1" }); // the catalog applied the commit; the writer never heard
      await waitForRechecks(proxy, child);
      await proxy.accept();

      await bed.pg.sql("INSERT INTO t VALUES (1000, 'after the outage')", [], "app");
      await expectEqual(bed, direct, "after the outage", child!);
      expect(proxy.faults).toHaveLength(1);
    } finally {
      await stopChild(child);
      await direct.close();
      await proxy.stop();
    }
  });

  describe("REST catalog", () => {
    let server: RestCatalogServer;
    beforeAll(async () => {
      server = await startRestCatalog();
    }, INSTALL_TIMEOUT_MS);
    afterAll(async () => server?.stop());

    it("the snapshot the catalog committed keeps its files, the table stays readable and catches up", async () => {
      await bed.pg.sql("CREATE PUBLICATION floe_rest FOR TABLE t", [], "app");
      const proxy = await FaultProxy.start({ name: "rest", protocol: "http", target: { port: Number(new URL(server.uri).port) } });
      const direct = await RestCatalog.connect({ uri: server.uri, warehouse: server.warehouse });
      let child: WriterProcess | undefined;
      try {
        const file = bed.configFile({
          sources: [{ name: "pg", connectionString: bed.pg.url("app"), slot: "floe_rest", publication: "floe_rest" }],
          catalog: { type: "rest", uri: proxy.httpUrl, warehouse: server.warehouse },
          tables: [{ source: "public.t" }],
          commit: { intervalMs: 50 },
        });
        child = spawnWriter(file);
        await expectEqual(bed, direct, "initial copy", child);

        const fault = proxy.arm({ name: "commit POST", match: /^POST \/v1\/(.+\/)?namespaces\/floe\/tables\/t(\?|$)/, action: "drop-reply", thenRefuse: true });
        await bed.pg.sql("INSERT INTO t SELECT g, 'rest' || g FROM generate_series(2001, 2030) g; UPDATE t SET v = 'rest-changed' WHERE id <= 5", [], "app");
        const hit = await fault.hit;
        expect(hit).toMatchObject({ action: "drop-reply", reply: "HTTP 200" });
        await waitForRechecks(proxy, child);
        await proxy.accept();

        await bed.pg.sql("INSERT INTO t VALUES (3000, 'after the REST outage')", [], "app");
        await expectEqual(bed, direct, "after the outage", child!);
        expect(proxy.faults).toHaveLength(1);
      } finally {
        await stopChild(child);
        direct.close();
        await proxy.stop();
      }
    });
  });
});
