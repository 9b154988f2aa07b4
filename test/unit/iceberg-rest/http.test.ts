/**
 * REST client behaviour that a well-behaved fixture never shows (token expiry, 401 after
 * revocation, 5xx, prefixes), against a small real HTTP server on 127.0.0.1 started here.
 * Nothing is mocked: the client sends real HTTP requests and this server answers them.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { CommitConflictError, CommitStateUnknownError, idempotencyKey, NoSuchTableError } from "../../../runtime/iceberg/catalog";
import {
  ForbiddenError,
  isoDurationMs,
  NotAuthorizedError,
  OAuth2Error,
  RestCatalog,
  RestCatalogError,
  storageCredentialsFor,
  uuidv7Millis,
} from "../../../runtime/iceberg/rest";
import { S3FileIO } from "../../../runtime/iceberg/s3";

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler;
let seen: Seen[];

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, type: string, message: string): void {
  json(res, status, { error: { message, type, code: status } });
}

const tableResult = (snapshotId: string) =>
  `{"metadata-location":"/w/db/t/metadata/1.json","metadata":{"format-version":2,"table-uuid":"u","location":"/w/db/t",` +
  `"last-sequence-number":1,"last-updated-ms":1,"last-column-id":1,"schemas":[],"current-schema-id":0,"partition-specs":[],` +
  `"default-spec-id":0,"last-partition-id":999,"properties":{},"current-snapshot-id":${snapshotId},"snapshots":[],"snapshot-log":[],` +
  `"metadata-log":[],"sort-orders":[],"default-sort-order-id":0,"refs":{}}}`;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const u = new URL(req.url!, "http://x");
      const s: Seen = { method: req.method!, path: u.pathname, query: u.searchParams, headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  seen = [];
});

/** A catalog server with OAuth2: tokens "tok-1", "tok-2", … each valid for `lifetime` seconds. */
function oauthServer(lifetime: number | undefined, opts: { revoke?: Set<string> } = {}): { issued: string[] } {
  const issued: string[] = [];
  handler = (req, res) => {
    if (req.path === "/v1/oauth/tokens") {
      const form = new URLSearchParams(req.body);
      if (form.get("client_secret") !== "s3cret" || form.get("client_id") !== "floe") {
        return json(res, 401, { error: "invalid_client", error_description: "unknown client or bad secret" });
      }
      expect(form.get("grant_type")).toBe("client_credentials");
      expect(req.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      const token = `tok-${issued.length + 1}`;
      issued.push(token);
      return json(res, 200, {
        access_token: token,
        token_type: "Bearer",
        ...(lifetime !== undefined ? { expires_in: lifetime } : {}),
        scope: form.get("scope"),
      });
    }
    const auth = req.headers.authorization ?? "";
    const token = auth.replace(/^Bearer /, "");
    if (!issued.includes(token) || opts.revoke?.has(token)) return error(res, 401, "NotAuthorizedException", "bad token");
    if (req.path === "/v1/config") return json(res, 200, { defaults: {}, overrides: {} });
    if (req.path === "/v1/namespaces/db") return res.writeHead(204).end();
    return error(res, 404, "NoSuchNamespaceException", "nope");
  };
  return { issued };
}

test("OAuth2 client credentials: form fields, bearer use, caching", async () => {
  const { issued } = oauthServer(3600);
  const c = await RestCatalog.connect({ uri: base, oauth2: { clientId: "floe", clientSecret: "s3cret", scope: "catalog" } });
  expect(await c.namespaceExists(["db"])).toBe(true);
  expect(await c.namespaceExists(["db"])).toBe(true);
  expect(issued).toEqual(["tok-1"]);
  const calls = seen.filter((s) => s.path !== "/v1/oauth/tokens");
  expect(calls.every((s) => s.headers.authorization === "Bearer tok-1")).toBe(true);
  const tokenReq = new URLSearchParams(seen.find((s) => s.path === "/v1/oauth/tokens")!.body);
  expect(tokenReq.get("scope")).toBe("catalog");
});

test("OAuth2: an expiring token is refreshed before use; concurrent callers share one fetch", async () => {
  // expires_in 1 s: with a 10% margin the token is stale after 0.9 s
  const { issued } = oauthServer(1);
  const c = await RestCatalog.connect({ uri: base, credential: "floe:s3cret" });
  await Promise.all([c.namespaceExists(["db"]), c.namespaceExists(["db"]), c.namespaceExists(["db"])]);
  expect(issued).toEqual(["tok-1"]);
  await new Promise((r) => setTimeout(r, 1_000));
  await Promise.all([c.namespaceExists(["db"]), c.namespaceExists(["db"])]);
  expect(issued).toEqual(["tok-1", "tok-2"]);
  expect(
    seen
      .filter((s) => s.path === "/v1/namespaces/db")
      .slice(-2)
      .map((s) => s.headers.authorization),
  ).toEqual(["Bearer tok-2", "Bearer tok-2"]);
});

test("OAuth2: a 401 on a revoked token fetches a new token once and retries; a second 401 is NotAuthorizedError", async () => {
  const revoke = new Set<string>();
  const { issued } = oauthServer(undefined, { revoke });
  const c = await RestCatalog.connect({ uri: base, credential: "floe:s3cret" });
  revoke.add("tok-1");
  expect(await c.namespaceExists(["db"])).toBe(true);
  expect(issued).toEqual(["tok-1", "tok-2"]);
  revoke.add("tok-2");
  revoke.add("tok-3");
  await expect(c.namespaceExists(["db"])).rejects.toBeInstanceOf(NotAuthorizedError);
  expect(issued).toEqual(["tok-1", "tok-2", "tok-3"]);
});

test("OAuth2: bad client secret is a clear OAuth2Error with the server's description", async () => {
  oauthServer(3600);
  await expect(RestCatalog.connect({ uri: base, credential: "floe:wrong" })).rejects.toThrow(OAuth2Error);
  await expect(RestCatalog.connect({ uri: base, credential: "floe:wrong" })).rejects.toThrow(/HTTP 401 \(invalid_client\): unknown client or bad secret/);
});

test("OAuth2: a separate token server (oauth2-server-uri) and HTTP Basic client auth", async () => {
  const idp = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const basic = Buffer.from(String(req.headers.authorization).replace(/^Basic /, ""), "base64").toString();
      if (req.url !== "/realms/x/token" || basic !== "floe:s3cret" || new URLSearchParams(body).has("client_secret")) {
        return json(res, 400, { error: "invalid_request" });
      }
      json(res, 200, { access_token: "idp-token", token_type: "bearer", expires_in: 300 });
    });
  });
  await new Promise<void>((r) => idp.listen(0, "127.0.0.1", r));
  try {
    handler = (req, res) => {
      if (req.headers.authorization !== "Bearer idp-token") return error(res, 401, "NotAuthorizedException", "no");
      json(res, 200, { defaults: {}, overrides: {} });
    };
    const port = (idp.address() as AddressInfo).port;
    const c = await RestCatalog.connect({
      uri: base,
      oauth2: { clientId: "floe", clientSecret: "s3cret", serverUri: `http://127.0.0.1:${port}/realms/x/token`, authMethod: "basic" },
    });
    expect(c.tokenSource?.fetches).toBe(1);
    expect(seen.some((s) => s.path === "/v1/oauth/tokens")).toBe(false);
  } finally {
    await new Promise((r) => idp.close(r));
  }
});

