/**
 * The REST catalog client against a real server: Apache Iceberg's REST catalog fixture
 * (JdbcCatalog on SQLite behind the reference RESTCatalogAdapter/RESTCatalogServlet), started
 * on 127.0.0.1 by test/helpers/iceberg-rest.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import {
  CommitConflictError,
  NamespaceAlreadyExistsError,
  NoSuchNamespaceError,
  NoSuchTableError,
  TableAlreadyExistsError,
  TableIdentifier,
} from "../../../runtime/iceberg/catalog";
import { LocalFileIO } from "../../../runtime/iceberg/io";
import { NotAuthorizedError, RestCatalog, RestCatalogError, parseRestJson, restLocationPath } from "../../../runtime/iceberg/rest";
import { Schema } from "../../../runtime/iceberg/spec";
import { INSTALL_TIMEOUT_MS, RestCatalogServer, startRestCatalog } from "../../helpers/iceberg-rest";

const schema: Schema = {
  type: "struct",
  "schema-id": 0,
  "identifier-field-ids": [1],
  fields: [
    { id: 1, name: "id", required: true, type: "long" },
    { id: 2, name: "name", required: false, type: "string" },
  ],
};

let server: RestCatalogServer;
let catalog: RestCatalog;

beforeAll(async () => {
  server = await startRestCatalog();
  catalog = await RestCatalog.connect({ uri: server.uri, name: "fixture", warehouse: server.warehouse });
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await server?.stop();
});

test("namespaces: create, exists, load, list, duplicate, drop", async () => {
  expect(await catalog.namespaceExists(["ns1"])).toBe(false);
  await catalog.createNamespace(["ns1"], { owner: "floe" });
  expect(await catalog.namespaceExists(["ns1"])).toBe(true);
  expect(await catalog.loadNamespace(["ns1"])).toMatchObject({ owner: "floe" });
  await expect(catalog.createNamespace(["ns1"])).rejects.toBeInstanceOf(NamespaceAlreadyExistsError);
  await catalog.createNamespace(["ns1", "inner"]);
  expect(await catalog.namespaceExists(["ns1", "inner"])).toBe(true);
  expect(await catalog.listNamespaces()).toContainEqual(["ns1"]);
  expect(await catalog.listNamespaces(["ns1"])).toEqual([["ns1", "inner"]]);
  await expect(catalog.loadNamespace(["nope"])).rejects.toBeInstanceOf(NoSuchNamespaceError);
  await catalog.dropNamespace(["ns1", "inner"]);
  expect(await catalog.namespaceExists(["ns1", "inner"])).toBe(false);
});

test("tables: create, load, exists, list, duplicate, missing, drop", async () => {
  await catalog.createNamespace(["t_ns"]);
  const id: TableIdentifier = { namespace: ["t_ns"], name: "people" };
  const created = await catalog.createTable(id, { name: "people", schema, properties: { "write.format.default": "parquet" } });
  expect(created.metadata["format-version"]).toBe(2);
  expect(created.metadata.schemas[0].fields.map((f) => f.name)).toEqual(["id", "name"]);
  expect(created.metadata.schemas[0]["identifier-field-ids"]).toEqual([1]);
  // the server really wrote the metadata file it points to
  const path = restLocationPath(created["metadata-location"]);
  expect(path.startsWith(server.warehouse)).toBe(true);
  expect(existsSync(path)).toBe(true);
  expect(parseRestJson<{ "table-uuid": string }>(readFileSync(path, "utf8"))["table-uuid"]).toBe(created.metadata["table-uuid"]);

  expect(await catalog.tableExists(id)).toBe(true);
  expect(await catalog.tableExists({ namespace: ["t_ns"], name: "other" })).toBe(false);
  expect(await catalog.listTables(["t_ns"])).toEqual([id]);
  const loaded = await catalog.loadTable(id);
  expect(loaded.metadata["table-uuid"]).toBe(created.metadata["table-uuid"]);
  expect(catalog.fileIO(loaded)).toBeInstanceOf(LocalFileIO);

  await expect(catalog.createTable(id, { name: "people", schema })).rejects.toBeInstanceOf(TableAlreadyExistsError);
  await expect(catalog.loadTable({ namespace: ["t_ns"], name: "missing" })).rejects.toThrow(NoSuchTableError);
  await expect(catalog.loadTable({ namespace: ["t_ns"], name: "missing" })).rejects.toThrow(/t_ns\.missing: table not found/);
  await expect(catalog.listTables(["no_ns"])).rejects.toBeInstanceOf(NoSuchNamespaceError);

  await catalog.dropTable(id);
  expect(await catalog.tableExists(id)).toBe(false);
  await expect(catalog.dropTable(id)).rejects.toBeInstanceOf(NoSuchTableError);
});

test("commit: requirements are checked by the server, updates applied, a stale base gets CommitConflictError", async () => {
  await catalog.createNamespace(["c_ns"]);
  const id: TableIdentifier = { namespace: ["c_ns"], name: "events" };
  const t0 = await catalog.createTable(id, { name: "events", schema });
  const uuid = t0.metadata["table-uuid"];

  const t1 = await catalog.commitTable(
    id,
    [
      { type: "assert-table-uuid", uuid },
      { type: "assert-current-schema-id", "current-schema-id": 0 },
    ],
    [{ action: "set-properties", updates: { "floe.test": "one" } }],
  );
  expect(t1.metadata.properties["floe.test"]).toBe("one");
  expect(t1["metadata-location"]).not.toBe(t0["metadata-location"]);

  // schema evolution through the server: add a column, set it current
  const t2 = await catalog.commitTable(
    id,
    [
      { type: "assert-current-schema-id", "current-schema-id": 0 },
      { type: "assert-last-assigned-field-id", "last-assigned-field-id": 2 },
    ],
    [
      {
        action: "add-schema",
        schema: { ...schema, "schema-id": 1, fields: [...schema.fields, { id: 3, name: "score", required: false, type: "double" }] },
        "last-column-id": 3,
      },
      { action: "set-current-schema", "schema-id": -1 },
    ],
  );
  expect(t2.metadata["current-schema-id"]).toBe(1);
  expect(t2.metadata["last-column-id"]).toBe(3);

  // a writer still based on schema 0 loses: typed conflict, nothing applied
  const stale = catalog.commitTable(
    id,
    [{ type: "assert-current-schema-id", "current-schema-id": 0 }],
    [{ action: "set-properties", updates: { "floe.test": "stale" } }],
  );
  await expect(stale).rejects.toBeInstanceOf(CommitConflictError);
  await expect(stale).rejects.toThrow(/CommitFailedException/);
  // main has no snapshot yet: asserting one exists conflicts too
  await expect(catalog.commitTable(id, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 123n }], [])).rejects.toBeInstanceOf(CommitConflictError);
  const t3 = await catalog.loadTable(id);
  expect(t3.metadata.properties["floe.test"]).toBe("one");
  // the loser reloads, rebases its requirements on what it loaded, and lands
  const retried = await catalog.commitTable(
    id,
    [{ type: "assert-current-schema-id", "current-schema-id": t3.metadata["current-schema-id"] }],
    [{ action: "set-properties", updates: { "floe.test": "retried" } }],
  );
  expect(retried.metadata.properties["floe.test"]).toBe("retried");
  expect((await catalog.loadTable(id)).metadata.properties["floe.test"]).toBe("retried");
  await expect(catalog.commitTable({ namespace: ["c_ns"], name: "ghost" }, [], [{ action: "set-properties", updates: { a: "b" } }])).rejects.toBeInstanceOf(
    NoSuchTableError,
  );
});

test("the fixture's OAuth2 token endpoint: client credentials are exchanged and used", async () => {
  const oauth = await RestCatalog.connect({ uri: server.uri, credential: "floe-client:floe-secret" });
  expect(oauth.tokenSource?.fetches).toBe(1);
  expect(await oauth.namespaceExists(["c_ns"])).toBe(true);
  expect(oauth.tokenSource?.fetches).toBe(1); // cached
});

test("clear errors: wrong URI path, unreachable server", async () => {
  const wrong = new RestCatalog({ uri: `${server.uri}/not-a-catalog`, retry: { attempts: 1 } });
  await expect(wrong.init()).rejects.toBeInstanceOf(RestCatalogError);
  const dead = new RestCatalog({ uri: "http://127.0.0.1:9", retry: { attempts: 2, baseDelayMs: 1 } });
  await expect(dead.init()).rejects.toThrow(/load catalog config: GET http:\/\/127\.0\.0\.1:9\/v1\/config failed/);
  expect(NotAuthorizedError).toBeDefined();
});
