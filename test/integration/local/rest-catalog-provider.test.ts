/**
 * LocalRestCatalogServer's provider against a real Postgres and the real server: create generates
 * a credential and starts the server; an update to a new catalog database (what retiring blue
 * after a local upgrade does) moves the catalog's rows while the server is stopped and starts it
 * again on the same port with the same credential, serving and committing to the new database;
 * delete stops it and removes its directory.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localRestCatalogServerProvider as provider } from "../../../components/catalog/localRestServer";
import { SqlCatalog } from "../../../runtime/iceberg/sql-catalog";
import { RestCatalog } from "../../../runtime/iceberg/rest";
import { Table } from "../../../runtime/iceberg/table";
import { handOver, isAlive } from "../../../runtime/local/process";
import { serverPid } from "../../../runtime/local/rest-catalog";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";

let pg: TestPostgres;
let root: string;
let outs: Record<string, any> | undefined;

beforeAll(async () => {
  pg = await startPostgres({ major: 17 });
  await pg.sql("CREATE DATABASE cat_a");
  await pg.sql("CREATE DATABASE cat_b");
  root = mkdtempSync(join(tmpdir(), "floe-rest-provider-"));
  handOver(root);
}, 15 * 60_000);

afterAll(async () => {
  if (outs) await provider.delete!(outs.dir, outs);
  await pg?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("create, move to a new catalog database while stopped (same port and credential), delete", async () => {
  const warehouse = `file://${join(root, "warehouse")}`;
  const sql = await SqlCatalog.connect({ name: "floe", url: pg.url("cat_a"), warehouse });
  await sql.createNamespace(["floe"], {});
  await sql.close();
  const inputs = { dir: join(root, "rest"), catalogUrl: pg.url("cat_a"), name: "floe", warehouse, requestedPort: 0, requestedCredential: "", java: "" };
  const created = await provider.create!(inputs);
  outs = created.outs;
  expect(outs!.credential).toMatch(/^floe:[A-Za-z0-9_-]{32}$/);
  const id = { namespace: ["floe"], name: "events" };
  const first = await RestCatalog.connect({ uri: outs!.uri, credential: outs!.credential });
  const t = await Table.create(first, id, { columns: [{ name: "id", type: "long", required: true }], identifier: ["id"] });
  const before = await t
    .newWrite()
    .upsert([{ id: 1n }])
    .commit();
  first.close();

  const moved = await provider.update!(outs!.dir, outs!, { ...inputs, catalogUrl: pg.url("cat_b") });
  const oldPid = outs!.pid;
  outs = moved.outs;
  expect(isAlive(oldPid, true)).toBe(false);
  expect(outs).toMatchObject({ port: created.outs.port, uri: created.outs.uri, credential: created.outs.credential, catalogUrl: pg.url("cat_b") });
  // the new database holds the catalog; the server serves it and commits into it
  const rest = await RestCatalog.connect({ uri: outs!.uri, credential: outs!.credential });
  try {
    const again = await Table.load(rest, id);
    expect(again.metadataLocation).toBe(before.metadataLocation);
    const after = await again
      .newWrite()
      .upsert([{ id: 2n }])
      .commit();
    const inB = await pg.sql("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = 'floe' AND table_name = 'events'", [], "cat_b");
    const inA = await pg.sql("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = 'floe' AND table_name = 'events'", [], "cat_a");
    expect(inB).toEqual([{ metadata_location: after.metadataLocation }]);
    expect(inA).toEqual([{ metadata_location: before.metadataLocation }]); // the old database is left as it was
  } finally {
    rest.close();
  }

  const jvm = serverPid(outs!.dir)!;
  await provider.delete!(outs!.dir, outs!);
  expect(isAlive(outs!.pid, true)).toBe(false);
  expect(isAlive(jvm)).toBe(false);
  expect(existsSync(outs!.dir)).toBe(false);
  outs = undefined;
});