test("static bearer token, 403 is ForbiddenError", async () => {
  handler = (req, res) => {
    if (req.path === "/v1/config") return json(res, 200, {});
    error(res, 403, "ForbiddenException", "read-only principal");
  };
  const c = await RestCatalog.connect({ uri: base, token: "static-1" });
  await expect(c.createNamespace(["db"])).rejects.toThrow(ForbiddenError);
  expect(seen.every((s) => s.headers.authorization === "Bearer static-1")).toBe(true);
});

test("config: warehouse is sent, server prefix and multi-level namespaces shape the paths", async () => {
  handler = (req, res) => {
    if (req.path === "/v1/config") return json(res, 200, { defaults: { prefix: "ignored" }, overrides: { prefix: "catalogs/123" } });
    if (req.path === "/v1/catalogs/123/namespaces/a%1Fb/tables/t")
      return res.writeHead(200, { "content-type": "application/json" }).end(tableResult("9007199254740993"));
    error(res, 404, "NoSuchTableException", `no ${req.path}`);
  };
  const c = await RestCatalog.connect({ uri: `${base}/`, warehouse: "s3://bucket/wh" });
  expect(seen[0].query.get("warehouse")).toBe("s3://bucket/wh");
  const t = await c.loadTable({ namespace: ["a", "b"], name: "t" });
  // a 64-bit snapshot id survives exactly
  expect(t.metadata["current-snapshot-id"]).toBe(9007199254740993n);
  await expect(c.loadTable({ namespace: ["a"], name: "t" })).rejects.toBeInstanceOf(NoSuchTableError);
});

