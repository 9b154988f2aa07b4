/**
 * The CDC writer's config contract, shared by the runtime (`floe cdc run --config FILE`) and the
 * components that deploy it (they render this object into a Secret / task definition / local file).
 * Validated with zod; `${ENV_VAR}` references in strings are expanded by the loader. Every object
 * is strict: an unknown key is an error naming its path and the nearest valid key, never ignored
 * (a misspelt `tables` would otherwise replicate every table).
 */
import { z } from "zod";
import { loadConfigFile, parseConfig } from "../core/config";
import { resolveTls, SSL_MODES } from "../core/postgres-tls";

/**
 * TLS to a Postgres server, with libpq's meanings (runtime/core/postgres-tls.ts): may also be given
 * as the connection string's `sslmode` / `sslrootcert` parameters (both at once must agree).
 */
const tlsFields = {
  /**
   * disable, require (encrypted, the server's certificate not checked: a warning at start; with
   * sslrootcert, the CA is checked), verify-ca (the CA) or verify-full (the CA and the host name).
   * prefer/allow are refused: they silently fall back to plain text. Defaults to disable for a
   * loopback host or Unix socket, verify-full for any other host.
   */
  sslmode: z.enum(SSL_MODES).optional(),
  /**
   * The CA certificates to trust: a PEM file path (kubernetes: CloudNativePG's `<cluster>-ca`
   * secret mounted), "aws-rds" (the RDS / Aurora CA bundle shipped with floe) or "system" (the
   * public CAs). Defaults to the public CAs.
   */
  sslrootcert: z.string().min(1).optional(),
};

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, "must be a plain SQL identifier (letters, digits, _ and $)");

export const CdcSourceSchema = z.strictObject({
  /** Stable name of the source (e.g. "shard-0"); part of the LSN key stored in Iceberg. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, "lower-case letters, digits, - and _"),
  /** libpq connection string for the replication role (not through pgBouncer). */
  connectionString: z.string().startsWith("postgres", "must be a postgres:// or postgresql:// URL"),
  ...tlsFields,
  /** Logical replication slot; created if missing. Defaults to floe_<name>. */
  slot: identifier.optional(),
  /** Publication the writer reads; created if missing (FOR ALL TABLES unless `tables` is set). Defaults to floe. */
  publication: identifier.default("floe"),
  /**
   * "none" reads only changes made on this server, not ones replicated into it (pgoutput origin,
   * Postgres 16+): what a blue/green pair needs, so each write is read once. Defaults to "any".
   */
  origin: z.enum(["any", "none"]).default("any"),
  /**
   * Copy the tables' existing rows from this source when the writer first sees them. false for a
   * source whose history already came through another one (the green side of an upgrade).
   * Defaults to true.
   */
  initialCopy: z.boolean().default(true),
  /**
   * Follow a floe blue/green upgrade: on the orchestrator's handoff message the writer moves on to
   * the new primary by itself (runtime/cdc/handoff.ts). Defaults to true.
   */
  followUpgrades: z.boolean().default(true),
});

/**
 * Table maintenance (runtime/iceberg/maintenance-plan.ts): every field is optional and defaults to
 * DEFAULT_MAINTENANCE_POLICY (docs/maintenance.md states the defaults and why).
 */
export const MaintenancePolicySchema = z.strictObject({
  /** Run maintenance inside the writer, between its commits. Defaults to true, and to false when the catalog is S3 Tables (which maintains its tables itself). */
  enabled: z.boolean().optional(),
  targetFileBytes: z
    .number()
    .int()
    .min(1 << 16)
    .optional(),
  minInputFiles: z.number().int().min(2).optional(),
  tierBaseBytes: z.number().int().min(1).optional(),
  deleteRatio: z.number().gt(0).max(1).optional(),
  convergeRatio: z.number().gt(0).max(1).optional(),
  maxDeleteFilesPerDataFile: z.number().int().min(1).optional(),
  maxManifests: z.number().int().min(1).optional(),
  keepSnapshots: z.number().int().min(1).optional(),
  maxSnapshotAgeMs: z.number().int().min(0).optional(),
  expiredFileGraceMs: z.number().int().min(0).optional(),
  orphanMinAgeMs: z.number().int().min(0).optional(),
  orphanIntervalMs: z.number().int().min(0).optional(),
});

