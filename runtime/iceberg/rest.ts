/**
 * Iceberg REST catalog client (the Apache Iceberg REST catalog OpenAPI spec), implementing the
 * `Catalog` contract of catalog.ts.
 *
 * - `GET /v1/config?warehouse=…` first; its `defaults` < client properties < `overrides`
 *   (a server can move the client to another `uri` or set a `prefix`, as Glue and S3 Tables do).
 * - Namespaces are multi-level: levels are joined with the unit separator (0x1F, `%1F` on the
 *   wire) or the server's `namespace-separator`.
 * - Commits are `POST /v1/{prefix}/namespaces/{ns}/tables/{table}` with requirements and
 *   updates; 409 (CommitFailedException) becomes `CommitConflictError`, which the table writer
 *   retries after a reload; 500/502/504 and lost connections become `CommitStateUnknownError`
 *   (the writer must not delete the commit's files).
 * - Auth: a static bearer token; OAuth2 client credentials (`POST /v1/oauth/tokens` or
 *   `oauth2ServerUri`), refreshed before expiry and once on a 401; SigV4 for AWS Glue (`glue`)
 *   and S3 Tables (`s3tables`).
 * - Idempotent calls (GET, HEAD, DELETE) are retried with exponential backoff and jitter on
 *   429, 5xx and network errors; every call retries 429/503 (the server did not act on them).
 */
import { fileURLToPath } from "url";
import {
  Catalog,
  CommitConflictError,
  CommitStateUnknownError,
  CreateTableRequest,
  IcebergError,
  LoadTableResult,
  NamespaceAlreadyExistsError,
  NoSuchNamespaceError,
  NoSuchTableError,
  TableAlreadyExistsError,
  TableIdentifier,
  TableRequirement,
  TableUpdate,
  tableIdString,
} from "./catalog";
import { FileIO, LocalFileIO } from "./io";
import { S3FileIO, S3FileIOOptions } from "./s3";
import { SigV4Options, SigV4Signer } from "./sigv4";
import { parseIcebergJson, stringifyIcebergJson } from "./spec";

// ---- errors ---------------------------------------------------------------------------------

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
/** The OAuth2 token endpoint refused the client credentials or answered nonsense. */
export class OAuth2Error extends IcebergError {}

// ---- options --------------------------------------------------------------------------------

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

export interface RetryOptions {
  /** Total attempts, the first included. Defaults to 4. */
  attempts?: number;
  /** First backoff. Defaults to 100 ms, doubling, with full jitter. */
  baseDelayMs?: number;
  /** Defaults to 5 s. */
  maxDelayMs?: number;
}

export interface RestCatalogOptions {
  /** Base URI, e.g. "http://127.0.0.1:8181" or "https://glue.us-east-1.amazonaws.com/iceberg". */
  uri: string;
  /** Catalog name used in logs and errors. Defaults to "rest". */
  name?: string;
  /** Sent as `?warehouse=` to /v1/config (Glue: the account id; S3 Tables: the table bucket ARN). */
  warehouse?: string;
  /** Path prefix after /v1/. Defaults to the `prefix` the server's config returns, else none. */
  prefix?: string;
  /** A static bearer token. */
  token?: string;
  /** OAuth2 client-credentials flow. Also settable as Iceberg's `credential` = "id:secret". */
  oauth2?: OAuth2Options;
  /** Iceberg's `credential` property, "client_id:client_secret" (or just a secret). */
  credential?: string;
  /** SigV4 signing (AWS Glue / S3 Tables). */
  sigv4?: SigV4Options;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * Sent as `X-Iceberg-Access-Delegation` when creating and loading tables, e.g.
   * "vended-credentials": catalogs such as Polaris and Lakekeeper only vend storage credentials
   * when asked. Defaults to not sending it.
   */
  accessDelegation?: string;
  /** Per-request timeout. Defaults to 30 s. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /**
   * Defaults for the S3FileIO of s3:// tables (endpoint, path style, region, credentials), under
   * whatever the catalog's config and the table's config set (`s3.*`, vended credentials).
   */
  s3?: S3FileIOOptions;
  /**
   * FileIO for a loaded table. Defaults to LocalFileIO for file: / absolute locations and an
   * S3FileIO configured from the catalog and table config (`s3.endpoint`, `s3.access-key-id`, …)
   * for s3:// locations.
   */
  fileIO?: (table: LoadTableResult, catalogConfig: Record<string, string>) => FileIO;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

interface ConfigResponse {
  defaults?: Record<string, string>;
  overrides?: Record<string, string>;
  endpoints?: string[];
}

interface ErrorModel {
  message?: string;
  type?: string;
  code?: number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "DELETE"]);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, "");
}

