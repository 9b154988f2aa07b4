/**
 * OAuth2 for the REST catalog client: the client-credentials flow against `POST /v1/oauth/tokens`
 * (the REST spec's own endpoint) or an external `oauth2ServerUri`, with a cached token refreshed
 * before it expires (from `expires_in`, else a JWT's `exp`), single-flight fetches, and
 * `invalidate()` for the HTTP client to call on a 401 / 419. Iceberg's `credential` property
 * ("client_id:client_secret") is parsed here too; `FileTokenSource` reads a bearer token from a
 * file as it rotates. Used by rest.ts; rest-http.ts only sees a token provider.
 */
import { readFile } from "node:fs/promises";
import { IcebergError } from "./catalog";
import type { ErrorModel } from "./rest-http";

/** The OAuth2 token endpoint refused the client credentials or answered nonsense. */
export class OAuth2Error extends IcebergError {}

export interface OAuth2Options {
  clientId: string;
  clientSecret: string;
  /** Token endpoint. Defaults to `<uri>/v1/oauth/tokens` (the REST spec's own endpoint). */
  serverUri?: string;
  /** Defaults to "catalog" (what Iceberg's Java client asks for). */
  scope?: string;
  audience?: string;
  resource?: string;
  /**
   * How the client authenticates to the token endpoint: "body" (client_id/client_secret form
   * fields, as Iceberg's Java client does) or "basic" (HTTP Basic). Defaults to "body".
   */
  authMethod?: "body" | "basic";
  /** Refresh this long before `expires_in` runs out. Defaults to 60 s (or 10% of a shorter lifetime). */
  refreshMarginMs?: number;
}

/** Client-credentials token source with caching, early refresh and single-flight fetches. */
export class OAuth2TokenSource {
  private token?: string;
  private expiresAt = Infinity;
  private inflight?: Promise<string>;
  /** How many tokens were fetched (for tests and metrics). */
  fetches = 0;

  constructor(
    private readonly opts: OAuth2Options & { serverUri: string },
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs: number,
  ) {}

  async get(): Promise<string> {
    if (this.token !== undefined && Date.now() < this.expiresAt) return this.token;
    return this.refresh();
  }

  /** Drops the cached token (after a 401) and fetches a new one. */
  invalidate(): void {
    this.token = undefined;
  }

  refresh(): Promise<string> {
    if (!this.inflight) {
      this.inflight = this.fetchToken().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async fetchToken(): Promise<string> {
    const form = new URLSearchParams({ grant_type: "client_credentials", scope: this.opts.scope ?? "catalog" });
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if ((this.opts.authMethod ?? "body") === "basic") {
      const enc = (s: string) => encodeURIComponent(s);
      headers.authorization = `Basic ${Buffer.from(`${enc(this.opts.clientId)}:${enc(this.opts.clientSecret)}`).toString("base64")}`;
    } else {
      if (this.opts.clientId) form.set("client_id", this.opts.clientId);
      form.set("client_secret", this.opts.clientSecret);
    }
    if (this.opts.audience) form.set("audience", this.opts.audience);
    if (this.opts.resource) form.set("resource", this.opts.resource);
    let res: Response;
    try {
      res = await this.fetchImpl(this.opts.serverUri, {
        method: "POST",
        headers,
        body: form.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new OAuth2Error(`OAuth2 token endpoint ${this.opts.serverUri} unreachable: ${(e as Error).message}`);
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      // not JSON: reported below
    }
    if (!res.ok) {
      // RFC 6749 §5.2: {"error": "invalid_client", "error_description": "…"}; Iceberg servers may nest it.
      const err = body.error as unknown;
      const code = typeof err === "string" ? err : (err as ErrorModel | undefined)?.type;
      const desc = (body.error_description as string | undefined) ?? (err as ErrorModel | undefined)?.message ?? text.slice(0, 200);
      throw new OAuth2Error(
        `OAuth2 token request to ${this.opts.serverUri} failed with HTTP ${res.status}${code ? ` (${code})` : ""}: ${desc || "no details"}`,
      );
    }
    const token = body.access_token;
    if (typeof token !== "string" || token.length === 0) {
      throw new OAuth2Error(`OAuth2 token endpoint ${this.opts.serverUri} returned no access_token`);
    }
    const tokenType = typeof body.token_type === "string" ? body.token_type.toLowerCase() : "bearer";
    if (tokenType !== "bearer" && tokenType !== "n_a") {
      throw new OAuth2Error(`OAuth2 token endpoint returned token_type "${body.token_type}", expected "Bearer"`);
    }
    const lifetimeMs = typeof body.expires_in === "number" ? body.expires_in * 1000 : jwtLifetimeMs(token);
    if (lifetimeMs !== undefined) {
      const margin = Math.min(this.opts.refreshMarginMs ?? 60_000, lifetimeMs / 10);
      this.expiresAt = Date.now() + lifetimeMs - margin;
    } else {
      this.expiresAt = Infinity;
    }
    this.token = token;
    this.fetches++;
    return token;
  }
}

/** Remaining lifetime of a JWT access token from its `exp` claim, if it is a JWT. */
function jwtLifetimeMs(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return typeof claims.exp === "number" ? claims.exp * 1000 - Date.now() : undefined;
  } catch {
    return undefined;
  }
}

/** Iceberg's `credential` property: "client_id:client_secret", or just a secret. */
export function parseCredential(credential: string): OAuth2Options {
  const i = credential.indexOf(":");
  return i < 0 ? { clientId: "", clientSecret: credential } : { clientId: credential.slice(0, i), clientSecret: credential.slice(i + 1) };
}

/**
 * A bearer token read from a file and read again as it changes: a Kubernetes projected
 * service-account token, which the kubelet replaces before it expires (at 80% of its lifetime).
 * The file is re-read when the cached copy is older than `maxAgeMs` and after a 401 / 419
 * (`invalidate`), so a rotated token is used within a minute and a revoked one is retried once.
 */
export class FileTokenSource {
  private token?: string;
  private readAt = 0;
  /** How many times the file was read (for tests). */
  reads = 0;

  constructor(
    private readonly file: string,
    private readonly maxAgeMs = 60_000,
  ) {}

  async get(): Promise<string> {
    if (this.token !== undefined && Date.now() - this.readAt < this.maxAgeMs) return this.token;
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      throw new IcebergError(`cannot read the catalog token file ${this.file}: ${(e as Error).message}`);
    }
    const token = text.trim();
    if (!token) throw new IcebergError(`the catalog token file ${this.file} is empty`);
    this.token = token;
    this.readAt = Date.now();
    this.reads++;
    return token;
  }

  invalidate(): void {
    this.token = undefined;
  }
}
