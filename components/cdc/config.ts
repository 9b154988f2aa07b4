/**
 * The CDC writer's config, rendered in one place for every target through the shared contract
 * (runtime/cdc/config.ts). `cdcConfig` assembles it and leaves every unset part out, so that the
 * runtime's zod contract owns the defaults (commit interval, publication, namespace, table mode, …).
 * `checkCdcConfig` validates at construction with the values known then (Outputs replaced by
 * well-formed placeholders); `renderCdcConfig` renders and re-validates the real, secret JSON.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseCdcConfig, type CdcConfigInput } from "../../runtime/cdc/config";
import type { Validator } from "../errors";
import type { CdcMaintenanceArgs, CdcSourceArgs, CdcTableArgs, CdcWriterArgs } from "./args";

interface Resolved {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  catalogUri: string;
  warehouse?: string;
  region: string;
  credential?: string;
  warehouseLocation: string;
  endpoint?: string;
  storageRegion: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

type Catalog = CdcConfigInput["catalog"];
type Source = CdcConfigInput["sources"][number];

/** What a writer's config is made of; what is unset is left to the runtime's defaults. */
export interface CdcConfigParts {
  sources: { name: string; connectionString: string; sslrootcert?: string; slot?: string; publication?: string; origin?: string }[];
  tables?: CdcTableArgs[];
  catalog: Catalog;
  warehouse: string;
  storage?: CdcConfigInput["storage"];
  namespace?: string;
  commitIntervalMs?: number;
  formatVersion?: number;
  maintenance?: CdcMaintenanceArgs;
  http: { host: string; port: number };
}

const defined = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** The CDC writer's config (runtime/cdc/config.ts) for every target: one renderer, the runtime's defaults. */
export function cdcConfig(p: CdcConfigParts): CdcConfigInput {
  return defined({
    sources: p.sources.map((s) =>
      defined({
        name: s.name,
        connectionString: s.connectionString,
        sslrootcert: s.sslrootcert,
        slot: s.slot,
        publication: s.publication,
        origin: s.origin as Source["origin"],
      }),
    ),
    tables: p.tables?.map((t) =>
      defined({
        source: t.source,
        mode: t.mode as "mirror" | "changelog" | undefined,
        target: t.target,
        formatVersion: t.formatVersion as 2 | 3 | undefined,
        maintenance: t.maintenance,
      }),
    ),
    catalog: p.catalog,
    warehouse: p.warehouse,
    storage: p.storage,
    namespace: p.namespace,
    commit: p.commitIntervalMs !== undefined ? { intervalMs: p.commitIntervalMs } : undefined,
    formatVersion: p.formatVersion as 2 | 3 | undefined,
    maintenance: p.maintenance,
    http: p.http,
  });
}

/** kubernetes: where a source's CA Secret (`caSecretName`, key ca.crt) is mounted in its writer's pod. */
// Not under /etc/floe: a mount point inside the read-only config volume cannot be created.
export const CA_MOUNT_DIR = "/etc/floe-ca";
export const CA_FILE = `${CA_MOUNT_DIR}/ca.crt`;

/** kubernetes: where the catalog's and the object store's CA Secrets and the catalog token are mounted. */
export const CATALOG_CA_FILE = "/etc/floe-tls/catalog/ca.crt";
export const STORAGE_CA_FILE = "/etc/floe-tls/storage/ca.crt";
export const CATALOG_TOKEN_FILE = "/var/run/secrets/floe/catalog/token";

/** What a cloud target gives its writers for TLS: where it mounts a source's CA Secret, and the default CA. */
export interface TargetTls {
  /** The file a source's `caSecretName` is mounted as; unset: the target cannot mount Secrets. */
  caFile?: string;
  /** sslrootcert when the args give none (aws: "aws-rds"). */
  sslrootcert?: string;
  /** The files catalog.caSecretName, storage.caSecretName and the catalog.tokenAudience token are mounted as; unset: the target cannot. */
  catalogCaFile?: string;
  storageCaFile?: string;
  catalogTokenFile?: string;
}

