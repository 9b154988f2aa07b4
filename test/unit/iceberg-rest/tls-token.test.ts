/**
 * The REST catalog client and the S3 FileIO against HTTPS servers whose certificate a CA made here
 * signed (what cert-manager's per-install CA does on kubernetes): trusted with `caFile`, refused
 * without it or with another CA. And `tokenFile`: a bearer token read from a file as the kubelet
 * rotates it, re-read after a 401. Real servers on 127.0.0.1, real TLS.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCatalog } from "../../../runtime/cdc/catalog";
import { parseCdcConfig } from "../../../runtime/cdc/config";
import { loadCa } from "../../../runtime/core/tls-ca";
import { FileTokenSource, NotAuthorizedError, RestCatalog } from "../../../runtime/iceberg/rest";
import { S3FileIO } from "../../../runtime/iceberg/s3";
import { makeCertificates, type TestCertificates } from "../../helpers/certificates";

let dir: string;
let certs: TestCertificates;
let server: Server;
let base: string;
/** The Authorization header of every request, and which token the server accepts. */
let auths: (string | undefined)[];
let accepted: string | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "floe-rest-tls-"));
  certs = makeCertificates(dir);
  server = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (req, res) => {
    auths.push(req.headers.authorization);
    req.resume();
    req.on("end", () => {
      if (accepted !== undefined && req.headers.authorization !== `Bearer ${accepted}`) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "token not accepted", type: "NotAuthorizedException", code: 401 } }));
      } else if (req.url?.startsWith("/v1/config")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ defaults: {}, overrides: { prefix: "wh" } }));
      } else if (req.url?.split("?")[0] === "/lake/data/file.bin") {
        // S3 GetObject, path style
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "3", etag: '"x"' });
        res.end(Buffer.from([1, 2, 3]));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  auths = [];
  accepted = undefined;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe("caFile: the REST client and S3 trust a CA of their own", () => {
  test("the REST client connects over https with the server's CA, and refuses without it or with another CA", async () => {
    const ok = await RestCatalog.connect({ uri: base, caFile: certs.ca, retry: { attempts: 1 } });
    expect(ok.properties.prefix).toBe("wh");
    await expect(RestCatalog.connect({ uri: base, retry: { attempts: 1 } })).rejects.toThrow(/fetch failed \(self-signed certificate\)|unable to verify/);
    await expect(RestCatalog.connect({ uri: base, caFile: certs.otherCa, retry: { attempts: 1 } })).rejects.toThrow(
      /self-signed certificate in certificate chain|unable to verify|unable to get local issuer/,
    );
  });

  test("the S3 FileIO reads from an https endpoint with the CA, and refuses without it", async () => {
    const opts = { endpoint: base, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" }, maxAttempts: 1 };
    const io = new S3FileIO({ ...opts, caFile: certs.ca });
    const without = new S3FileIO(opts);
    try {
      expect([...(await io.read("s3://lake/data/file.bin"))]).toEqual([1, 2, 3]);
      await expect(without.read("s3://lake/data/file.bin")).rejects.toThrow(/self-signed certificate|unable to verify/);
    } finally {
      io.close();
      without.close();
    }
  });

  test("an unreadable CA file and a file without a certificate are errors naming the file", () => {
    expect(() => loadCa(join(dir, "missing.crt"), "REST catalog rest")).toThrow(/REST catalog rest: cannot read the CA file .*missing\.crt/);
    writeFileSync(join(dir, "not-pem.crt"), "hello\n");
    expect(() => new S3FileIO({ caFile: join(dir, "not-pem.crt") })).toThrow(/S3 storage: the CA file .*not-pem\.crt holds no PEM certificate/);
    expect(loadCa(certs.ca, "x").length).toBeGreaterThan(1);
  });
});

describe("tokenFile: a bearer token read from a file as it rotates", () => {
  test("every request carries the file's token; a rotated token is picked up after the server refuses the old one", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "token-1\n");
    accepted = "token-1";
    const c = await RestCatalog.connect({ uri: base, caFile: certs.ca, tokenFile: file, retry: { attempts: 1 } });
    expect(auths).toEqual(["Bearer token-1"]);
    // the kubelet rotates the token; the server stops accepting the old one
    writeFileSync(file, "token-2\n");
    accepted = "token-2";
    auths = [];
    await (c as unknown as { http: { request(m: string, p: string, o: object): Promise<unknown> } }).http.request("GET", "/v1/config", { what: "config" });
    expect(auths).toEqual(["Bearer token-1", "Bearer token-2"]);
    // a token the server never accepts: one re-read, then NotAuthorizedError
    accepted = "something-else";
    auths = [];
    await expect(RestCatalog.connect({ uri: base, caFile: certs.ca, tokenFile: file, retry: { attempts: 1 } })).rejects.toThrow(NotAuthorizedError);
    expect(auths).toEqual(["Bearer token-2", "Bearer token-2"]);
  });

  test("the CDC writer's config reaches the client: catalog.caFile and catalog.tokenFile (and storage.caFile for its S3 tables)", async () => {
    const file = join(dir, "token-cfg");
    writeFileSync(file, "token-cfg\n");
    accepted = "token-cfg";
    const config = parseCdcConfig({
      sources: [{ name: "p", connectionString: "postgres://u@db.example/app" }],
      catalog: { type: "rest", uri: base, caFile: certs.ca, tokenFile: file },
      warehouse: "s3://lake/w",
      storage: { endpoint: base, forcePathStyle: true, caFile: certs.ca, accessKeyId: "a", secretAccessKey: "b" },
    });
    const catalog = (await openCatalog(config)) as RestCatalog;
    expect(catalog.properties.prefix).toBe("wh");
    expect(auths).toEqual(["Bearer token-cfg"]);
    // without the CA in the config the same catalog is refused
    await expect(openCatalog({ ...config, catalog: { ...config.catalog, caFile: undefined } as typeof config.catalog })).rejects.toThrow(
      /self-signed certificate|unable to verify/,
    );
  });

  test("the file is read again once the cached copy is older than maxAgeMs, not on every request", async () => {
    const file = join(dir, "token-age");
    writeFileSync(file, "a");
    const src = new FileTokenSource(file, 50);
    expect(await src.get()).toBe("a");
    writeFileSync(file, "b");
    expect(await src.get()).toBe("a");
    expect(src.reads).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(await src.get()).toBe("b");
    expect(src.reads).toBe(2);
  });

  test("a missing or empty token file is an error naming it; token, tokenFile and credential exclude each other", async () => {
    await expect(new FileTokenSource(join(dir, "nope")).get()).rejects.toThrow(/cannot read the catalog token file .*nope/);
    writeFileSync(join(dir, "empty"), "\n");
    await expect(new FileTokenSource(join(dir, "empty")).get()).rejects.toThrow(/the catalog token file .*empty is empty/);
    expect(() => new RestCatalog({ uri: base, token: "t", tokenFile: "/f" })).toThrow(
      "give one of token, tokenFile and oauth2/credential, not token and tokenFile",
    );
    const cfg = (catalog: object) =>
      parseCdcConfig({
        sources: [{ name: "p", connectionString: "postgres://u@h/db" }],
        catalog: { type: "rest", uri: "https://c/catalog", ...catalog },
        warehouse: "s3://b/w",
      });
    expect(cfg({ tokenFile: "/var/run/secrets/floe/token", caFile: "/etc/floe-tls/ca.crt" }).catalog).toMatchObject({
      tokenFile: "/var/run/secrets/floe/token",
    });
    expect(() => cfg({ token: "t", tokenFile: "/f" })).toThrow(/catalog\.tokenFile.*give one of token, tokenFile and credential, not token and tokenFile/s);
  });
});
