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
 *   retries after a reload; any 5xx, a timeout and a lost connection become
 *   `CommitStateUnknownError` (the writer keeps the commit's files and sends the same commit again
 *   until the answer is definite).
 * - Where the server's config advertises `idempotency-key-lifetime` (REST spec, Iceberg 1.11),
 *   mutations carry an `Idempotency-Key` (UUIDv7): one per call, reused by its retries; a commit's
 *   key is the caller's, the same on every re-send of that commit, renewed past the lifetime.
 * - Auth: a static bearer token, or one read from a file as it rotates (`tokenFile`: a Kubernetes
 *   projected service-account token); OAuth2 client credentials (`POST /v1/oauth/tokens` or
 *   `oauth2ServerUri`), refreshed before expiry and once on a 401; SigV4 for AWS Glue (`glue`)
 *   and S3 Tables (`s3tables`).
 * - Idempotent calls (GET, HEAD, DELETE, and mutations with an Idempotency-Key) are retried with
 *   exponential backoff and jitter on 429, 5xx and network errors; every call retries 429/503
 *   (the server did not act on them) except a commit.
 *
 * This file holds the catalog operations and config; HTTP calls, retries and error mapping are in
 * rest-http.ts, OAuth2 in rest-auth.ts, SigV4 in sigv4.ts.
 */
import { fileURLToPath } from "url";
import {
  Catalog,
  CommitOptions,
  CreateTableRequest,
  idempotencyKey,
  LoadTableResult,
  TableIdentifier,
  TableRequirement,
  TableUpdate,
  tableIdString,
} from "./catalog";
import { FileIO, LocalFileIO } from "./io";
import { caFetch, loadCa } from "../core/tls-ca";
import { FileTokenSource, OAuth2TokenSource, parseCredential, type OAuth2Options } from "./rest-auth";
import { RestCatalogError, RestHttpClient, type RetryOptions } from "./rest-http";
import { S3FileIO, S3FileIOOptions } from "./s3";
import { SigV4Options, SigV4Signer } from "./sigv4";

export { FileTokenSource, OAuth2Error, OAuth2TokenSource, type OAuth2Options } from "./rest-auth";
export { ForbiddenError, NotAuthorizedError, RestCatalogError, parseRestJson, type RetryOptions } from "./rest-http";

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
  /**
   * A file holding the bearer token, read again as it changes (a Kubernetes projected
   * service-account token, which the kubelet rotates): at most a minute old, and re-read after a
   * 401. Defaults to none.
   */
  tokenFile?: string;
  /**
   * A PEM file of CA certificates trusted for https:// catalog URIs, in addition to the public
   * CAs (kubernetes: the CA of the certificate cert-manager issued to Lakekeeper). Read once, at
   * construction. Defaults to the public CAs only.
   */
  caFile?: string;
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
  /** ISO-8601 duration (REST spec, Iceberg 1.11): present when the server honours `Idempotency-Key` on mutations. */
  "idempotency-key-lifetime"?: string;
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, "");
}

export class RestCatalog implements Catalog {
  readonly name: string;
  private readonly opts: RestCatalogOptions;
  private readonly http: RestHttpClient;
  private readonly fetchImpl: typeof fetch;
  private oauth?: OAuth2TokenSource;
  private initialized?: Promise<void>;
  private prefix = "";
  private separator = "\u001f";
  /** Endpoints the server announced in /v1/config (undefined: it did not say, assume all). */
  private endpoints?: Set<string>;
  /**
   * How long the server keeps an Idempotency-Key (its config's `idempotency-key-lifetime`);
   * undefined when it does not advertise idempotency, and no key is sent.
   */
  idempotencyLifetimeMs?: number;
  /** One S3 client per distinct table config (clients hold connection pools). */
  private readonly s3Clients = new Map<string, S3FileIO>();
  /** Merged catalog properties (defaults < client < overrides) from /v1/config. */
  properties: Record<string, string> = {};