// ---- OAuth2 ---------------------------------------------------------------------------------

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

// ---- the client -----------------------------------------------------------------------------

interface CallOptions {
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
}

export class RestCatalog implements Catalog {
  readonly name: string;
  private readonly opts: RestCatalogOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly signer?: SigV4Signer;
  private oauth?: OAuth2TokenSource;
  private initialized?: Promise<void>;
  private baseUri: string;
  private prefix = "";
  private separator = "\u001f";
  /** Endpoints the server announced in /v1/config (undefined: it did not say, assume all). */
  private endpoints?: Set<string>;
  /** One S3 client per distinct table config (clients hold connection pools). */
  private readonly s3Clients = new Map<string, S3FileIO>();
  /** Merged catalog properties (defaults < client < overrides) from /v1/config. */
  properties: Record<string, string> = {};

  constructor(options: RestCatalogOptions) {
    if (!options.uri || !/^https?:\/\//.test(options.uri)) {
      throw new Error(`RestCatalog: uri must be an http(s) URL, got ${JSON.stringify(options.uri)}`);
    }
    if (options.token && (options.oauth2 || options.credential)) {
      throw new Error("RestCatalog: give either token (static bearer) or oauth2/credential, not both");
    }
    this.opts = options;
    this.name = options.name ?? "rest";
    this.baseUri = trimSlash(options.uri);
    this.fetchImpl = options.fetch ?? fetch;
    if (options.sigv4) this.signer = new SigV4Signer(options.sigv4);
    const oauth = options.oauth2 ?? (options.credential ? parseCredential(options.credential) : undefined);
    if (oauth) {
      this.oauth = new OAuth2TokenSource(
        { ...oauth, serverUri: oauth.serverUri ?? `${this.baseUri}/v1/oauth/tokens` },
        this.fetchImpl,
        options.timeoutMs ?? 30_000,
      );
    }
  }

  /** Creates the client and reads /v1/config, so bad URIs and credentials fail here. */
  static async connect(options: RestCatalogOptions): Promise<RestCatalog> {
    const c = new RestCatalog(options);
    await c.init();
    return c;
  }

  /** The OAuth2 token source, when OAuth2 is configured. */
  get tokenSource(): OAuth2TokenSource | undefined {
    return this.oauth;
  }

  init(): Promise<void> {
    if (!this.initialized) {
      this.initialized = this.loadConfig().catch((e) => {
        this.initialized = undefined;
        throw e;
      });
    }
    return this.initialized;
  }

