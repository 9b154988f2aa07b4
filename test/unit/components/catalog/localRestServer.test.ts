/**
 * IcebergCatalog on the local target with and without its REST server (LocalRestCatalogServer):
 * what is created, the inputs the server gets, secrets, validation; and the server's provider
 * functions that need no running server (credential, check, diff).
 */
import { IcebergCatalog } from "../../../../components/catalog/icebergCatalog";
import { credentialFor, localRestCatalogServerProvider as provider } from "../../../../components/catalog/localRestServer";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});
beforeEach(() => m.reset());

const dbUrl = "postgresql://postgres:pg-admin-secret-1@127.0.0.1:5499/floe_catalog";
const storage = { bucket: "/var/floe/warehouse", warehouseLocation: "file:///var/floe/warehouse" };
const SERVER = "pulumi-nodejs:dynamic/floe:LocalRestCatalogServer";
/** Whether an input was sent to the engine as a secret (Pulumi's secret signature). */
const sentSecret = (raw: unknown) => (raw as Record<string, unknown>)?.["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270";

describe("IcebergCatalog, target local", () => {
  test("by default the SQL catalog alone: no REST server, restUri and restCredential undefined", async () => {
    const c = new IcebergCatalog("cl", { target: "local", storage, local: { uri: dbUrl } });
    await m.settled(c.uri, c.restUri, c.restCredential);
    expect(countsUnder(m, "cl")).toEqual({ "pulumi-nodejs:dynamic/floe:LocalSqlCatalog": 1 });
    expect(c.type).toBe("sql");
    expect(await valueOf(c.restUri)).toBeUndefined();
    expect(await valueOf(c.restCredential)).toBeUndefined();
  });

  test("rest: Apache Iceberg's REST server over the SQL catalog's database, a generated credential kept secret", async () => {
    const c = new IcebergCatalog("cr", { target: "local", storage, local: { uri: dbUrl, rest: true, restPort: 18181, dir: "/var/floe/catalog" } });
    await m.settled(c.uri, c.restUri, c.restCredential);
    expect(countsUnder(m, "cr")).toEqual({ "pulumi-nodejs:dynamic/floe:LocalSqlCatalog": 1, [SERVER]: 1 });
    const server = only(m, SERVER, "cr");
    expect(server.name).toBe("cr-rest");
    expect(server.parentUrn).toContain("IcebergCatalog::cr");
    expect(server.inputs).toMatchObject({
      dir: "/var/floe/catalog",
      catalogUrl: dbUrl,
      name: "floe",
      warehouse: "file:///var/floe/warehouse",
      requestedPort: 18181,
      requestedCredential: "",
      java: "",
    });
    // the database URL (with its password) is sent as a secret
    expect(sentSecret((server.rawInputs as any).catalogUrl)).toBe(true);
    // the SQL catalog stays what `uri` is; the REST endpoint is apart
    expect(c.type).toBe("sql");
    expect(await valueOf(c.uri)).toBe(dbUrl);
    expect(await valueOf(c.restUri)).toBe("http://127.0.0.1:18181");
    const credential = (await valueOf(c.restCredential))!;
    expect(credential).toMatch(/^floe:[A-Za-z0-9_-]{32}$/);
    expect(await isSecret(c.restCredential)).toBe(true);
    expect(m.secretLeaks()).toEqual([]);
  });

  test("rest with a given credential: passed to the server as a secret and returned as is", async () => {
    const c = new IcebergCatalog("cg", {
      target: "local",
      storage,
      local: { uri: dbUrl, rest: true, restCredential: "engines:given-secret-42", dir: "/var/floe/catalog" },
    });
    await m.settled(c.restCredential);
    const server = only(m, SERVER, "cg");
    expect(server.inputs.requestedCredential).toBe("engines:given-secret-42");
    expect(server.inputs.requestedPort).toBe(0);
    expect(sentSecret((server.rawInputs as any).requestedCredential)).toBe(true);
    expect(await valueOf(c.restCredential)).toBe("engines:given-secret-42");
    expect(await isSecret(c.restCredential)).toBe(true);
  });

  test("kubernetes and aws: restUri is the catalog's own REST URI", async () => {
    const c = new IcebergCatalog("ca", { target: "aws", storage: { bucket: "lake", bucketArn: "arn:aws:s3:::lake" } });
    await m.settled(c.uri, c.restUri);
    expect(await valueOf(c.restUri)).toBe(await valueOf(c.uri));
    expect(await valueOf(c.restCredential)).toBeUndefined();
  });

  test("refuses a non-boolean rest, a port out of range and a relative dir, naming the input", () => {
    expect(() => new IcebergCatalog("b1", { target: "local", storage, local: { uri: dbUrl, rest: "yes" as unknown as boolean } })).toThrow(
      /local\.rest.*"yes".*must be true or false/s,
    );
    expect(() => new IcebergCatalog("b2", { target: "local", storage, local: { uri: dbUrl, rest: true, restPort: 70000 } })).toThrow(/local\.restPort.*70000/s);
    expect(() => new IcebergCatalog("b3", { target: "local", storage, local: { uri: dbUrl, rest: true, dir: "rel/dir" } })).toThrow(
      /local\.dir.*rel\/dir.*absolute/s,
    );
  });
});

describe("LocalRestCatalogServer provider", () => {
  test("credentialFor: a given credential as is, else the previous one, else a new floe:<32 chars>", () => {
    expect(credentialFor("a:b")).toBe("a:b");
    expect(credentialFor("", "floe:kept")).toBe("floe:kept");
    const one = credentialFor("");
    const two = credentialFor("");
    expect(one).toMatch(/^floe:[A-Za-z0-9_-]{32}$/);
    expect(one).not.toBe(two);
    for (const bad of ["nocolon", ":secret", "id:"]) expect(() => credentialFor(bad)).toThrow(/client_id:client_secret/);
  });

  test("check refuses a malformed credential without echoing it", async () => {
    const inputs = {
      dir: "/d",
      catalogUrl: dbUrl,
      name: "floe",
      warehouse: "file:///w",
      requestedPort: 0,
      requestedCredential: "only-a-secret-value",
      java: "",
    };
    const r = await provider.check!({} as never, inputs);
    expect(r.failures).toHaveLength(1);
    expect(r.failures![0].property).toBe("credential");
    expect(r.failures![0].reason).not.toContain("only-a-secret-value");
    expect((await provider.check!({} as never, { ...inputs, requestedCredential: "" })).failures).toBeUndefined();
  });

  test("diff: a dead server is restarted in place; a new port or directory replaces it; a new database updates it", async () => {
    const olds = {
      dir: "/d",
      catalogUrl: dbUrl,
      name: "floe",
      warehouse: "file:///w",
      requestedPort: 0,
      requestedCredential: "",
      java: "",
      credential: "floe:x",
      port: 18181,
      pid: 0,
      uri: "http://127.0.0.1:18181",
      logFile: "/d/server.log",
    };
    const news = { dir: "/d", catalogUrl: dbUrl, name: "floe", warehouse: "file:///w", requestedPort: 0, requestedCredential: "", java: "" };
    const dead = await provider.diff!("/d", olds, news);
    expect(dead).toMatchObject({ changes: true, replaces: [] });
    expect((dead as { detailedDiff?: object }).detailedDiff).toHaveProperty("pid");
    expect((await provider.diff!("/d", olds, { ...news, requestedPort: 18999 })).replaces).toEqual(["requestedPort"]);
    expect((await provider.diff!("/d", olds, { ...news, dir: "/e" })).replaces).toEqual(["dir"]);
    const moved = await provider.diff!("/d", olds, { ...news, catalogUrl: dbUrl.replace("5499", "5500") });
    expect(moved).toMatchObject({ changes: true, replaces: [] });
  });
});
