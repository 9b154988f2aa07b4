/**
 * The HTTP side of the REST catalog client: one call = auth headers (a static bearer token or an
 * OAuth2 token provider), SigV4 signing when configured, a per-request timeout, retries, and the
 * mapping of HTTP answers to the catalog's errors.
 *
 * - Idempotent calls (GET, HEAD, DELETE), and mutations sent with an `Idempotency-Key` (the
 *   server replays the first answer instead of acting twice), are retried with exponential backoff
 *   and full jitter on 429, 5xx and network errors, with the same key; other calls retry 429/503
 *   (the server did not act on them).
 * - A 401 (or Iceberg's 419 "AuthenticationTimeout") with OAuth2 fetches one fresh token and
 *   tries again; then it is `NotAuthorizedError`.
 * - 404 / 409 become NoSuchTable / NoSuchNamespace / TableAlreadyExists / NamespaceAlreadyExists /
 *   CommitConflict errors depending on the call. A commit is sent once: a 409 is a definite
 *   conflict, and a commit whose request may have reached the server (a network error or timeout,
 *   any 5xx: the REST spec's 500/502/504 "commit state unknown", and 503 as Iceberg's Java client
 *   reads it) is `CommitStateUnknownError`, which its caller settles by sending it again.
 *
 * The catalog operations (paths, bodies, config) are in rest.ts.
 */
import {
  CommitConflictError,
  CommitStateUnknownError,
  IcebergError,
  NamespaceAlreadyExistsError,
  NoSuchNamespaceError,
  NoSuchTableError,
  TableAlreadyExistsError,
} from "./catalog";
import type { SigV4Signer } from "./sigv4";
import { parseIcebergJson, stringifyIcebergJson } from "./spec";

/** Any non-success answer from a REST catalog that has no more specific error class. */
export class RestCatalogError extends IcebergError {
  constructor(
    message: string,
    readonly status: number,
    /** The server's `error.type`, e.g. "BadRequestException". */
    readonly errorType?: string,
  ) {
    super(message);
  }
}
/** 401: no or bad credentials (after one token refresh, for OAuth2). */
export class NotAuthorizedError extends RestCatalogError {}
/** 403: the credentials are valid but may not do this. */
export class ForbiddenError extends RestCatalogError {}

export interface RetryOptions {
  /** Total attempts, the first included. Defaults to 4. */
  attempts?: number;
  /** First backoff. Defaults to 100 ms, doubling, with full jitter. */
  baseDelayMs?: number;
  /** Defaults to 5 s. */
  maxDelayMs?: number;
}

export interface ErrorModel {
  message?: string;
  type?: string;
  code?: number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "DELETE"]);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Parses a REST payload keeping 64-bit snapshot ids exact (as bigint). */
export function parseRestJson<T = unknown>(text: string): T {
  return parseIcebergJson<T>(text);
}

/** Where OAuth2 bearer tokens come from (OAuth2TokenSource in rest-auth.ts). */
export interface TokenProvider {
  get(): Promise<string>;
  /** Drops the cached token (after a 401), so the next get() fetches a new one. */
  invalidate(): void;
}

export interface RestHttpOptions {
  /** Catalog name, for error messages. */
  name: string;
  /** A static bearer token. */
  token?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Per-request timeout. Defaults to 30 s. */
  timeoutMs?: number;
  retry?: RetryOptions;
  signer?: SigV4Signer;
  fetch: typeof fetch;
}

export interface CallOptions {
  /** What a 404 means for this call. */
  notFound?: "table" | "namespace";
  /** What a 409 means for this call. */
  conflict?: "table-exists" | "namespace-exists" | "commit";
  /** For error messages. */
  what: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Return null for 404 instead of throwing (HEAD existence checks). */
  allow404?: boolean;
  headers?: Record<string, string>;
  /** Sent as `Idempotency-Key` on every attempt of this call (only where the catalog advertises support). */
  idempotencyKey?: string;
}

/** Sends REST catalog calls (see the file head). */
export class RestHttpClient {
  /** Base URI without a trailing slash; the catalog's /v1/config may move it. */
  baseUri: string;
  /** OAuth2 tokens, when configured. */
  tokens?: TokenProvider;

  constructor(
    private readonly opts: RestHttpOptions,
    baseUri: string,
  ) {
    this.baseUri = baseUri;
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (this.opts.token) return { authorization: `Bearer ${this.opts.token}` };
    if (this.tokens) return { authorization: `Bearer ${await this.tokens.get()}` };
    return {};
  }

