/**
 * Extra CA certificates for the HTTPS clients (the REST catalog client, the S3 FileIO): a PEM file
 * (kubernetes: the CA of the certificates cert-manager issues to MinIO and Lakekeeper, mounted in
 * the pod) trusted on top of the public CAs, the way NODE_EXTRA_CA_CERTS adds to them, but per
 * client and named in the config. Node's global fetch takes no CA, so `caFetch` sends the REST
 * client's requests through node:https with an agent that trusts the file.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { rootCertificates } from "node:tls";
import { PermanentError } from "./errors";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The public CAs plus the certificates of a PEM file. Throws a PermanentError naming `what` and the file when it is unreadable or holds no certificate. */
export function loadCa(file: string, what: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new PermanentError("config", `${what}: cannot read the CA file ${file}: ${(e as Error).message}`);
  }
  const certs = text.match(PEM_CERT);
  if (!certs) throw new PermanentError("config", `${what}: the CA file ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return [...rootCertificates, ...certs];
}

/** An https.Agent that trusts `ca` (keep-alive, as fetch's own pool is). */
export function caAgent(ca: string[]): Agent {
  return new Agent({ ca, keepAlive: true });
}

/**
 * A fetch for the REST catalog client whose https: requests trust `ca` (http: ones go to the
 * global fetch). Covers what the client sends: a method, string headers, a string body, an
 * AbortSignal; the answer is a standard Response.
 */
export function caFetch(ca: string[]): typeof fetch {
  const agent = caAgent(ca);
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.protocol !== "https:") return fetch(input, init);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init.method ?? "GET", headers, agent, signal: init.signal ?? undefined }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
          const status = res.statusCode ?? 0;
          const nullBody = status === 204 || status === 304 || init.method === "HEAD";
          resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: h }));
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  }) as typeof fetch;
}
