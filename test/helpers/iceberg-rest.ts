/**
 * Test servers for the REST catalog and S3 FileIO tests, each on 127.0.0.1 and a free port:
 * - `startRestCatalog()`: Apache Iceberg's REST catalog fixture (RESTServerCatalogAdapter over a
 *   JdbcCatalog on SQLite, HadoopFileIO on a temp warehouse), installed from Maven Central by
 *   scripts/install-iceberg-rest.sh (cached in ~/.cache/floe).
 * - `startMotoS3()`: moto's S3-compatible server (PyPI), installed by the same script.
 * Both exit when this process goes away (their stdin is a pipe from us).
 */
import { ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../../runtime/local/process";
import { GiveUp, processCpuMs, waitUntil } from "./wait";

// the repo root from test/helpers (ts-jest) or dist/test/helpers (compiled benches)
const ROOT =
  [resolve(__dirname, "../.."), resolve(__dirname, "../../..")].find((d) => existsSync(join(d, "scripts/install-iceberg-rest.sh"))) ??
  resolve(__dirname, "../..");
let installDir: Promise<string> | undefined;

/**
 * Runs the (idempotent, cached) installer once per process; returns the fixture's directory.
 * Cold (empty Maven and floe caches) it downloads from Maven Central and PyPI: about a minute.
 */
export function installIcebergRest(): Promise<string> {
  installDir ??= new Promise<string>((resolvePromise, reject) => {
    execFile(
      "bash",
      [join(ROOT, "scripts/install-iceberg-rest.sh")],
      { encoding: "utf8", timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          installDir = undefined;
          reject(new Error(`scripts/install-iceberg-rest.sh failed: ${err.message}\n${stderr.slice(-4000)}`));
        } else {
          resolvePromise(stdout.trim().split("\n").pop()!);
        }
      },
    );
  });
  return installDir;
}

/** Time to allow a beforeAll that may have to install the servers cold. */
export const INSTALL_TIMEOUT_MS = 10 * 60_000;

export function motoServerPath(): string {
  const cache = process.env.FLOE_CACHE ?? join(process.env.HOME ?? "/root", ".cache/floe");
  return join(cache, `moto-${process.env.MOTO_VERSION ?? "5.2.5"}`, "bin", "moto_server");
}

export interface RestCatalogServer {
  /** Base URI, e.g. http://127.0.0.1:41234 */
  uri: string;
  /** The server's warehouse directory (tables live under <warehouse>/<ns>/<table>). */
  warehouse: string;
  /** Everything the server wrote (warehouse and its SQLite catalog). */
  root: string;
  /** Server log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

async function waitForLine(child: ChildProcess, pattern: RegExp, what: string, log: () => string, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolvePromise, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not start within ${timeoutMs} ms; log:\n${log()}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = pattern.exec(buf);
      if (m) {
        cleanup();
        resolvePromise(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${what} exited with code ${code} before it was ready; log:\n${log()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.stdin?.end();
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts Iceberg's REST catalog fixture. `env` adds CATALOG_* properties
 * (e.g. CATALOG_WAREHOUSE). The warehouse is a plain directory that chdb's icebergLocal reads.
 */
export async function startRestCatalog(opts: { env?: Record<string, string> } = {}): Promise<RestCatalogServer> {
  const dir = await installIcebergRest();
  const root = mkdtempSync(join(tmpdir(), "floe-iceberg-rest-"));
  const warehouse = join(root, "warehouse");
  let logText = "";
  const child = spawn(
    "java",
    [
      "-Xmx512m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-cp",
      `${dir}/classes:${dir}/lib/*`,
      "org.apache.iceberg.rest.FloeRestFixture",
      warehouse,
      join(root, "catalog.db"),
      "0",
    ],
    { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...(opts.env ?? {}) } },
  );
  const append = (d: Buffer) => {
    logText += d.toString();
    if (logText.length > 200_000) logText = logText.slice(-100_000);
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const log = () => logText;
  let port: number;
  try {
    const m = await waitForLine(child, /LISTENING (\d+)/, "Iceberg REST catalog fixture", log, 60_000);
    port = Number(m[1]);
  } catch (e) {
    await stopChild(child);
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    uri: `http://127.0.0.1:${port}`,
    warehouse,
    root,
    log,
    async stop() {
      await stopChild(child);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * CATALOG_* settings that make the REST fixture keep tables in S3-compatible storage (Iceberg's
 * S3FileIO on the server side) and, with `vend`, hand the S3 credentials to clients in each
 * table's config (as real catalogs vend credentials).
 */
export function s3CatalogEnv(opts: {
  endpoint: string;
  warehouse: string;
  accessKeyId: string;
  secretAccessKey: string;
  vend?: boolean;
}): Record<string, string> {
  return {
    AWS_REGION: "us-east-1",
    CATALOG_IO__IMPL: "org.apache.iceberg.aws.s3.S3FileIO",
    CATALOG_WAREHOUSE: opts.warehouse,
    CATALOG_S3_ENDPOINT: opts.endpoint,
    CATALOG_S3_PATH__STYLE__ACCESS: "true",
    CATALOG_S3_ACCESS__KEY__ID: opts.accessKeyId,
    CATALOG_S3_SECRET__ACCESS__KEY: opts.secretAccessKey,
    CATALOG_CLIENT_REGION: "us-east-1",
    ...(opts.vend ? { CATALOG_INCLUDE__CREDENTIALS: "true" } : {}),
  };
}

export interface MotoS3Server {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts moto's S3-compatible server on 127.0.0.1 (any access key / secret is accepted). */
export async function startMotoS3(): Promise<MotoS3Server> {
  await installIcebergRest();
  const port = await freePort();
  let logText = "";
  // moto does not watch its stdin: a bash guard does, so moto goes when this process goes
  const guard = 'trap \'kill "$m" 2>/dev/null; wait "$m" 2>/dev/null\' EXIT; "$0" -H 127.0.0.1 -p "$1" </dev/null & m=$!; cat >/dev/null';
  const child = spawn("bash", ["-c", guard, motoServerPath(), String(port)], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (logText += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (logText += d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  // moto's CPU time is the progress: a slow start on a loaded machine is waited for, a hung one is not
  const motoCpuMs = (): number | undefined => {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim();
    return kids ? processCpuMs(Number(kids.split(" ")[0])) : undefined;
  };
  try {
    await waitUntil(
      `moto_server to answer on ${endpoint}`,
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`moto_server exited with ${child.exitCode}:\n${logText}`);
        const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        return true;
      },
      { everyMs: 200, progress: () => ({ motoCpuMs: motoCpuMs() }), explain: () => `its output:\n${logText}` },
    );
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return {
    endpoint,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.stdin!.end(); // the guard kills moto and waits for it
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
