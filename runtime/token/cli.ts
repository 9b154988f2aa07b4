/**
 * `floe token-endpoint`: an OAuth2 token endpoint on the pod's loopback that hands out the pod's
 * projected service-account token, so that clients that can only fetch a token with OAuth2 client
 * credentials (Trino's and ClickHouse's Iceberg REST catalogs) authenticate to Lakekeeper with
 * the Kubernetes token the kubelet rotates. Every POST answers the token the file holds now, with
 * `expires_in` running out before the token does, so the client comes back for the next one.
 * GET /healthz answers 200 while the file holds a token. It listens on 127.0.0.1 only: any
 * container of the pod may ask, nothing outside it.
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";

export const usage = `usage: floe token-endpoint --token-file FILE [--port 8190] [--host 127.0.0.1]

Serves the token in FILE (a Kubernetes projected service-account token) as an OAuth2 token
endpoint: POST any path -> {"access_token": <FILE>, "token_type": "Bearer", "expires_in": ...}.
expires_in is the token's remaining lifetime (its JWT exp) less a minute, at least 10 s; 300 s for a
token that is not a JWT.`;

/** The seconds a client may keep `token` before asking again, at `nowMs`. */
export function expiresIn(token: string, nowMs: number): number {
  const parts = token.split(".");
  let exp: number | undefined;
  if (parts.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as { exp?: unknown };
      if (typeof claims.exp === "number") exp = claims.exp;
    } catch {
      // not a JWT: the default below
    }
  }
  if (exp === undefined) return 300;
  return Math.max(10, Math.floor(exp - nowMs / 1000) - 60);
}

/** Starts the endpoint; resolves once it listens. */
export async function serveTokenEndpoint(tokenFile: string, host: string, port: number): Promise<Server> {
  const read = async () => (await readFile(tokenFile, "utf8")).trim();
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let token: string;
    try {
      token = await read();
      if (!token) throw new Error(`${tokenFile} is empty`);
    } catch (e) {
      res
        .writeHead(503, { "content-type": "application/json" })
        .end(JSON.stringify({ error: "temporarily_unavailable", error_description: (e as Error).message }));
      return;
    }
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST" }).end();
      return;
    }
    const body = {
      access_token: token,
      token_type: "Bearer",
      expires_in: expiresIn(token, Date.now()),
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    };
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => void answer(req, res));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { "token-file": { type: "string" }, port: { type: "string", default: "8190" }, host: { type: "string", default: "127.0.0.1" } },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`floe token-endpoint: ${(e as Error).message}\n\n${usage}\n`);
    return 2;
  }
  const port = Number(values.port);
  if (!values["token-file"] || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`floe token-endpoint: --token-file is required and --port must be a TCP port\n\n${usage}\n`);
    return 2;
  }
  const server = await serveTokenEndpoint(values["token-file"], values.host!, port);
  const bound = (server.address() as { port: number }).port;
  process.stderr.write(`floe token-endpoint: serving ${values["token-file"]} on http://${values.host}:${bound}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close(() => resolve());
      server.closeAllConnections(); // keep-alive clients would hold the close until they idle out
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  return 0;
}
