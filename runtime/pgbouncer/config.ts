/**
 * pgbouncer.ini, rendered and parsed in one place: the kubernetes pgBouncer Deployment's initial
 * config (components/pooler), the local target's pooler (./process.ts) and the upgrade
 * orchestrator's repointing of a [databases] entry (runtime/upgrade/pooler.ts) all go through here,
 * so every pgBouncer floe runs accepts the same startup parameters and reads the same entries.
 */

/** A [databases] entry: the name clients connect to, mapped to a server. */
export interface PgBouncerDatabase {
  /** Name clients connect to. */
  name: string;
  host: string;
  port: number;
  /** Database on the server. Defaults to `name`. */
  dbname?: string;
}

/** Where a [databases] entry points. */
export interface DbTarget {
  host: string;
  port: number;
  dbname: string;
  user?: string;
}

export interface PgBouncerConfig {
  databases: PgBouncerDatabase[];
  /** listen_addr. */
  listenAddr: string;
  listenPort: number;
  /** auth_file (userlist.txt). */
  authFile: string;
  /** admin_users and stats_users (the console that PAUSE / RESUME / RELOAD / SHOW go through). */
  adminUsers: string[];
  /** "transaction", "session" or "statement". Defaults to "transaction". */
  poolMode?: string;
  /** Defaults to 1000. */
  maxClientConnections?: number;
  /** Defaults to 20. */
  defaultPoolSize?: number;
  /** Seconds a client waits for a server connection. Defaults to 120 (pgBouncer's own). */
  queryWaitTimeout?: number;
  /** server_tls_sslmode. Defaults to pgBouncer's own (prefer). */
  serverTlsSslmode?: string;
  /** Seconds before retrying a failed server login. Defaults to pgBouncer's own (15). */
  serverLoginRetry?: number;
  /** A local pgBouncer's directory: unix_socket_dir, pidfile and logfile go there. Defaults to none (a container's). */
  dir?: string;
  /** More parameters, written last (they win). Defaults to none. */
  parameters?: Record<string, string>;
}

/**
 * Startup parameters clients send that pgBouncer does not track: psql and most drivers send
 * extra_float_digits, JDBC and others options and search_path. Accepted instead of failing the login.
 */
export const IGNORE_STARTUP_PARAMETERS = "extra_float_digits,options,search_path";

const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** The [databases] line of one entry. */
export function databaseLine(d: PgBouncerDatabase): string {
  return `${d.name} = ${connString({ host: d.host, port: d.port, dbname: d.dbname ?? d.name })}`;
}

/** The pgbouncer.ini text (pure). */
export function renderIni(c: PgBouncerConfig): string {
  const files = c.dir ? { unix_socket_dir: c.dir, pidfile: `${c.dir}/pgbouncer.pid`, logfile: `${c.dir}/pgbouncer.log` } : {};
  const params: Record<string, string | number | undefined> = {
    listen_addr: c.listenAddr,
    listen_port: c.listenPort,
    unix_socket_dir: files.unix_socket_dir,
    auth_type: "scram-sha-256",
    auth_file: c.authFile,
    admin_users: c.adminUsers.join(","),
    stats_users: c.adminUsers.join(","),
    pool_mode: c.poolMode ?? "transaction",
    max_client_conn: c.maxClientConnections ?? 1000,
    default_pool_size: c.defaultPoolSize ?? 20,
    query_wait_timeout: c.queryWaitTimeout ?? 120,
    server_tls_sslmode: c.serverTlsSslmode,
    server_login_retry: c.serverLoginRetry,
    pidfile: files.pidfile,
    logfile: files.logfile,
    ignore_startup_parameters: IGNORE_STARTUP_PARAMETERS,
    ...(c.parameters ?? {}),
  };
  return [
    "[databases]",
    ...c.databases.map(databaseLine),
    "",
    "[pgbouncer]",
    ...Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} = ${v}`),
    "",
  ].join("\n");
}

/** userlist.txt: `"user" "password"` lines (plain passwords let pgBouncer do SCRAM both ways). */
export function renderUserlist(users: { name: string; password: string }[]): string {
  return users.map((u) => `${quote(u.name)} ${quote(u.password)}`).join("\n") + "\n";
}

export function connString(t: DbTarget): string {
  return `host=${t.host} port=${t.port} dbname=${t.dbname}${t.user ? ` user=${t.user}` : ""}`;
}

/** Parse a [databases] entry "host=… port=… dbname=…" into its key/values. */
export function parseConnString(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g)) out[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
  return out;
}

/** The value of a [databases] entry in a pgbouncer.ini text, or null. */
export function databaseEntry(ini: string, name: string): string | null {
  let section = "";
  for (const line of ini.split("\n")) {
    const sec = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1].trim().toLowerCase();
      continue;
    }
    if (section !== "databases") continue;
    const m = /^\s*("?)([^="\s]+)\1\s*=\s*(.*)$/.exec(line);
    if (m && m[2] === name) return m[3].trim();
  }
  return null;
}

/** Where a [databases] entry points, or null when there is no such entry. */
export function entryTarget(ini: string, name: string): DbTarget | null {
  const entry = databaseEntry(ini, name);
  if (entry === null) return null;
  const kv = parseConnString(entry);
  return { host: kv.host ?? "127.0.0.1", port: Number(kv.port ?? 5432), dbname: kv.dbname ?? name, user: kv.user };
}

/** listen_port of a pgbouncer.ini text, or null. */
export function listenPort(ini: string): number | null {
  const m = /^\s*listen_port\s*=\s*(\d+)/m.exec(ini);
  return m ? Number(m[1]) : null;
}

/**
 * pgbouncer.ini with the [databases] entry `name` pointing at `target`, keeping every other
 * setting of the entry (pool_size, …) and every other line. Throws when there is no such entry.
 */
export function repointDatabase(ini: string, name: string, target: DbTarget): string {
  let section = "";
  let found = false;
  const lines = ini.split("\n").map((line) => {
    const sec = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1].trim().toLowerCase();
      return line;
    }
    if (section !== "databases") return line;
    const m = /^(\s*("?)([^="\s]+)\2\s*=\s*)(.*)$/.exec(line);
    if (!m || m[3] !== name) return line;
    found = true;
    const kv = parseConnString(m[4]);
    delete kv.host;
    delete kv.port;
    delete kv.dbname;
    if (target.user) delete kv.user;
    const rest = Object.entries(kv).map(([k, v]) => `${k}=${v}`);
    return `${m[1]}${[connString(target), ...rest].join(" ")}`;
  });
  if (!found) throw new Error(`pgbouncer.ini has no [databases] entry "${name}": add one pointing at blue before the upgrade`);
  return lines.join("\n");
}