test("retries: idempotent GETs retry 5xx with backoff; a commit is not retried on 500 or 503 and reports unknown state", async () => {
  let n = 0;
  handler = (req, res) => {
    if (req.path === "/v1/config") return json(res, 200, {});
    if (req.method === "GET") {
      n++;
      if (n < 3) return error(res, 502, "BadGateway", "upstream down");
      return res.writeHead(200, { "content-type": "application/json" }).end(tableResult("-1"));
    }
    if (req.path.endsWith("/conflict")) return error(res, 409, "CommitFailedException", "Requirement failed: branch main has changed");
    if (req.path.endsWith("/busy")) {
      n++;
      if (n < 2) return error(res, 503, "ServiceUnavailableException", "try later");
      return res.writeHead(200, { "content-type": "application/json" }).end(tableResult("7"));
    }
    error(res, 500, "RuntimeException", "database timeout");
  };
  const c = await RestCatalog.connect({ uri: base, retry: { attempts: 4, baseDelayMs: 5 } });
  const t = await c.loadTable({ namespace: ["db"], name: "t" });
  expect(t.metadata["current-snapshot-id"]).toBe(-1n);
  expect(n).toBe(3);

  seen = [];
  await expect(c.commitTable({ namespace: ["db"], name: "t" }, [], [])).rejects.toBeInstanceOf(CommitStateUnknownError);
  expect(seen).toHaveLength(1);

  seen = [];
  const conflict = c.commitTable({ namespace: ["db"], name: "conflict" }, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 5n }], []);
  await expect(conflict).rejects.toBeInstanceOf(CommitConflictError);
  await expect(conflict).rejects.toThrow(/branch main has changed/);
  // the requirement went over the wire as the spec names it, the id as a bare integer
  expect(seen[0].body).toContain('"requirements":[{"type":"assert-ref-snapshot-id","ref":"main","snapshot-id":5}]');
  expect(JSON.parse(seen[0].body).identifier).toEqual({ namespace: ["db"], name: "conflict" });

  // a 503 to a commit: Iceberg's Java client reads it as "commit state unknown" too; not re-sent here (the table writer settles it)
  n = 0;
  seen = [];
  await expect(c.commitTable({ namespace: ["db"], name: "busy" }, [], [])).rejects.toBeInstanceOf(CommitStateUnknownError);
  expect(seen).toHaveLength(1);
  // no Idempotency-Key: this server's config does not advertise idempotency-key-lifetime
  expect(seen[0].headers["idempotency-key"]).toBeUndefined();

  // a GET that keeps failing gives up after `attempts` with the last error
  handler = (req, res) => (req.path === "/v1/config" ? json(res, 200, {}) : error(res, 500, "RuntimeException", "always"));
  seen = [];
  await expect(c.loadTable({ namespace: ["db"], name: "t" })).rejects.toThrow(RestCatalogError);
  expect(seen).toHaveLength(4);
});

test("access delegation header on load; storage-credentials with the longest matching prefix configure S3", async () => {
  handler = (req, res) => {
    if (req.path === "/v1/config") return json(res, 200, {});
    const body = JSON.parse(tableResult("1"));
    body.metadata.location = "s3://lake/wh/db/t";
    body["storage-credentials"] = [
      { prefix: "s3://lake/", config: { "s3.access-key-id": "broad", "s3.secret-access-key": "x" } },
      { prefix: "s3://lake/wh/db/", config: { "s3.access-key-id": "narrow", "s3.secret-access-key": "y", "s3.session-token": "t" } },
      { prefix: "s3://other/", config: { "s3.access-key-id": "wrong", "s3.secret-access-key": "z" } },
    ];
    json(res, 200, body);
  };
  const c = await RestCatalog.connect({ uri: base, accessDelegation: "vended-credentials", s3: { endpoint: "http://127.0.0.1:1" } });
  const t = await c.loadTable({ namespace: ["db"], name: "t" });
  expect(seen[1].headers["x-iceberg-access-delegation"]).toBe("vended-credentials");
  expect(storageCredentialsFor(t, t.metadata.location)).toMatchObject({ "s3.access-key-id": "narrow" });
  const io = c.fileIO(t) as S3FileIO;
  const creds = await io.client.config.credentials();
  expect(creds).toMatchObject({ accessKeyId: "narrow", secretAccessKey: "y", sessionToken: "t" });
  expect(c.fileIO(t)).toBe(io); // one client per table config
  c.close();
});