/**
 * The TLS settings of a source on a cloud target (runtime/core/postgres-tls.ts gives them libpq's
 * meanings). The server's certificate is verified by default: verify-full against the CA of the
 * source's `caSecretName` mounted in the pod (kubernetes: CloudNativePG's `<cluster>-ca`), or the
 * target's default CA (aws: the RDS / Aurora CAs shipped with floe). `sslmode` / `sslrootcert` override.
 */
export function sourceTls(args: CdcWriterArgs, source: CdcSourceArgs, target: TargetTls): { sslmode: string; sslrootcert?: string } {
  const sslmode = args.sslmode ?? "verify-full";
  if (sslmode === "disable") return { sslmode };
  if (source.caSecretName !== undefined && target.caFile) return { sslmode, sslrootcert: target.caFile };
  return { sslmode, sslrootcert: args.sslrootcert ?? target.sslrootcert };
}

/** The TLS inputs are coherent: a CA from one place only, no CA with sslmode disable. Throws a FloeArgError. */
function checkTls(args: CdcWriterArgs, v: Validator, target: TargetTls | undefined): void {
  v.oneOf("sslmode", args.sslmode, "verify-full", ["disable", "require", "verify-ca", "verify-full"]);
  const withCa = args.sources.filter((s) => s.caSecretName !== undefined).map((s) => s.name);
  if (withCa.length && !target?.caFile)
    v.fail(
      `sources[${withCa[0]}].caSecretName`,
      "(set)",
      "is a Kubernetes Secret, which this target cannot mount",
      "remove it; set sslrootcert to the CA instead",
    );
  if (withCa.length && args.sslrootcert !== undefined)
    v.fail(
      "sslrootcert",
      args.sslrootcert,
      `is set, and sources[${withCa[0]}].caSecretName too`,
      "keep one: caSecretName mounts the CA and points sslrootcert at it",
    );
  for (const [input, value, can] of [
    ["catalog.caSecretName", args.catalog.caSecretName, target?.catalogCaFile],
    ["storage.caSecretName", args.storage?.caSecretName, target?.storageCaFile],
    ["catalog.tokenAudience", args.catalog.tokenAudience, target?.catalogTokenFile],
  ] as const)
    if (value !== undefined && !can) v.fail(input, "(set)", "needs a Kubernetes Secret or service-account token, which this target cannot mount", "remove it");
  if (args.catalog.tokenAudience !== undefined && args.catalog.credential !== undefined)
    v.fail("catalog.tokenAudience", "(set)", "is set, and catalog.credential too", "keep one way to authenticate to the catalog");
  if (args.sslmode === "disable" && (args.sslrootcert !== undefined || withCa.length))
    v.fail("sslmode", "disable", "turns TLS off, and a CA is given (sslrootcert / caSecretName)", 'remove the CA, or set sslmode to "verify-full"');
}

