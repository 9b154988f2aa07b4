/**
 * LocalPlatform's REST catalog option (catalog.rest): the server under the catalog piece, the CDC
 * writer committing through it with its client credentials, the outputs engines attach with, and
 * nothing of it by default.
 */
import { LocalPlatform } from "../../../../components/platform/localPlatform";
import { DataPlatform } from "../../../../components/platform/dataPlatform";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});
beforeEach(() => m.reset());

const SERVER = "pulumi-nodejs:dynamic/floe:LocalRestCatalogServer";
const WRITER = "pulumi-nodejs:dynamic/floe:LocalCdcWriter";

describe("LocalPlatform catalog.rest", () => {
  test("default: no REST server, the writer commits to the SQL catalog, restCatalogUri undefined", async () => {
    const p = new LocalPlatform("plain", { dataDir: "/var/floe" });
    await m.settled(p.cdcHealthUrl, p.restCatalogUri, p.restCatalogCredential);
    expect(m.ofType(SERVER)).toHaveLength(0);
    expect(only(m, WRITER, "plain").inputs.config.catalog).toMatchObject({ type: "sql", name: "floe" });
    expect(await valueOf(p.restCatalogUri)).toBeUndefined();
    expect(await valueOf(p.restCatalogCredential)).toBeUndefined();
  });

  test("rest: the server under the catalog piece on shard 0's catalog database, the writer through it with its credential", async () => {
    const p = new LocalPlatform("lp", { dataDir: "/var/floe", catalog: { rest: true, port: 18181 } });
    await m.settled(p.cdcHealthUrl, p.restCatalogUri, p.restCatalogCredential);
    // one server more than the SQL-only platform, nothing from random, kubernetes or aws
    const counts = countsUnder(m, "lp");
    expect(counts[SERVER]).toBe(1);
    expect(counts["pulumi-nodejs:dynamic/floe:LocalSqlCatalog"]).toBe(1);
    expect(Object.keys(counts).filter((t) => /random|kubernetes|aws|postgresql:/.test(t))).toEqual([]);
    const server = only(m, SERVER, "lp");
    expect(server.name).toBe("lp-catalog-rest");
    expect(server.parentUrn).toMatch(/IcebergCatalog::lp-catalog$/);
    const shard0 = only(m, "pulumi-nodejs:dynamic/floe:LocalPostgresServer", "lp").state;
    expect(server.inputs).toMatchObject({
      dir: "/var/floe/catalog",
      catalogUrl: `postgresql://postgres:${shard0.adminPassword}@127.0.0.1:${shard0.port}/floe_catalog`,
      name: "floe",
      warehouse: "file:///var/floe/warehouse",
      requestedPort: 18181,
    });
    const uri = await valueOf(p.restCatalogUri);
    const credential = await valueOf(p.restCatalogCredential);
    expect(uri).toBe("http://127.0.0.1:18181");
    expect(credential).toMatch(/^floe:/);
    expect(await isSecret(p.restCatalogCredential)).toBe(true);
    // the writer commits through the REST server with the server's credential (its config is a secret)
    expect(only(m, WRITER, "lp").inputs.config.catalog).toEqual({ type: "rest", uri, credential });
    // engines that read the SQL catalog (floe query) keep its URL
    expect(await valueOf(p.catalogUri)).toBe(server.inputs.catalogUrl);
    expect(m.secretLeaks()).toEqual([]);
  });

  test("refuses a non-boolean rest and a bad port, naming the input", () => {
    expect(() => new LocalPlatform("b1", { dataDir: "/x", catalog: { rest: 1 as unknown as boolean } })).toThrow(/catalog\.rest.*must be true or false/s);
    expect(() => new LocalPlatform("b2", { dataDir: "/x", catalog: { rest: true, port: -1 } })).toThrow(/catalog\.port.*-1/s);
  });

  test("DataPlatform target local: no REST server, restCatalogUri undefined", async () => {
    const d = new DataPlatform("dl", { target: "local" });
    await m.settled(d.catalogUri, d.restCatalogUri);
    expect(await valueOf(d.restCatalogUri)).toBeUndefined();
    expect(m.ofType(SERVER)).toHaveLength(0);
  });
});
