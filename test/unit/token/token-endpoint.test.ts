/**
 * floe token-endpoint: a real server on 127.0.0.1 serving a token file as OAuth2 token answers,
 * read again at every request (the kubelet rotates the file), with expires_in before the token's
 * own expiry.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expiresIn, main, serveTokenEndpoint } from "../../../runtime/token/cli";

const jwt = (exp: number) => `h.${Buffer.from(JSON.stringify({ sub: "system:serviceaccount:floe:trino", exp })).toString("base64url")}.s`;

test("expires_in: the JWT's remaining lifetime less a minute, at least 10 s; 300 s without a JWT exp", () => {
  const now = 1_000_000_000_000;
  expect(expiresIn(jwt(now / 1000 + 3600), now)).toBe(3540);
  expect(expiresIn(jwt(now / 1000 + 30), now)).toBe(10);
  expect(expiresIn("opaque-token", now)).toBe(300);
  expect(expiresIn("a.bm90IGpzb24.c", now)).toBe(300);
});

describe("the endpoint", () => {
  let dir: string;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "floe-token-"));
    writeFileSync(join(dir, "token"), `${jwt(Math.floor(Date.now() / 1000) + 3600)}\n`);
    server = await serveTokenEndpoint(join(dir, "token"), "127.0.0.1", 0);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test("a client-credentials POST gets the file's token; a rotated file is served at the next request", async () => {
    const post = async () => {
      const res = await fetch(`${url}/v1/oauth/tokens`, { method: "POST", body: "grant_type=client_credentials&client_id=floe&client_secret=x" });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const first = await post();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: "Bearer", access_token: expect.stringMatching(/^h\./) });
    expect(first.body.expires_in).toBeGreaterThan(3000);
    const rotated = jwt(Math.floor(Date.now() / 1000) + 7200);
    writeFileSync(join(dir, "token"), rotated);
    expect((await post()).body.access_token).toBe(rotated);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/v1/oauth/tokens`)).status).toBe(405);
  });

  test("an empty or missing token file is a 503 naming it, not an empty token", async () => {
    writeFileSync(join(dir, "token"), "");
    const res = await fetch(`${url}/token`, { method: "POST" });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "temporarily_unavailable", error_description: expect.stringContaining("is empty") });
    rmSync(join(dir, "token"));
    expect((await fetch(`${url}/healthz`)).status).toBe(503);
  });
});

describe("floe token-endpoint (the command)", () => {
  test("serves until SIGTERM and exits 0; a missing --token-file or a bad port is a usage error (2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "floe-token-cli-"));
    writeFileSync(join(dir, "token"), "tok-1");
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    try {
      expect(await main(["--port", "1"])).toBe(2);
      expect(await main(["--token-file", "/x", "--port", "70000"])).toBe(2);
      expect(await main(["--token-file", "/x", "--bogus"])).toBe(2);
      const running = main(["--token-file", join(dir, "token"), "--port", "0"]);
      let url: string | undefined;
      for (let i = 0; i < 200 && !url; i++) {
        url = lines.map((l) => /on (http:\/\/127\.0\.0\.1:\d+)/.exec(l)?.[1]).find(Boolean);
        if (!url) await new Promise((r) => setTimeout(r, 10));
      }
      expect(url).toBeDefined();
      const res = await fetch(`${url}/v1/oauth/tokens`, { method: "POST", headers: { connection: "close" } });
      expect(((await res.json()) as { access_token: string }).access_token).toBe("tok-1");
      process.emit("SIGTERM");
      expect(await running).toBe(0);
    } finally {
      spy.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