  constructor(options: RestCatalogOptions) {
    if (!options.uri || !/^https?:\/\//.test(options.uri)) {
      throw new Error(`RestCatalog: uri must be an http(s) URL, got ${JSON.stringify(options.uri)}`);
    }
    const auth = [options.token && "token", options.tokenFile && "tokenFile", (options.oauth2 || options.credential) && "oauth2/credential"].filter(Boolean);
    if (auth.length > 1) throw new Error(`RestCatalog: give one of token, tokenFile and oauth2/credential, not ${auth.join(" and ")}`);
    if (options.caFile && options.fetch) throw new Error("RestCatalog: give caFile or fetch, not both (caFile builds the fetch)");
    this.opts = options;
    this.name = options.name ?? "rest";
    this.fetchImpl = options.fetch ?? (options.caFile ? caFetch(loadCa(options.caFile, `REST catalog ${this.name}`)) : fetch);
    this.http = new RestHttpClient(
      {
        name: this.name,
        token: options.token,
        headers: options.headers,
        timeoutMs: options.timeoutMs,
        retry: options.retry,
        signer: options.sigv4 ? new SigV4Signer(options.sigv4) : undefined,
        fetch: this.fetchImpl,
      },
      trimSlash(options.uri),
    );
    if (options.tokenFile) this.http.tokens = new FileTokenSource(options.tokenFile);
    const oauth = options.oauth2 ?? (options.credential ? parseCredential(options.credential) : undefined);
    if (oauth) {
      this.useOAuth(
        new OAuth2TokenSource({ ...oauth, serverUri: oauth.serverUri ?? `${this.http.baseUri}/v1/oauth/tokens` }, this.fetchImpl, options.timeoutMs ?? 30_000),
      );
    }
  }

  private useOAuth(source: OAuth2TokenSource): void {
    this.oauth = source;
    this.http.tokens = source;
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
    const cfg = (await this.http.request("GET", "/v1/config", {
      what: "load catalog config",
      query: { warehouse: this.opts.warehouse },
    })) as ConfigResponse;
    const client: Record<string, string> = {};
    if (this.opts.warehouse) client.warehouse = this.opts.warehouse;
    if (this.opts.prefix !== undefined) client.prefix = this.opts.prefix;
    this.properties = { ...(cfg.defaults ?? {}), ...client, ...(cfg.overrides ?? {}) };
    if (this.properties.uri && trimSlash(this.properties.uri) !== this.http.baseUri) {
      this.http.baseUri = trimSlash(this.properties.uri);
      if (this.oauth && !this.opts.oauth2?.serverUri) {
        // the token endpoint follows the catalog unless configured explicitly
        this.useOAuth(
          new OAuth2TokenSource(
            { ...(this.opts.oauth2 ?? parseCredential(this.opts.credential!)), serverUri: `${this.http.baseUri}/v1/oauth/tokens` },
            this.fetchImpl,
            this.opts.timeoutMs ?? 30_000,
          ),
        );
      }
    }
    // an explicit client prefix wins over the server's
    const prefix = this.opts.prefix ?? this.properties.prefix ?? "";
    this.prefix = prefix ? `/${prefix.replace(/^\/+|\/+$/g, "")}` : "";
    if (Array.isArray(cfg.endpoints)) this.endpoints = new Set(cfg.endpoints.map((e) => e.replace(/\s+/g, " ").trim()));
    const lifetime = cfg["idempotency-key-lifetime"];
    this.idempotencyLifetimeMs = typeof lifetime === "string" && lifetime.trim() ? isoDurationMs(lifetime.trim()) : undefined;
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
    await this.http.request("POST", `/v1${this.prefix}/namespaces`, {
      what: `create namespace ${namespace.join(".")}`,
      conflict: "namespace-exists",
      body: { namespace, properties },
      idempotencyKey: this.mutationKey(),
    });
  }

  /** Whether the server supports an endpoint (servers that list none support the basic set). */
  private supports(endpoint: string): boolean {
    return !this.endpoints || this.endpoints.has(endpoint);
  }

  async namespaceExists(namespace: string[]): Promise<boolean> {
    await this.init();
    const method = this.supports("HEAD /v1/{prefix}/namespaces/{namespace}") ? "HEAD" : "GET";
    const res = await this.http.request(method, `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}`, {
      what: `check namespace ${namespace.join(".")}`,
      allow404: true,
    });
    return res !== null;
  }

