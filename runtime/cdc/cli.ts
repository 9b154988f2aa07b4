/** `floe cdc run --config FILE`: the CDC writer as a long-running process. */
import { parseArgs } from "node:util";
import { log } from "../core/log";
import { loadCdcConfig } from "./config";
import { openCatalog } from "./catalog";
import { serveHealth } from "./http";
import { CdcStopError, CdcWriter, WriterStatus } from "./writer";

export const usage = `usage: floe cdc run --config FILE

Replicates Postgres tables into Iceberg through logical replication (pgoutput), exactly once.

options:
  --config FILE   CDC config (JSON; \${ENV} references are expanded). See runtime/cdc/config.ts.
  --help          this text

Serves /healthz and /metrics on config.http (default 127.0.0.1:9187).
Exit codes: 0 stopped cleanly, 1 stopped on a change it cannot follow (see the log), 2 bad usage or config.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== "run") {
    process.stderr.write(usage + "\n");
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { config: { type: "string" }} }));
  } catch (e) {
    process.stderr.write(`floe cdc run: ${(e as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`floe cdc run: --config FILE is required\n\n${usage}\n`);
    return 2;
  }
  let config;
  try {
    config = loadCdcConfig(values.config);
  } catch (e) {
    process.stderr.write(`floe cdc run: ${(e as Error).message}\n`);
    return 2;
  }
  let writer: CdcWriter | undefined;
  let status: WriterStatus = { state: "starting", sources: {} };
  const server = config.http.port ? await serveHealth(config.http.host, config.http.port, () => writer?.status ?? status) : undefined;
  let stopping = false;
  const stop = () => {
    stopping = true;
    writer?.stop();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    // Faults (Postgres restart, catalog or storage down) restart the pipeline from what Iceberg holds.
    for (let attempt = 1; !stopping; attempt++) {
      const started = Date.now();
      try {
        const catalog = await openCatalog(config);
        writer = new CdcWriter(config, { catalog, log });
        await writer.run();
        return 0;
      } catch (e) {
        status = { state: "failed", error: (e as Error).message, sources: writer?.status.sources ?? {} };
        if (e instanceof CdcStopError) {
          log.error("stopped: cannot continue without losing data", { error: e.message });
          return 1;
        }
        if (stopping) return 0;
        if (Date.now() - started > 60_000) attempt = 1; // it had been running well: back off from the start
        const wait = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));
        log.warn("writer fault, restarting from the committed state", { error: (e as Error).message, attempt, waitMs: wait });
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    return 0;
  } finally {
    server?.close();
  }
}