/** A libpq URL (the CDC writer's connection to a source). */
export function sourceUrl(user: string, password: string, host: string, port: number, database: string, sslmode?: string): string {
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}${sslmode ? `?sslmode=${sslmode}` : ""}`;
}

function build(args: CdcWriterArgs, source: CdcSourceArgs, r: Resolved, target: TargetTls): CdcConfigInput {
  const tls = sourceTls(args, source, target);
  return cdcConfig({
    sources: [
      {
        name: source.name,
        connectionString: sourceUrl(r.user, r.password, r.host, r.port, r.database, tls.sslmode),
        sslrootcert: tls.sslrootcert,
        slot: source.slot,
        publication: args.publication,
      },
    ],
    tables: args.tables,
    catalog: defined({
      type: "rest" as const,
      uri: r.catalogUri,
      warehouse: r.warehouse || undefined,
      credential: r.credential || undefined,
      sigv4: args.catalog.sigv4Service ? { region: r.region, service: args.catalog.sigv4Service } : undefined,
      caFile: args.catalog.caSecretName !== undefined ? target.catalogCaFile : undefined,
      tokenFile: args.catalog.tokenAudience !== undefined ? target.catalogTokenFile : undefined,
    }),
    warehouse: r.warehouseLocation,
    storage: defined({
      endpoint: r.endpoint || undefined,
      region: r.storageRegion,
      forcePathStyle: args.storage?.forcePathStyle ?? false,
      accessKeyId: r.accessKeyId || undefined,
      secretAccessKey: r.secretAccessKey || undefined,
      caFile: args.storage?.caSecretName !== undefined ? target.storageCaFile : undefined,
    }),
    namespace: args.namespace,
    commitIntervalMs: args.commitIntervalMs,
    formatVersion: args.formatVersion,
    maintenance: args.maintenance,
    // Listen on all interfaces so the probes / health checks reach /healthz.
    http: { host: "0.0.0.0", port: 9187 },
  });
}

const known = <T>(x: pulumi.Input<T> | undefined, placeholder: T): T | undefined =>
  x === undefined ? undefined : pulumi.Output.isInstance(x) || x instanceof Promise ? placeholder : (x as T);

/**
 * The sources are listed, their names unique and usable, the table modes known, the TLS inputs
 * coherent (`target`: what the target does for TLS; unset: nothing). Throws a FloeArgError.
 */
export function checkSources(args: CdcWriterArgs, v: Validator, target?: TargetTls): void {
  if (!args.sources?.length) v.fail("sources", args.sources, "is empty", "pass at least one source (PostgresCluster.sources: one per shard)");
  const names = new Set<string>();
  for (const s of args.sources) {
    if (names.has(s.name)) v.fail("sources", s.name, "is listed twice", "give every source a unique name");
    names.add(s.name);
    v.dnsLabel(`sources[${s.name}].name`, s.name, 40);
  }
  for (const t of args.tables ?? []) v.oneOf(`tables[${t.source}].mode`, t.mode, "mirror", ["mirror", "changelog"]);
  checkTls(args, v, target);
}

/** Validates every source's (REST catalog) config with what is known at construction. Throws a FloeArgError. */
export function checkCdcConfig(args: CdcWriterArgs, v: Validator, target: TargetTls): void {
  checkSources(args, v, target);
  if (args.catalog.type !== undefined && args.catalog.type !== "rest")
    v.fail("catalog.type", args.catalog.type, "is not available on this target (only the local target has a SQL catalog)", 'leave catalog.type unset ("rest")');
  for (const s of args.sources) {
    const r: Resolved = {
      host: known(s.host, "placeholder.invalid")!,
      port: known(s.port, 5432) ?? 5432,
      database: known(args.database, "placeholder")!,
      user: known(args.replicationUsername, "placeholder")!,
      password: "placeholder",
      catalogUri: known(args.catalog.uri, "https://catalog.placeholder.invalid/catalog")!,
      warehouse: known(args.catalog.warehouse, "placeholder"),
      region: known(args.catalog.region, "us-east-1") ?? "us-east-1",
      warehouseLocation: known(args.warehouseLocation, "s3://placeholder/warehouse")!,
      endpoint: known(args.storage?.endpoint, "https://s3.placeholder.invalid"),
      storageRegion: known(args.storage?.region, "us-east-1") ?? "us-east-1",
    };
    try {
      parseCdcConfig(build(args, s, r, target), `the CDC config of source "${s.name}"`);
    } catch (e) {
      v.fail(
        "(CDC config)",
        s.name,
        (e as Error).message.replace(/\n/g, " "),
        "correct the inputs named above (they map to the fields of runtime/cdc/config.ts)",
      );
    }
  }
}

/** The real config JSON of one source, as a secret. */
export function renderCdcConfig(args: CdcWriterArgs, source: CdcSourceArgs, target: TargetTls): pulumi.Output<string> {
  const s = args.storage ?? {};
  return pulumi.secret(
    pulumi
      .output({
        host: source.host,
        port: source.port ?? 5432,
        database: args.database,
        user: args.replicationUsername,
        password: args.replicationPassword,
        catalogUri: args.catalog.uri,
        warehouse: args.catalog.warehouse,
        region: args.catalog.region ?? "us-east-1",
        credential: args.catalog.credential,
        warehouseLocation: args.warehouseLocation,
        endpoint: s.endpoint,
        storageRegion: s.region ?? "us-east-1",
        accessKeyId: s.accessKeyId,
        secretAccessKey: s.secretAccessKey,
      })
      .apply((r) => JSON.stringify(parseCdcConfig(build(args, source, r as Resolved, target), `the CDC config of source "${source.name}"`), null, 2)),
  );
}