  /** Loads a namespace's properties; throws NoSuchNamespaceError. */
  async loadNamespace(namespace: string[]): Promise<Record<string, string>> {
    await this.init();
    const res = (await this.http.request("GET", `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}`, {
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
      const res = (await this.http.request("GET", `/v1${this.prefix}/namespaces`, {
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
    await this.http.request("DELETE", `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}`, {
      what: `drop namespace ${namespace.join(".")}`,
      notFound: "namespace",
      idempotencyKey: this.mutationKey(),
    });
  }

  async listTables(namespace: string[]): Promise<TableIdentifier[]> {
    await this.init();
    const out: TableIdentifier[] = [];
    let pageToken: string | undefined;
    do {
      const res = (await this.http.request("GET", `/v1${this.prefix}/namespaces/${this.nsPath(namespace)}/tables`, {
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
    const res = await this.http.request(method, this.tablePath(id), { what: `check table ${tableIdString(id)}`, allow404: true });
    return res !== null;
  }

  async createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadTableResult> {
    await this.init();
    if (request.name !== id.name) {
      throw new Error(`createTable: request.name "${request.name}" differs from the identifier's name "${id.name}"`);
    }
    const res = await this.http.request("POST", `/v1${this.prefix}/namespaces/${this.nsPath(id.namespace)}/tables`, {
      what: `create table ${tableIdString(id)}`,
      notFound: "namespace",
      conflict: "table-exists",
      body: { ...request, "stage-create": false },
      headers: this.delegationHeader(),
      idempotencyKey: this.mutationKey(),
    });
    return this.loadResult(res, id);
  }

  async loadTable(id: TableIdentifier): Promise<LoadTableResult> {
    await this.init();
    const res = await this.http.request("GET", this.tablePath(id), {
      what: `load table ${tableIdString(id)}`,
      notFound: "table",
      headers: this.delegationHeader(),
    });
    return this.loadResult(res, id);
  }

  async commitTable(id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[], options: CommitOptions = {}): Promise<LoadTableResult> {
    await this.init();
    const res = await this.http.request("POST", this.tablePath(id), {
      what: `commit to table ${tableIdString(id)}`,
      notFound: "table",
      conflict: "commit",
      body: { identifier: { namespace: id.namespace, name: id.name }, requirements, updates },
      idempotencyKey: this.mutationKey(options.idempotencyKey),
    });
    return this.loadResult(res, id);
  }

  async dropTable(id: TableIdentifier, purge = false): Promise<void> {
    await this.init();
    await this.http.request("DELETE", this.tablePath(id), {
      what: `drop table ${tableIdString(id)}`,
      notFound: "table",
      query: { purgeRequested: purge ? "true" : undefined },
      idempotencyKey: this.mutationKey(),
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

  /**
   * The Idempotency-Key for a mutation, where the server advertises support: `key` (one logical
   * commit's key, the same on every re-send) while it is younger than the server's lifetime, else a
   * new one (the spec's rule: a key is not reused past its lifetime).
   */
  private mutationKey(key?: string): string | undefined {
    if (this.idempotencyLifetimeMs === undefined) return undefined;
    if (key && Date.now() - uuidv7Millis(key) < this.idempotencyLifetimeMs) return key;
    return idempotencyKey();
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
}

/**
 * The config of the `storage-credentials` entry (REST spec 1.7+) whose prefix is the longest
 * match for `location`, or {} when the server sent none.
 */
export function storageCredentialsFor(table: LoadTableResult, location: string): Record<string, string> {
  const creds = (table as LoadTableResult & { "storage-credentials"?: { prefix: string; config: Record<string, string> }[] })["storage-credentials"];
  let best: { prefix: string; config: Record<string, string> } | undefined;
  for (const c of creds ?? []) {
    if (location.startsWith(c.prefix) && (!best || c.prefix.length > best.prefix.length)) best = c;
  }
  return best?.config ?? {};
}

/** `file:/x` or `/x` -> `/x` (REST servers backed by Hadoop write `file:/x`). */
export function restLocationPath(location: string): string {
  return location.startsWith("file:") ? fileURLToPath(location) : location;
}

/** The Unix milliseconds of a UUIDv7 (its first 48 bits); 0 for anything else. */
export function uuidv7Millis(key: string): number {
  const hex = key.replace(/-/g, "");
  return /^[0-9a-f]{12}7/i.test(hex) ? parseInt(hex.slice(0, 12), 16) : 0;
}

/** An ISO-8601 duration (PnDTnHnMnS, as the REST spec's idempotency-key-lifetime) in ms; throws on anything else. */
export function isoDurationMs(text: string): number {
  const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!m || text === "P" || text.endsWith("T"))
    throw new Error(`REST catalog config: idempotency-key-lifetime "${text}" is not an ISO-8601 duration such as PT30M`);
  const [d, h, min, sec] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  return (((d * 24 + h) * 60 + min) * 60 + sec) * 1000;
}