/** Iceberg format version of the tables the writer creates: 2 (position delete files) or 3 (deletion vectors). Fixed at creation. */
const formatVersion = z.union([z.literal(2), z.literal(3)]);

export const CdcTableSchema = z.strictObject({
  /** Source table as schema.table (schema defaults to public). */
  source: z.string().min(1),
  /** "mirror" (the Iceberg table equals the Postgres table, default) or "changelog" (append-only). */
  mode: z.enum(["mirror", "changelog"]).default("mirror"),
  /** Iceberg table name inside the namespace. Defaults to the source table's name. */
  target: identifier.optional(),
  /** Format version when the writer creates this table. Defaults to the config's formatVersion. */
  formatVersion: formatVersion.optional(),
  /** Maintenance overrides for this table, on top of the config's maintenance. */
  maintenance: MaintenancePolicySchema.optional(),
});

export const SqlCatalogSchema = z.strictObject({
  type: z.literal("sql"),
  /** Postgres URL of the database that holds the Iceberg JDBC catalog tables. */
  uri: z.string().startsWith("postgres"),
  /** catalog_name column value. Defaults to floe. */
  name: z.string().default("floe"),
  ...tlsFields,
});

export const RestCatalogSchema = z.strictObject({
  type: z.literal("rest"),
  /** Base URI of the REST catalog (e.g. http://lakekeeper:8181/catalog). */
  uri: z.string().url(),
  /** Warehouse identifier passed to /v1/config. */
  warehouse: z.string().optional(),
  /** OAuth2 client credentials as "client_id:client_secret". */
  credential: z.string().optional(),
  /** OAuth2 token endpoint; defaults to {uri}/v1/oauth/tokens. */
  oauth2ServerUri: z.string().url().optional(),
  scope: z.string().optional(),
  /** Static bearer token. */
  token: z.string().optional(),
  /**
   * A file holding the bearer token, read again as it rotates (kubernetes: the writer's projected
   * service-account token, which Lakekeeper checks). Defaults to none.
   */
  tokenFile: z.string().min(1).optional(),
  /** A PEM file of CA certificates trusted for an https:// uri, on top of the public CAs. Defaults to the public CAs only. */
  caFile: z.string().min(1).optional(),
  /** SigV4 signing for AWS Glue / S3 Tables. */
  sigv4: z.strictObject({ region: z.string(), service: z.string().default("glue") }).optional(),
});

export const StorageSchema = z.strictObject({
  /** Custom S3 endpoint (MinIO etc.). */
  endpoint: z.string().url().optional(),
  region: z.string().default("us-east-1"),
  forcePathStyle: z.boolean().default(false),
  accessKeyId: z.string().optional(),
  secretAccessKey: z.string().optional(),
  /** A PEM file of CA certificates trusted for an https:// endpoint, on top of the public CAs. Defaults to the public CAs only. */
  caFile: z.string().min(1).optional(),
});

