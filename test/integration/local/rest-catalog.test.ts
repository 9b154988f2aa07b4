/**
 * The local platform's REST catalog server (runtime/local/rest-catalog.ts): Iceberg's own REST
 * server over a JdbcCatalog in a real Postgres, sharing floe's SQL catalog rows, behind OAuth2
 * client credentials, supervised (a kill -9 of the JVM brings it back on the same port), as the
 * server user when we are root. floe's REST client commits through it; floe's SQL catalog and the
 * server see the same tables; a table floe's CDC writer makes through it is read by pyiceberg and
 * DuckDB attached to it as users attach them (test/integration/local/rest-attach.py).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqlCatalog } from "../../../runtime/iceberg/sql-catalog";
import { RestCatalog } from "../../../runtime/iceberg/rest";
import { Table } from "../../../runtime/iceberg/table";
import { freePort, handOver, isAlive } from "../../../runtime/local/process";
import {
  installRestServer,
  probe,
  serverPid,
  startRestServer,
  stopRestServer,
  type RestServerSpec,
  type StartedServer,
} from "../../../runtime/local/rest-catalog";
import { execFile } from "node:child_process";
import { parseCdcConfig } from "../../../runtime/cdc/config";
import { openCatalog } from "../../../runtime/cdc/catalog";
import { CdcWriter } from "../../../runtime/cdc/writer";
import { createLogger } from "../../../runtime/core/log";
import { lines, readIceberg, readPostgres } from "../../helpers/compare";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { GiveUp, waitUntil } from "../../helpers/wait";

/** The engine tier's readers (scripts/install-engines.sh, cached): pyiceberg, DuckDB with its extensions. */
function installEngines(): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      "bash",
      [join(__dirname, "..", "..", "..", "scripts", "install-engines.sh")],
      { encoding: "utf8", timeout: 30 * 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`scripts/install-engines.sh failed: ${err.message}\n${stderr.slice(-4000)}`));
        else resolvePromise(stdout.trim().split("\n").pop()!);
      },
    );
  });
}

let pg: TestPostgres;
let root: string;
let spec: RestServerSpec;
let server: StartedServer | undefined;
let installDir: string;

const credential = "floe:s3cr3t-for-the-test";
let enginesDir: string;

type Row = [number, string | null, string | null, number | null];
interface Attached {
  pyiceberg: Row[];
  duckdb: Row[];
  pyicebergWithoutCredential: string;
  duckdbWithoutCredential: string;
}

/** pyiceberg and DuckDB attached to the REST catalog as docs/engines.md says (rest-attach.py, the engine tier's venv). */
function attachEngines(uri: string, cred: string, namespace: string, table: string): Promise<Attached> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      join(enginesDir, "venv", "bin", "python"),
      [join(__dirname, "rest-attach.py"), uri, cred, namespace, table],
      { encoding: "utf8", timeout: 10 * 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`rest-attach.py failed: ${err.message}\n${stderr.slice(-4000)}`));
        else resolvePromise(JSON.parse(stdout.trim().split("\n").pop()!));
      },
    );
  });
}

beforeAll(async () => {
  [pg, installDir, enginesDir] = await Promise.all([startPostgres({ major: 17 }), installRestServer(), installEngines()]);
  await pg.sql("CREATE DATABASE floe_catalog");
  root = mkdtempSync(join(tmpdir(), "floe-rest-server-"));
  handOver(root);
  const warehouse = `file://${join(root, "warehouse")}`;
  // floe's SQL catalog makes the schema and the namespace first, as LocalSqlCatalog does
  const sql = await SqlCatalog.connect({ name: "floe", url: pg.url("floe_catalog"), warehouse });
  await sql.createNamespace(["floe"], {});
  await sql.close();
  spec = { dir: join(root, "rest"), port: await freePort(), catalogUrl: pg.url("floe_catalog"), name: "floe", warehouse, credential };
}, 15 * 60_000);

