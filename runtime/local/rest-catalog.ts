/**
 * The local platform's Iceberg REST catalog server: Apache Iceberg's own REST server (the
 * `iceberg-open-api` test-fixtures jar from Maven Central, installed and cached by
 * scripts/install-iceberg-rest.sh) over a JdbcCatalog in the local Postgres — the same
 * `iceberg_tables` rows as floe's SQL catalog — on 127.0.0.1, behind OAuth2 client credentials.
 *
 * It runs as a detached supervisor (`sh`, the group leader) that restarts the JVM after a crash,
 * as the unprivileged server user when we are root (so that the metadata files it writes belong to
 * the same user as the CDC writer's data files). Its jars are staged into the server's directory
 * (hard links, else copies): the cache may live where that user cannot read (/root/.cache), and a
 * later reinstall never changes the classpath of a running server.
 */
import { execFile, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { asServerUser, handOver, isAlive, stopProcess } from "./process";

export interface RestServerSpec {
  /** The server's directory: staged jars, log, pid files. */
  dir: string;
  /** Port on 127.0.0.1. */
  port: number;
  /** Postgres URL of the database holding the JDBC catalog tables. */
  catalogUrl: string;
  /** The catalog's name (catalog_name of its rows). */
  name: string;
  /** Warehouse root of new tables (file:///…). */
  warehouse: string;
  /** "client_id:client_secret" every client must present (OAuth2 client credentials); none: no auth. */
  credential?: string;
  /** The java binary. Defaults to $FLOE_JAVA, else $JAVA_HOME/bin/java, else java on PATH. */
  java?: string;
}

/** The JDBC form of a Postgres URL: the URL without credentials, and the credentials apart. */
export function jdbcConnection(url: string): { jdbcUrl: string; user: string; password: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`the catalog database URL is not a URL (expected postgresql://user:password@host:port/database)`);
  }
  if (u.protocol !== "postgresql:" && u.protocol !== "postgres:")
    throw new Error(`the catalog database URL must start with postgresql://, got ${u.protocol}//…`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database) throw new Error("the catalog database URL names no database (postgresql://user:password@host:port/DATABASE)");
  const params = new URLSearchParams();
  for (const [k, v] of u.searchParams) params.set(k, v);
  const query = params.toString();
  return {
    jdbcUrl: `jdbc:postgresql://${u.hostname}:${u.port || "5432"}/${encodeURIComponent(database)}${query ? `?${query}` : ""}`,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/** The jars a JdbcCatalog on Postgres with local files needs: the install's less the S3 and SQLite ones. */
export function serverJars(names: string[]): string[] {
  return names.filter((n) => n.endsWith(".jar") && !/^(iceberg-aws|sqlite-jdbc)/.test(n)).sort();
}

/**
 * The environment of the JVM: the catalog's properties as Iceberg's fixture reads them (CATALOG_*),
 * nothing inherited that could add others.
 */
export function serverEnv(spec: RestServerSpec, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const { jdbcUrl, user, password } = jdbcConnection(spec.catalogUrl);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !k.startsWith("CATALOG_") && !k.startsWith("FLOE_REST_")) env[k] = v;
  Object.assign(env, {
    CATALOG_URI: jdbcUrl,
    CATALOG_JDBC_USER: user,
    CATALOG_JDBC_PASSWORD: password,
    CATALOG_WAREHOUSE: spec.warehouse,
    FLOE_REST_NAME: spec.name,
    FLOE_REST_WATCH_STDIN: "0",
  });
  if (spec.credential) env.FLOE_REST_CREDENTIAL = spec.credential;
  return env;
}

function repoRoot(): string {
  // runtime/local (ts) or dist/runtime/local (compiled)
  const found = [resolve(__dirname, "..", ".."), resolve(__dirname, "..", "..", "..")].find((d) => existsSync(join(d, "scripts", "install-iceberg-rest.sh")));
  if (!found) throw new Error(`scripts/install-iceberg-rest.sh not found above ${__dirname}: the local REST catalog is installed by it`);
  return found;
}

/**
 * Installs the server (idempotent; cached under ~/.cache/floe; cold: Maven Central downloads, about
 * half a minute) and returns its directory. Needs java 17+, javac and mvn.
 */
export function installRestServer(): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      "bash",
      [join(repoRoot(), "scripts", "install-iceberg-rest.sh")],
      { encoding: "utf8", timeout: 15 * 60_000, maxBuffer: 16 << 20, env: { ...process.env, FLOE_SKIP_MOTO: "1" } },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`installing the Iceberg REST catalog server failed (scripts/install-iceberg-rest.sh): ${err.message}\n${stderr.slice(-4000)}`));
        else
          resolvePromise(
            stdout
              .trim()
              .split("\n")
              .pop()!
              // eslint-disable-next-line no-control-regex -- strips ANSI colours
              .replace(/\x1b\[[0-9;]*m/g, ""),
          );
      },
    );
  });
}

/**
 * Stages the install's jars and launcher into `dir` (hard links, else copies), readable by every
 * user (never chowned: a hard link shares the cache's inode); returns the classpath.
 */