export const CdcConfigSchema = z
  .strictObject({
    sources: z.array(CdcSourceSchema).min(1, "at least one source is required"),
    /** Tables to replicate. Empty = every table in the publication, as mirror tables. */
    tables: z.array(CdcTableSchema).default([]),
    catalog: z.discriminatedUnion("type", [SqlCatalogSchema, RestCatalogSchema]),
    /** Where table data lives: file:///abs/path or s3://bucket/prefix. */
    warehouse: z.string().regex(/^(file:\/\/\/|s3:\/\/)/, "must start with file:/// or s3://"),
    storage: StorageSchema.default({}),
    /** Iceberg namespace for the replicated tables. Defaults to "floe". */
    namespace: identifier.default("floe"),
    /** Format version of the tables the writer creates (existing tables keep theirs). Defaults to 2 (see docs/maintenance.md for which engines read v3). */
    formatVersion: formatVersion.default(2),
    /** Maintenance of every table (compaction, manifest rewriting, snapshot expiry, orphan removal) between commits. */
    maintenance: MaintenancePolicySchema.default({}),
    commit: z
      .strictObject({
        /** Longest time a change waits before it is committed. Defaults to 500 ms (p99 freshness under 1 s). */
        intervalMs: z.number().int().min(10).max(3_600_000).default(500),
        /** Commit as soon as this many changes are buffered. Defaults to 200000. */
        maxRows: z.number().int().min(1).default(200_000),
        /** Commit (and stop reading: backpressure) past this many buffered bytes. Defaults to 256 MiB. */
        maxBytes: z
          .number()
          .int()
          .min(1 << 20)
          .default(256 << 20),
        /**
         * A table's pending write (an initial copy, one big source transaction) writes its rows out
         * as data files of the coming commit past this many estimated bytes and keeps only their
         * keys in memory; the commit is still one snapshot. The writer's peak memory is a few times
         * this (the buffer, its normalized columns, the Parquet being encoded: about 3x measured on a
         * narrow table) plus the primary-key index. Defaults to 256 MiB.
         */
        spillBytes: z
          .number()
          .int()
          .min(1024)
          .default(256 << 20),
        /**
         * A source transaction's changes, buffered until its commit (also while Postgres streams it
         * in progress) in pgoutput's wire form, go to a temporary file past this many bytes.
         * Defaults to 64 MiB.
         */
        changeSpillBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 << 20),
        /** Directory of those temporary files (removed on commit, abort and exit). Defaults to the OS temp directory. */
        spillDir: z.string().min(1).optional(),
      })
      .default({}),
    snapshot: z
      .strictObject({
        /** Copy existing rows when a table is first seen. Defaults to true. */
        enabled: z.boolean().default(true),
        /**
         * Connections copying at once: whole tables, or ranges of one large table (all at the same
         * exported snapshot). Defaults to 2.
         */
        parallelism: z.number().int().min(1).max(64).default(2),
        /**
         * A table larger than this (bytes on disk) is copied in ctid ranges of about this size,
         * spread over the connections parallelism gives it; the ranges still land in one commit.
         * Defaults to 64 MiB.
         */
        chunkBytes: z
          .number()
          .int()
          .min(8192)
          .default(64 << 20),
        /**
         * Whether the ranges of a table are decoded and encoded into Parquet on worker threads,
         * one per connection, while the table's first connection holds its lock (so a table in
         * ranges uses parallelism + 1 connections). Defaults to true on a machine with more than
         * two cores: with two, the threads' start-up and the local Postgres backends take what
         * they would gain, and the main thread alone is faster.
         */
        threads: z.boolean().optional(),
      })
      .default({}),
    http: z
      .strictObject({
        host: z.string().default("127.0.0.1"),
        /** Port for /healthz and /metrics; 0 disables. Defaults to 9187. */
        port: z.number().int().min(0).max(65535).default(9187),
      })
      .default({}),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.sources.forEach((s, i) => {
      if (names.has(s.name)) ctx.addIssue({ code: "custom", path: ["sources", i, "name"], message: `duplicate source name ${s.name}` });
      names.add(s.name);
      checkTls(ctx, ["sources", i, "connectionString"], s.connectionString, s);
    });
    if (cfg.catalog.type === "sql") checkTls(ctx, ["catalog", "uri"], cfg.catalog.uri, cfg.catalog);
    else {
      const auth = (["token", "tokenFile", "credential"] as const).filter((k) => cfg.catalog.type === "rest" && cfg.catalog[k] !== undefined);
      if (auth.length > 1)
        ctx.addIssue({ code: "custom", path: ["catalog", auth[1]], message: `give one of token, tokenFile and credential, not ${auth.join(" and ")}` });
    }
  });

function checkTls(ctx: z.RefinementCtx, path: (string | number)[], url: string, explicit: { sslmode?: string; sslrootcert?: string }): void {
  try {
    resolveTls(url, explicit, "TLS");
  } catch (e) {
    ctx.addIssue({ code: "custom", path, message: (e as Error).message.replace(/^TLS: /, "") });
  }
}

export type CdcConfigInput = z.input<typeof CdcConfigSchema>;
export type CdcConfig = z.output<typeof CdcConfigSchema>;
export type CdcSource = z.output<typeof CdcSourceSchema>;

export const slotName = (source: CdcSource): string => source.slot ?? `floe_${source.name.replace(/-/g, "_")}`;

export function parseCdcConfig(raw: unknown, origin = "CDC config"): CdcConfig {
  return parseConfig(CdcConfigSchema, raw, origin);
}

export function loadCdcConfig(file: string, env: NodeJS.ProcessEnv = process.env): CdcConfig {
  return loadConfigFile(CdcConfigSchema, file, env);
}