afterAll(async () => {
  if (server) await stopRestServer(server.pid);
  await pg?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("starts behind client credentials and shares the SQL catalog's tables both ways", async () => {
  server = await startRestServer(spec, installDir);
  expect(server.uri).toBe(`http://127.0.0.1:${spec.port}`);

  // no token, a wrong secret: refused
  const bare = await fetch(`${server.uri}/v1/config`);
  expect(bare.status).toBe(401);
  const wrong = await fetch(`${server.uri}/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: "floe", client_secret: "nope" }),
  });
  expect(wrong.status).toBe(401);
  await expect(RestCatalog.connect({ uri: server.uri, credential: "floe:nope" }).then((c) => c.listNamespaces())).rejects.toThrow(/401|invalid_client/);

  // floe's REST client (OAuth2) sees the namespace floe's SQL catalog made, and commits a table
  const rest = await RestCatalog.connect({ uri: server.uri, credential });
  expect(await rest.listNamespaces()).toContainEqual(["floe"]);
  const id = { namespace: ["floe"], name: "orders" };
  const table = await Table.create(rest, id, {
    columns: [
      { name: "id", type: "long", required: true },
      { name: "note", type: "string" },
    ],
    identifier: ["id"],
  });
  const r = await table
    .newWrite()
    .upsert([{ id: 1n, note: "through REST" }])
    .commit();

  // the same row in Postgres: floe's SQL catalog loads the commit the server made
  const sql = await SqlCatalog.connect({ name: "floe", url: pg.url("floe_catalog"), warehouse: spec.warehouse });
  try {
    const viaSql = await Table.load(sql, id);
    expect(viaSql.metadataLocation).toBe(r.metadataLocation);
    expect(viaSql.currentSnapshot()?.["snapshot-id"]).toBe(r.snapshotId);
    // and a commit through SQL is what the server serves next
    const r2 = await viaSql
      .newWrite()
      .upsert([{ id: 2n, note: "through SQL" }])
      .commit();
    expect((await Table.load(rest, id)).metadataLocation).toBe(r2.metadataLocation);
  } finally {
    await sql.close();
  }
  const rows = await pg.sql("SELECT catalog_name, table_namespace, table_name FROM iceberg_tables", [], "floe_catalog");
  expect(rows).toEqual([{ catalog_name: "floe", table_namespace: "floe", table_name: "orders" }]);
});

test("a table floe's CDC writer makes through the server reads the same in pyiceberg and DuckDB attached to it with the client credentials, and neither gets in without", async () => {
  await pg.sql("CREATE DATABASE app");
  await pg.sql(
    `CREATE TABLE accounts (id bigint PRIMARY KEY, note text, amount numeric(12,2), "at" timestamptz);
     INSERT INTO accounts SELECT g, 'copied ' || g, g * 1.25, timestamptz '2026-01-01 00:00:00.123456+00' + g * interval '1 hour' FROM generate_series(1, 40) g;
     CREATE PUBLICATION floe_rest FOR TABLE accounts`,
    [],
    "app",
  );
  const config = parseCdcConfig({
    sources: [{ name: "pg", connectionString: pg.url("app"), publication: "floe_rest" }],
    catalog: { type: "rest", uri: server!.uri, credential },
    warehouse: spec.warehouse,
    commit: { intervalMs: 100 },
    http: { port: 0 },
  });
  // the catalog the CLI's `floe cdc run` opens for this config: floe's REST client, OAuth2
  const catalog = await openCatalog(config);
  const writer = new CdcWriter(config, { catalog, log: createLogger({}, () => undefined) });
  const done = writer.run();
  done.catch(() => undefined);
  try {
    await writer.ready;
    // streamed changes after the initial copy: updates, deletes (position deletes), inserts, a NULL
    await pg.sql(
      `UPDATE accounts SET note = 'updated ' || id, amount = amount + 0.01 WHERE id % 3 = 0;
       DELETE FROM accounts WHERE id % 5 = 0;
       INSERT INTO accounts VALUES (100, 'streamed', NULL, now()), (101, NULL, -7.5, timestamptz '1999-12-31 23:59:59.999999+00')`,
      [],
      "app",
    );
    const expected = (
      await pg.sql(`SELECT id::text, note, amount::text, (extract(epoch FROM "at") * 1000000)::bigint::text AS micros FROM accounts`, [], "app")
    )
      .map((r) => [Number(r.id), r.note, r.amount, r.micros === null ? null : Number(r.micros)])
      .sort((a, b) => (a[0] as number) - (b[0] as number));
    const id = { namespace: ["floe"], name: "accounts" };
    const pgLines = lines(await readPostgres(pg.url("app"), "public.accounts"));
    // floe's own read of what the server serves equals Postgres: the writer is done with the changes
    await waitUntil(
      "floe.accounts through the REST server equal to Postgres",
      async () => {
        if (writer.status.state === "failed") throw new GiveUp(`the writer failed: ${writer.status.error}`);
        const t = await Table.load(catalog, id);
        return JSON.stringify(lines(readIceberg(t.metadata.location, t.schema().fields))) === JSON.stringify(pgLines);
      },
      { everyMs: 500, progress: async () => ({ snapshot: String((await Table.load(catalog, id)).currentSnapshot()?.["snapshot-id"]) }) },
    );
    const engines = await attachEngines(server!.uri, credential, "floe", "accounts");
    expect(engines.pyiceberg).toEqual(expected);
    expect(engines.duckdb).toEqual(expected);
    expect(expected).toHaveLength(34); // 40 copied, 8 deleted, 2 inserted
    expect(engines.pyicebergWithoutCredential).toMatch(/UnauthorizedError|NotAuthorized/);
    expect(engines.duckdbWithoutCredential).toMatch(/401|Unauthorized/);
    // the table is in the SQL catalog's rows too (one set of tables, two doors)
    const rows = await pg.sql("SELECT table_name FROM iceberg_tables WHERE catalog_name = 'floe' ORDER BY 1", [], "floe_catalog");
    expect(rows.map((r) => r.table_name)).toEqual(["accounts", "orders"]);
  } finally {
    await writer.stop();
    await done.catch(() => undefined);
    (catalog as { close?: () => void }).close?.();
  }
});

test("a kill -9 of the JVM: the supervisor starts it again on the same port and clients carry on", async () => {
  const jvm = serverPid(spec.dir);
  expect(jvm).not.toBeNull();
  process.kill(jvm!, "SIGKILL");
  await waitUntil("the killed JVM gone", () => !isAlive(jvm!), { idleMs: 30_000 });
  // a new JVM under the same supervisor, answering on the same port
  const again = await waitUntil(
    "a new JVM answering /v1/config",
    async () => {
      const pid = serverPid(spec.dir);
      return pid !== null && pid !== jvm && (await probe(server!.uri, credential)) === 200 ? pid : undefined;
    },
    { idleMs: 120_000, everyMs: 250 },
  );
  expect(again).not.toBe(jvm);
  expect(isAlive(server!.pid)).toBe(true);
  const rest = await RestCatalog.connect({ uri: server!.uri, credential });
  const t = await Table.load(rest, { namespace: ["floe"], name: "orders" });
  const r = await t
    .newWrite()
    .upsert([{ id: 3n, note: "after the restart" }])
    .commit();
  expect(r.addedRows).toBe(1);
});

test("stop ends the supervisor and the JVM, and frees the port", async () => {
  const jvm = serverPid(spec.dir)!;
  await stopRestServer(server!.pid);
  expect(isAlive(server!.pid)).toBe(false);
  expect(isAlive(jvm)).toBe(false);
  await expect(probe(server!.uri, credential)).rejects.toThrow();
  server = undefined;
});

test("a server that cannot reach its database fails at start with its log, and leaves nothing running", async () => {
  const dead = await freePort();
  const bad = { ...spec, dir: join(root, "rest-bad"), port: await freePort(), catalogUrl: `postgresql://postgres:x@127.0.0.1:${dead}/floe_catalog` };
  const err = await startRestServer(bad, installDir).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/exited 3 times at start|exited at start/);
  expect(err?.message).toMatch(/Connection to 127\.0\.0\.1:\d+ refused|PSQLException/);
  const sup = Number(require("node:fs").readFileSync(join(bad.dir, "supervisor.pid"), "utf8"));
  expect(isAlive(sup, true)).toBe(false);
});
