/**
 * What the CDC writer does with an error that ended a run: retry or stop.
 *
 * Permanent errors need a person to change something (a password, a grant, a database, a
 * certificate); retrying them only hides them, so `floe cdc run` exits 2 with one message naming
 * the problem and the fix. Transient ones (the server restarting, a connection refused, reset or
 * timed out, a catalog commit whose outcome is unknown) are retried with backoff and reported on
 * /healthz and in `floe_cdc_errors_total{kind}`. Postgres errors are classified by SQLSTATE
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html), TLS errors by Node's codes.
 *
 * Where the error came from (a source, the catalog) is attached where the connection is made
 * (`tagOrigin`), so the message can name the setting to fix.
 */
import { PermanentError } from "../core/errors";
import { CommitConflictError, CommitStateUnknownError } from "../iceberg/catalog";
import { ForbiddenError, NotAuthorizedError } from "../iceberg/rest-http";

/** A problem the writer cannot follow without losing data: it stops, naming the table and why. */
export class CdcStopError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CdcStopError";
  }
}

/** Where an error came from: which connection, and the config setting that describes it. */
export interface ErrorOrigin {
  /** e.g. `source "shard-0"` or `the SQL catalog`. */
  what: string;
  /** The config setting to fix, e.g. `sources[0].connectionString`. */
  setting: string;
  /** user@host:port/database, without the password. */
  server?: string;
  user?: string;
  database?: string;
}

export interface Classified {
  /** Label of floe_cdc_errors_total. */
  kind: string;
  /** true: exit 2, a person has to act; false: retry with backoff. */
  permanent: boolean;
  /** One line: the problem and, for a permanent error, the fix. */
  message: string;
}

export { PermanentError };

const ORIGIN = Symbol("floe.errorOrigin");

/** Attaches where `e` came from (kept if already set: the innermost origin is the precise one). */
export function tagOrigin<E>(e: E, origin: ErrorOrigin): E {
  if (e && typeof e === "object" && !(ORIGIN in e)) Object.defineProperty(e, ORIGIN, { value: origin, enumerable: false });
  return e;
}

/** Runs `fn`, tagging whatever it throws with `origin`. */
export async function withOrigin<T>(origin: ErrorOrigin, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw tagOrigin(e, origin);
  }
}

/** The origin of a Postgres URL (no password). */
export function postgresOrigin(what: string, setting: string, url: string): ErrorOrigin {
  try {
    const u = new URL(url);
    const user = decodeURIComponent(u.username) || undefined;
    const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || undefined;
    return { what, setting, user, database, server: `${u.hostname}${u.port ? `:${u.port}` : ""}` };
  } catch {
    return { what, setting };
  }
}

const originOf = (e: unknown): ErrorOrigin | undefined => {
  for (let x = e as { cause?: unknown } | undefined, i = 0; x && typeof x === "object" && i < 5; x = x.cause as typeof x, i++) {
    if (ORIGIN in x) return (x as Record<symbol, ErrorOrigin>)[ORIGIN];
  }
  return undefined;
};

/** The first `code` along the cause chain (a SQLSTATE, a Node errno or TLS code). */
const codeOf = (e: unknown): string | undefined => {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, i = 0; x && typeof x === "object" && i < 5; x = x.cause as typeof x, i++) {
    if (typeof x.code === "string") return x.code;
  }
  return undefined;
};

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The message of the innermost cause: what the server said, without the wrappers' context. */
const rootMessage = (e: unknown): string => {
  let x = e as { cause?: unknown };
  for (let i = 0; x?.cause && i < 5; i++) x = x.cause as typeof x;
  return messageOf(x);
};

const TLS_UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_REJECTED",
]);
const TLS_EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
  "ENETDOWN",
]);

/**
 * Classifies an error that ended a run of the writer. Unknown errors are transient: the writer
 * restarts from what Iceberg holds, as before, and the error shows on /healthz.
 */