test("servers that announce endpoints without HEAD get GET for existence checks", async () => {
  handler = (req, res) => {
    if (req.path === "/v1/config")
      return json(res, 200, { endpoints: ["GET /v1/{prefix}/namespaces/{namespace}", "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}"] });
    if (req.method === "HEAD") return res.writeHead(405).end();
    if (req.path === "/v1/namespaces/db") return json(res, 200, { namespace: ["db"], properties: {} });
    if (req.path === "/v1/namespaces/db/tables/t") return res.writeHead(200, { "content-type": "application/json" }).end(tableResult("1"));
    error(res, 404, "NoSuchTableException", "no");
  };
  const c = await RestCatalog.connect({ uri: base });
  expect(await c.namespaceExists(["db"])).toBe(true);
  expect(await c.tableExists({ namespace: ["db"], name: "t" })).toBe(true);
  expect(await c.tableExists({ namespace: ["db"], name: "u" })).toBe(false);
  expect(seen.slice(1).map((s) => s.method)).toEqual(["GET", "GET", "GET"]);
});

test("Idempotency-Key where the config advertises idempotency-key-lifetime: a UUIDv7 per mutation, kept by its retries; a commit sends the caller's key until the lifetime is over", async () => {
  let failures = 0;
  handler = (req, res) => {
    if (req.path === "/v1/config") return json(res, 200, { defaults: {}, overrides: {}, "idempotency-key-lifetime": "PT30M" });
    if (req.method === "POST" && req.path === "/v1/namespaces" && failures++ < 1) return error(res, 502, "BadGateway", "lost");
    if (req.method === "POST" && req.path === "/v1/namespaces") return json(res, 200, { namespace: ["db"], properties: {} });
    if (req.method === "DELETE") return res.writeHead(204).end();
    if (req.method === "POST") return res.writeHead(200, { "content-type": "application/json" }).end(tableResult("3"));
    error(res, 404, "NoSuchTableException", "none");
  };
  const c = await RestCatalog.connect({ uri: base, retry: { attempts: 3, baseDelayMs: 1 } });
  expect(c.idempotencyLifetimeMs).toBe(30 * 60_000);
  seen = [];
  // a create that got a 502 is retried (the server acts at most once per key), with the same key
  await c.createNamespace(["db"]);
  expect(seen.map((x) => x.method)).toEqual(["POST", "POST"]);
  const key = String(seen[0].headers["idempotency-key"]);
  expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(Math.abs(uuidv7Millis(key) - Date.now())).toBeLessThan(60_000);
  expect(seen[1].headers["idempotency-key"]).toBe(key);
  // another mutation: another key; reads carry none
  seen = [];
  await c.dropTable({ namespace: ["db"], name: "t" });
  await c.loadTable({ namespace: ["db"], name: "missing" }).catch(() => undefined);
  expect(seen[0].headers["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
  expect(seen[0].headers["idempotency-key"]).not.toBe(key);
  expect(seen[1].headers["idempotency-key"]).toBeUndefined();
  // a commit: the caller's key, the same on a re-send of the same commit
  const commitKey = idempotencyKey();
  seen = [];
  await c.commitTable({ namespace: ["db"], name: "t" }, [], [], { idempotencyKey: commitKey });
  await c.commitTable({ namespace: ["db"], name: "t" }, [], [], { idempotencyKey: commitKey });
  expect(seen.map((x) => x.headers["idempotency-key"])).toEqual([commitKey, commitKey]);
  // past the advertised lifetime a key is not reused: a fresh one
  const old = idempotencyKey(Date.now() - 31 * 60_000);
  seen = [];
  await c.commitTable({ namespace: ["db"], name: "t" }, [], [], { idempotencyKey: old });
  expect(seen[0].headers["idempotency-key"]).not.toBe(old);
  expect(uuidv7Millis(String(seen[0].headers["idempotency-key"]))).toBeGreaterThan(uuidv7Millis(old));
});

test("idempotency-key-lifetime: ISO-8601 durations; anything else is refused with the value named", () => {
  expect(isoDurationMs("PT30M")).toBe(1_800_000);
  expect(isoDurationMs("PT24H")).toBe(86_400_000);
  expect(isoDurationMs("P1DT1.5S")).toBe(86_401_500);
  for (const bad of ["30m", "P", "PT", "P1H"]) expect(() => isoDurationMs(bad)).toThrow(new RegExp(`"${bad}" is not an ISO-8601 duration`));
});