  private async loadConfig(): Promise<void> {
    const cfg = (await this.request("GET", "/v1/config", {
      what: "load catalog config",
      query: { warehouse: this.opts.warehouse },
    })) as ConfigResponse;
    const client: Record<string, string> = {};
    if (this.opts.warehouse) client.warehouse = this.opts.warehouse;
    if (this.opts.prefix !== undefined) client.prefix = this.opts.prefix;
    this.properties = { ...(cfg.defaults ?? {}), ...client, ...(cfg.overrides ?? {}) };
    if (this.properties.uri && trimSlash(this.properties.uri) !== this.baseUri) {
      this.baseUri = trimSlash(this.properties.uri);
      if (this.oauth && !this.opts.oauth2?.serverUri) {
        // the token endpoint follows the catalog unless configured explicitly
        this.oauth = new OAuth2TokenSource(
          { ...(this.opts.oauth2 ?? parseCredential(this.opts.credential!)), serverUri: `${this.baseUri}/v1/oauth/tokens` },
          this.fetchImpl,
          this.opts.timeoutMs ?? 30_000,
        );
      }
    }
    // an explicit client prefix wins over the server's
    const prefix = this.opts.prefix ?? this.properties.prefix ?? "";
    this.prefix = prefix ? `/${prefix.replace(/^\/+|\/+$/g, "")}` : "";
    if (Array.isArray(cfg.endpoints)) this.endpoints = new Set(cfg.endpoints.map((e) => e.replace(/\s+/g, " ").trim()));
    if (this.properties["namespace-separator"]) this.separator = decodeURIComponent(this.properties["namespace-separator"]);
  }

  // ---- paths ----

  private nsPath(namespace: string[]): string {
    if (namespace.length === 0) throw new Error("namespace must have at least one level");
    return encodeURIComponent(namespace.join(this.separator));
  }

  private tablePath(id: TableIdentifier): string {
    return `/v1${this.prefix}/namespaces/${this.nsPath(id.namespace)}/tables/${encodeURIComponent(id.name)}`;
  }

  // ---- Catalog ----

  async createNamespace(namespace: string[], properties: Record<string, string> = {}): Promise<void> {
    await this.init();
    await this.request("POST", `/v1${this.prefix}/namespaces`, {
      what: `create namespace ${namespace.join(".")}`,
      conflict: "namespace-exists",
      body: { namespace, properties },
    });
  }

  /** Whether the server supports an endpoint (servers that list none support the basic set). */
  private supports(endpoint: string): boolean {
    return !this.endpoints || this.endpoints.has(endpoint);
  }

  async namespaceExists(namespace: string[]): Promise<boolean> {
    await this.init();
    const method = this.supports("HEAD /v1/{prefix}/namespaces/{namespace}") ? "HEAD" : "GET";
    const res = await this.request(method, `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}`, {
      what: `check namespace ${namespace.join(".")}`,
      allow404: true,
    });
    return res !== null;
  }

  /** Loads a namespace's properties; throws NoSuchNamespaceError. */
  async loadNamespace(namespace: string[]): Promise<Record<string, string>> {
    await this.init();
    const res = (await this.request("GET", `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}`, {
      what: `load namespace ${namespace.join(".")}`,
      notFound: "namespace",
    })) as { properties?: Record<string, string> };
    return res.properties ?? {};
  }

  async listNamespaces(parent?: string[]): Promise<string[][]> {
    await this.init();
    const out: string[][] = [];
    let pageToken: string | undefined;
    do {
      const res = (await this.request("GET", `/v1${this.prefix}/namespaces`, {
        what: "list namespaces",
        notFound: "namespace",
        query: {
          parent: parent && parent.length ? parent.join(this.separator) : undefined,
          pageToken,
        },
      })) as { namespaces?: string[][]; "next-page-token"?: string | null };
      out.push(...(res.namespaces ?? []));
      pageToken = res["next-page-token"] ?? undefined;
    } while (pageToken);
    return out;
  }

  async dropNamespace(namespace: string[]): Promise<void> {
    await this.init();
    await this.request("DELETE", `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}`, {
      what: `drop namespace ${namespace.join(".")}`,
      notFound: "namespace",
    });
  }