  /** One REST call with auth, signing, retries and error mapping. Returns parsed JSON (null for 404 when allowed, {} for 204). */
  async request(method: string, path: string, call: CallOptions): Promise<unknown> {
    const url = new URL(this.baseUri + path);
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const body = call.body === undefined ? undefined : stringifyIcebergJson(call.body);
    const retry = this.opts.retry ?? {};
    const attempts = Math.max(1, retry.attempts ?? 4);
    const base = retry.baseDelayMs ?? 100;
    const maxDelay = retry.maxDelayMs ?? 5_000;
    const idempotent = IDEMPOTENT.has(method);
    // the server acts at most once on requests with the same key: repeating them is safe
    const repeatable = idempotent || call.idempotencyKey !== undefined;
    const commit = call.conflict === "commit";
    let reauthed = false;
    let lastError: Error | undefined;

    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        const cap = Math.min(maxDelay, base * 2 ** (attempt - 2));
        await sleep(cap / 2 + Math.random() * (cap / 2));
      }
      let headers: Record<string, string> = {
        accept: "application/json",
        "x-client-version": "floe",
        ...(this.opts.headers ?? {}),
        ...(call.headers ?? {}),
        ...(await this.authHeaders()),
      };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (call.idempotencyKey !== undefined) headers["idempotency-key"] = call.idempotencyKey;
      if (this.opts.signer) headers = await this.opts.signer.sign({ method, url: url.toString(), headers, body });

      let res: Response;
      try {
        res = await this.opts.fetch(url, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
      } catch (e) {
        // fetch says only "fetch failed": its cause names the problem (a refused connection, an untrusted certificate)
        const cause = (e as { cause?: { message?: string } }).cause?.message;
        const msg = `${this.opts.name}: ${call.what}: ${method} ${url.origin}${url.pathname} failed: ${(e as Error).message}${cause ? ` (${cause})` : ""}`;
        if (commit) {
          // the request may have reached the server: the commit's fate is unknown
          throw new CommitStateUnknownError(msg);
        }
        lastError = new RestCatalogError(msg, 0);
        if (repeatable) continue;
        throw lastError;
      }

      if (res.ok) {
        if (method === "HEAD" || res.status === 204) return {};
        const text = await res.text();
        if (!text) return {};
        try {
          return parseRestJson(text);
        } catch {
          throw new RestCatalogError(`${this.opts.name}: ${call.what}: the server answered HTTP ${res.status} with invalid JSON`, res.status);
        }
      }

      const text = method === "HEAD" ? "" : await res.text().catch(() => "");
      let model: ErrorModel = {};
      try {
        const parsed = text ? JSON.parse(text) : {};
        model = (parsed && typeof parsed.error === "object" ? parsed.error : parsed) ?? {};
      } catch {
        model = { message: text.slice(0, 300) };
      }
      const detail = model.message ? `: ${model.message}` : "";
      const typ = model.type ? ` (${model.type})` : "";
      const prefix = `${this.opts.name}: ${call.what}`;
      const status = res.status;

      if (status === 404) {
        if (call.allow404) return null;
        const type = model.type ?? "";
        if (/NoSuchNamespace/i.test(type) || (call.notFound === "namespace" && !/NoSuchTable/i.test(type))) {
          throw new NoSuchNamespaceError(`${prefix}: namespace not found${detail}`);
        }
        if (/NoSuchTable/i.test(type) || call.notFound === "table") {
          throw new NoSuchTableError(`${prefix}: table not found${detail}`);
        }
        throw new RestCatalogError(`${prefix}: HTTP 404${typ}${detail}`, status, model.type);
      }
      if (status === 409) {
        if (call.conflict === "commit") throw new CommitConflictError(`${prefix}: conflict, reload and retry${typ}${detail}`);
        if (call.conflict === "table-exists") throw new TableAlreadyExistsError(`${prefix}: table already exists${detail}`);
        if (call.conflict === "namespace-exists") throw new NamespaceAlreadyExistsError(`${prefix}: namespace already exists${detail}`);
        throw new RestCatalogError(`${prefix}: HTTP 409${typ}${detail}`, status, model.type);
      }
      if (status === 401) {
        if (this.tokens && !reauthed) {
          // the token may have been revoked or expired early: one fresh token, then give up
          reauthed = true;
          this.tokens.invalidate();
          attempt--;
          continue;
        }
        throw new NotAuthorizedError(
          `${prefix}: HTTP 401 not authorized${detail}; check the catalog credentials (token, oauth2 client id/secret or AWS keys)`,
          status,
          model.type,
        );
      }
      if (status === 403) {
        throw new ForbiddenError(`${prefix}: HTTP 403 forbidden${detail}; the credentials lack permission for this`, status, model.type);
      }
      if (status === 419) {
        // Iceberg's "AuthenticationTimeout": the token expired
        if (this.tokens && !reauthed) {
          reauthed = true;
          this.tokens.invalidate();
          attempt--;
          continue;
        }
      }
      if (commit && status >= 500) {
        throw new CommitStateUnknownError(`${prefix}: HTTP ${status}, the commit state is unknown${typ}${detail}`);
      }
      const retryable = status === 429 || status === 503 || (repeatable && status >= 500);
      lastError = new RestCatalogError(`${prefix}: HTTP ${status}${typ}${detail}`, status, model.type);
      if (!retryable) throw lastError;
    }
    throw lastError ?? new RestCatalogError(`${this.opts.name}: ${call.what}: failed`, 0);
  }
}