export function classify(e: unknown): Classified {
  const origin = originOf(e);
  const code = codeOf(e);
  const msg = messageOf(e);
  const who = origin?.what ?? "Postgres";
  const where = origin?.server ? ` at ${origin.server}` : "";
  const setting = origin?.setting ?? "the connection string";
  const permanent = (kind: string, message: string): Classified => ({ kind, permanent: true, message });
  const transient = (kind: string): Classified => ({ kind, permanent: false, message: origin ? `${who}: ${msg}` : msg });

  if (e instanceof PermanentError) return permanent(e.kind, msg);
  if (e instanceof CdcStopError) return { kind: "stop", permanent: true, message: msg };
  if (e instanceof CommitStateUnknownError || e instanceof CommitConflictError) return transient("catalog");
  if (e instanceof NotAuthorizedError || e instanceof ForbiddenError) {
    return permanent(
      "catalog_auth",
      `the REST catalog refused the writer's credentials (${msg}): fix catalog.credential / catalog.token (or the role's catalog policy on AWS)`,
    );
  }

  switch (code ?? "") {
    case "28P01":
      return permanent(
        "auth",
        `${who}: password authentication failed for user "${origin?.user ?? "?"}"${where}: fix the password in ${setting} (or the secret it comes from)`,
      );
    case "28000":
      if (/role .* does not exist/.test(msg)) {
        return permanent("auth", `${who}: ${msg}${where}: create the role (floe's DatabaseRoles does) or fix the user in ${setting}`);
      }
      return permanent(
        "auth",
        `${who}: the server refused the connection${where}: ${msg}: add a matching pg_hba.conf line for this host, user and database, or set ${setting} (sslmode) to what the server requires`,
      );
    case "3D000":
      if (origin?.setting.startsWith("catalog")) {
        return permanent(
          "catalog_database",
          `the SQL catalog's database "${origin.database ?? "?"}" does not exist${where}: create it (CREATE DATABASE ${origin.database ?? "<name>"}) or fix ${setting}`,
        );
      }
      return permanent("database", `${who}: database "${origin?.database ?? "?"}" does not exist${where}: create it or fix the database name in ${setting}`);
    case "42P01":
      return permanent("table", `${who}: ${rootMessage(e)}: create the table, or remove it from the config's tables`);
    case "42704":
      if (/publication .* does not exist/.test(msg)) {
        return permanent(
          "publication",
          `${who}: ${msg}: create it as the tables' owner (CREATE PUBLICATION <name> FOR TABLE ...), or let the writer create it by granting CREATE on the database`,
        );
      }
      if (/replication slot .* does not exist/.test(msg)) return transient("slot"); // the next run creates it (snapshot.ts)
      return permanent("undefined_object", `${who}: ${msg}: create it or correct the config`);
    case "42501":
      // The publication steps say themselves what to run as the tables' owner.
      if (/not in publication|publication \S+ does not exist/.test(msg)) return permanent("publication", `${who}: ${msg}`);
      return permanent("permission", `${who}: ${msg}: ${permissionFix(msg, origin)}`);
    case "55000":
      if (/wal_level/.test(msg))
        return permanent("server_config", `${who}: ${msg}${where}: set wal_level = logical (aws: rds.logical_replication = 1) and restart the server`);
      return transient("server");
    case "53400":
      return permanent("server_config", `${who}: ${msg}${where}: raise max_replication_slots / max_wal_senders on the server, or drop unused slots`);
    case "55006":
      return transient("slot_in_use"); // another writer holds the slot; it is released when that one stops
  }
  if (code && TLS_UNTRUSTED.has(code)) {
    return permanent(
      "tls",
      `${who}: the server's certificate${where} is not signed by a CA the writer trusts (${code}): set sslrootcert in ${setting} or the source's config to the CA that signed it ` +
        `(kubernetes: CloudNativePG's <cluster>-ca secret; aws: "aws-rds"), or sslmode=require to encrypt without verifying`,
    );
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return permanent(
      "tls",
      `${who}: the server's certificate does not name the host the writer connects to (${msg}): connect through a name the certificate lists, or use sslmode=verify-ca (checks the CA only)`,
    );
  }
  if (code && TLS_EXPIRED.has(code)) return permanent("tls", `${who}: the server's certificate${where} is not valid now (${code}): renew it`);
  if (/server does not support SSL/i.test(msg)) {
    return permanent(
      "tls",
      `${who}: the server${where} does not accept TLS, and sslmode asks for it: turn ssl on in the server, or set sslmode=disable in ${setting} if plain text is acceptable`,
    );
  }
  if (code && /^(08|57P|53|40|58)/.test(code)) return transient("server");
  if ((code && NETWORK.has(code)) || /Connection terminated|connection timeout|timeout expired|socket hang up/i.test(msg)) return transient("connection");
  if (/: (AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|NoSuchBucket|InvalidBucketName):/.test(msg)) {
    return permanent("storage", `object storage refused the writer: ${msg}: fix the bucket in warehouse, or the credentials / the role's access to it`);
  }
  if (code && /^E[A-Z]+$/.test(code)) return transient("storage");
  return transient("other");
}

/** The grant a permission error asks for. */
function permissionFix(msg: string, origin: ErrorOrigin | undefined): string {
  const user = origin?.user ?? "<user>";
  if (origin?.setting.startsWith("catalog")) {
    // The SQL catalog creates and migrates its own tables (iceberg_tables, iceberg_namespace_properties).
    const table = /of (?:table|relation) (\S+)/.exec(msg)?.[1];
    if (table)
      return `the catalog's tables must belong to the role in catalog.uri: ALTER TABLE ${table} OWNER TO ${user} (as their owner), or connect as their owner in catalog.uri`;
    return `GRANT CREATE ON SCHEMA public TO ${user} in the catalog's database, or connect as a role that may create the catalog's tables in catalog.uri`;
  }
  if (/WAL sender|walsender|replication role|REPLICATION attribute/i.test(msg))
    return `give the role the REPLICATION attribute: ALTER ROLE ${user} REPLICATION`;
  const table = /for (?:table|relation) (\S+)/.exec(msg)?.[1];
  if (table) return `GRANT SELECT ON ${table} TO ${user} (the initial copy reads every replicated table)`;
  if (/publication|must be owner/i.test(msg)) return `create the publication as the tables' owner, or make ${user} their owner`;
  if (/database/i.test(msg)) return `GRANT CREATE ON DATABASE ${origin?.database ?? "<database>"} TO ${user}`;
  return `grant ${user} what the message names`;
}