  async listTables(namespace: string[]): Promise<TableIdentifier[]> {
    await this.init();
    const out: TableIdentifier[] = [];
    let pageToken: string | undefined;
    do {
      const res = (await this.request("GET", `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}/tables`, {
        what: `list tables in ${namespace.join(".")}`,
        notFound: "namespace",
        query: { pageToken },
      })) as { identifiers?: TableIdentifier[]; "next-page-token"?: string | null };
      out.push(...(res.identifiers ?? []));
      pageToken = res["next-page-token"] ?? undefined;
    } while (pageToken);
    return out;
  }

  async tableExists(id: TableIdentifier): Promise<boolean> {
    await this.init();
    const method = this.supports("HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}") ? "HEAD" : "GET";
    const res = await this.request(method, this.tablePath(id), { what: `check table ${tableIdString(id)}`, allow404: true });
    return res !== null;
  }

  async createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadTableResult> {
    await this.init();
    if (request.name !== id.name) {
      throw new Error(`createTable: request.name "${request.name}" differs from the identifier's name "${id.name}"`);
    }
    const res = await this.request("POST", `/v1${this.prefix}/namespaces/${this.nsPath(id.namespace)}/tables`, {
      what: `create table ${tableIdString(id)}`,
      notFound: "namespace",
      conflict: "table-exists",
      body: { ...request, "stage-create": false },
      headers: this.delegationHeader(),
    });
    return this.loadResult(res, id);
  }

  async loadTable(id: TableIdentifier): Promise<LoadTableResult> {
    await this.init();
    const res = await this.request("GET", this.tablePath(id), {
      what: `load table ${tableIdString(id)}`,
      notFound: "table",
      headers: this.delegationHeader(),
    });
    return this.loadResult(res, id);
  }

  async commitTable(id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[]): Promise<LoadTableResult> {
    await this.init();
    const res = await this.request("POST", this.tablePath(id), {
      what: `commit to table ${tableIdString(id)}`,
      notFound: "table",
      conflict: "commit",
      body: { identifier: { namespace: id.namespace, name: id.name }, requirements, updates },
    });
    return this.loadResult(res, id);
  }

  async dropTable(id: TableIdentifier, purge = false): Promise<void> {
    await this.init();
    await this.request("DELETE", this.tablePath(id), {
      what: `drop table ${tableIdString(id)}`,
      notFound: "table",
      query: { purgeRequested: purge ? "true" : undefined },
    });
  }

  fileIO(table: LoadTableResult): FileIO {
    if (this.opts.fileIO) return this.opts.fileIO(table, this.properties);
    const location = table.metadata.location;
    if (/^s3[an]?:\/\//.test(location)) {
      const props = { ...this.properties, ...(table.config ?? {}), ...storageCredentialsFor(table, location) };
      const key = JSON.stringify(props);
      let io = this.s3Clients.get(key);
      if (!io) {
        io = S3FileIO.fromProperties(props, this.opts.s3);
        this.s3Clients.set(key, io);
      }
      return io;
    }
    if (location.startsWith("file:") || location.startsWith("/")) return new LocalFileIO();
    throw new Error(`RestCatalog: no FileIO for table location "${location}"; pass options.fileIO`);
  }

  private delegationHeader(): Record<string, string> | undefined {
    return this.opts.accessDelegation ? { "x-iceberg-access-delegation": this.opts.accessDelegation } : undefined;
  }

  /** Closes the S3 clients this catalog created. */
  close(): void {
    for (const io of this.s3Clients.values()) io.close();
    this.s3Clients.clear();
  }

  private loadResult(res: unknown, id: TableIdentifier): LoadTableResult {
    const r = res as LoadTableResult | null;
    if (!r || typeof r !== "object" || !r.metadata || !r["metadata-location"]) {
      throw new RestCatalogError(`${this.name}: table ${tableIdString(id)}: the server returned no table metadata`, 200);
    }
    return r;
  }

  // ---- HTTP ----

  private async authHeaders(): Promise<Record<string, string>> {
    if (this.opts.token) return { authorization: `Bearer ${this.opts.token}` };
    if (this.oauth) return { authorization: `Bearer ${await this.oauth.get()}` };
    return {};
  }