export function stageServer(installDir: string, dir: string): string {
  const lib = join(dir, "lib");
  const classes = join(dir, "classes");
  rmSync(lib, { recursive: true, force: true });
  rmSync(classes, { recursive: true, force: true });
  const dirOf = (d: string) => {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o755);
  };
  const copy = (from: string, to: string) => {
    copyFileSync(from, to);
    chmodSync(to, 0o644);
  };
  dirOf(lib);
  const place = (from: string, to: string) => {
    try {
      linkSync(from, to);
    } catch {
      copy(from, to);
    }
  };
  const jars = serverJars(readdirSync(join(installDir, "lib")));
  if (!jars.some((j) => j.startsWith("iceberg-open-api")) || !jars.some((j) => j.startsWith("postgresql"))) {
    throw new Error(`${installDir}/lib lacks the REST fixture or the Postgres driver: remove ${installDir} and run scripts/install-iceberg-rest.sh again`);
  }
  for (const j of jars) place(join(installDir, "lib", j), join(lib, j));
  const copyTree = (from: string, to: string) => {
    dirOf(to);
    for (const e of readdirSync(from)) {
      const f = join(from, e);
      if (statSync(f).isDirectory()) copyTree(f, join(to, e));
      else copy(f, join(to, e));
    }
  };
  copyTree(join(installDir, "classes"), classes);
  return [classes, ...jars.map((j) => join(lib, j))].join(":");
}

export function javaBinary(spec: Pick<RestServerSpec, "java">, env: NodeJS.ProcessEnv = process.env): string {
  if (spec.java) return spec.java;
  if (env.FLOE_JAVA) return env.FLOE_JAVA;
  if (env.JAVA_HOME) return join(env.JAVA_HOME, "bin", "java");
  return "java";
}

/**
 * Restarts the JVM after it exits (a crash, kill -9), a second later; the JVM's pid is kept in
 * server.pid. `$0` is the directory, the rest is the java command.
 */
const SUPERVISOR =
  'umask 077; dir="$0"; while :; do "$@" & echo $! > "$dir/server.pid"; wait $!; code=$?; ' +
  'echo "floe: the catalog server exited with $code; restarting in 1s" >&2; sleep 1; done';

export const RESTART_MARK = "floe: the catalog server exited with";

/** An OAuth2 token for `credential` from the server (null when the server answers nothing yet). */
export async function fetchToken(uri: string, credential: string): Promise<string> {
  const i = credential.indexOf(":");
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: credential.slice(0, i),
    client_secret: credential.slice(i + 1),
    scope: "catalog",
  });
  const res = await fetch(`${uri}/v1/oauth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
    signal: AbortSignal.timeout(5_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${uri}/v1/oauth/tokens answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text).access_token;
}

/** GET /v1/config with a token: the status, or throws when nothing answers. */
export async function probe(uri: string, credential?: string): Promise<number> {
  const headers: Record<string, string> = {};
  if (credential) headers.authorization = `Bearer ${await fetchToken(uri, credential)}`;
  const res = await fetch(`${uri}/v1/config`, { headers, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

export interface StartedServer {
  /** The supervisor's pid (it leads the process group: signal -pid to stop both). */
  pid: number;
  uri: string;
  logFile: string;
}

/**
 * Stages and starts the server, and waits until GET /v1/config answers 200 with a granted token.
 * Fails (and stops what it started) with the log's tail when the JVM exits three times before that,
 * or past `timeoutMs`.
 */
export async function startRestServer(spec: RestServerSpec, installDir: string, timeoutMs = 180_000): Promise<StartedServer> {
  mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
  handOver(spec.dir);
  const classpath = stageServer(installDir, spec.dir);
  const logFile = join(spec.dir, "server.log");
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const log = openSync(logFile, "a", 0o600);
  handOver(logFile);
  const java = [
    javaBinary(spec),
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    `-Djava.io.tmpdir=${spec.dir}`,
    "-cp",
    classpath,
    "org.apache.iceberg.rest.FloeRestFixture",
    spec.warehouse,
    "-",
    String(spec.port),
  ];
  const child = spawn("sh", ["-c", SUPERVISOR, spec.dir, ...java], {
    ...asServerUser({ cwd: spec.dir, env: serverEnv(spec) }),
    detached: true,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  child.unref();
  const pid = child.pid!;
  writeFileSync(join(spec.dir, "supervisor.pid"), `${pid}\n`);
  const uri = `http://127.0.0.1:${spec.port}`;
  const since = () => readFileSync(logFile, "utf8").slice(logStart);
  const tail = () => since().split("\n").slice(-40).join("\n");
  const fail = async (why: string): Promise<never> => {
    await stopRestServer(pid).catch(() => undefined);
    throw new Error(`the Iceberg REST catalog server ${why}; its log (${logFile}):\n${tail()}`);
  };
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    if (!isAlive(pid)) return fail("exited at start");
    const restarts = since().split(RESTART_MARK).length - 1;
    if (restarts >= 3) return fail(`exited ${restarts} times at start`);
    try {
      const status = await probe(uri, spec.credential);
      if (status === 200) break;
      last = `GET /v1/config answered ${status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) return fail(`did not answer on ${uri} within ${timeoutMs / 1000} s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { pid, uri, logFile };
}

/** The JVM's pid (not the supervisor's) while it runs, else null. */
export function serverPid(dir: string): number | null {
  const f = join(dir, "server.pid");
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, "utf8").trim());
  return pid > 0 && isAlive(pid) ? pid : null;
}

/** Stops the supervisor and the JVM (one process group): SIGTERM, then SIGKILL after 15 s. */
export async function stopRestServer(pid: number): Promise<void> {
  await stopProcess(
    pid,
    [
      ["SIGTERM", 15_000],
      ["SIGKILL", 2_000],
    ],
    "the Iceberg REST catalog server and its supervisor",
    true,
  );
}