  /** One REST call with auth, signing, retries and error mapping. Returns parsed JSON (null for 404 when allowed, {} for 204). */
  private async request(method: string, path: string, call: CallOptions): Promise<unknown> {
    const url = new URL(this.baseUri + path);
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const body = call.body === undefined ? undefined : stringifyIcebergJson(call.body);
    const retry = this.opts.retry ?? {};
    const attempts = Math.max(1, retry.attempts ?? 4);
    const base = retry.baseDelayMs ?? 100;
    const maxDelay = retry.maxDelayMs ?? 5_000;
    const idempotent = IDEMPOTENT.has(method);
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
      if (this.signer) headers = await this.signer.sign({ method, url: url.toString(), headers, body });

      let res: Response;
      try {
        res = await this.fetchImpl(url, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
      } catch (e) {
        const msg = `${this.name}: ${call.what}: ${method} ${url.origin}${url.pathname} failed: ${(e as Error).message}`;
        if (call.conflict === "commit") {
          // the request may have reached the server: the commit's fate is unknown
          throw new CommitStateUnknownError(msg);
        }
        lastError = new RestCatalogError(msg, 0);
        if (idempotent) continue;
        throw lastError;
      }

      if (res.ok) {
        if (method === "HEAD" || res.status === 204) return {};
        const text = await res.text();
        if (!text) return {};
        try {
          return parseRestJson(text);
        } catch {
          throw new RestCatalogError(`${this.name}: ${call.what}: the server answered HTTP ${res.status} with invalid JSON`, res.status);
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
      const prefix = `${this.name}: ${call.what}`;
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
        if (this.oauth && !reauthed) {
          // the token may have been revoked or expired early: one fresh token, then give up
          reauthed = true;
          this.oauth.invalidate();
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
        if (this.oauth && !reauthed) {
          reauthed = true;
          this.oauth.invalidate();
          attempt--;
          continue;
        }
      }
      const retryable = status === 429 || status === 503 || (idempotent && status >= 500);
      lastError = new RestCatalogError(`${prefix}: HTTP ${status}${typ}${detail}`, status, model.type);
      if (call.conflict === "commit" && (status === 500 || status === 502 || status === 504)) {
        throw new CommitStateUnknownError(`${prefix}: HTTP ${status}, the commit state is unknown${typ}${detail}`);
      }
      if (!retryable) throw lastError;
    }
    throw lastError ?? new RestCatalogError(`${this.name}: ${call.what}: failed`, 0);
  }
}

/**
 * The config of the `storage-credentials` entry (REST spec 1.7+) whose prefix is the longest
 * match for `location`, or {} when the server sent none.
 */
export function storageCredentialsFor(table: LoadTableResult, location: string): Record<string, string> {
  const creds = (table as LoadTableResult & { "storage-credentials"?: { prefix: string; config: Record<string, string> }[] })[
    "storage-credentials"
  ];
  let best: { prefix: string; config: Record<string, string> } | undefined;
  for (const c of creds ?? []) {
    if (location.startsWith(c.prefix) && (!best || c.prefix.length > best.prefix.length)) best = c;
  }
  return best?.config ?? {};
}

/** Parses a REST payload keeping 64-bit snapshot ids exact (as bigint). */
export function parseRestJson<T = unknown>(text: string): T {
  return parseIcebergJson<T>(text);
}

function parseCredential(credential: string): OAuth2Options {
  const i = credential.indexOf(":");
  return i < 0 ? { clientId: "", clientSecret: credential } : { clientId: credential.slice(0, i), clientSecret: credential.slice(i + 1) };
}

/** `file:/x` or `/x` -> `/x` (REST servers backed by Hadoop write `file:/x`). */
export function restLocationPath(location: string): string {
  return location.startsWith("file:") ? fileURLToPath(location) : location;
}
