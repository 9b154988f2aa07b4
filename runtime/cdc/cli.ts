/** `floe cdc run --config FILE`: the CDC writer as a long-running process. */
import { parseArgs } from "node:util";
import { log } from "../core/log";
import { resolveTls, TlsSettings, tlsWarning } from "../core/postgres-tls";
import { CdcConfig, loadCdcConfig } from "./config";
import { openCatalog } from "./catalog";
import type { Catalog } from "../iceberg/catalog";
import { classify } from "./errors";
import { checkWarehouse } from "./warehouse";
import { Health, serveHealth } from "./http";
import { cdcMetrics } from "./metrics";
import { CdcStopError, CdcWriter } from "./writer";

export const usage = `usage: floe cdc run --config FILE

Replicates Postgres tables into Iceberg through logical replication (pgoutput), exactly once.

options:
  --config FILE   CDC config (JSON; \${ENV} references are expanded). See runtime/cdc/config.ts.
  --help          this text

Serves /healthz and /metrics on config.http (default 127.0.0.1:9187).
Transient faults (a Postgres or catalog restart, a connection refused, reset or timed out) are
retried with backoff, shown on /healthz ("retrying", with the error and the next attempt) and
counted in floe_cdc_errors_total{kind}.
Exit codes: 0 stopped cleanly, 1 stopped on a change it cannot follow (see the log), 2 bad usage,
bad config or a permanent error (authentication, a missing database, table or publication, a
missing grant, an untrusted certificate, an unusable warehouse): one line on stderr names the
problem and the fix.`;

/** 0.5 s, 1 s, 2 s, ... capped at 30 s. */
export const backoffMs = (attempt: number): number => Math.min(30_000, 250 * 2 ** Math.min(Math.max(attempt, 1), 7));

/** A warning per connection that is encrypted without checking the server (sslmode=require, no sslrootcert). */
function tlsWarnings(config: CdcConfig): string[] {
  const conns: { url: string; tls: TlsSettings; what: string }[] = config.sources.map((s) => ({ url: s.connectionString, tls: s, what: `source "${s.name}"` }));
  if (config.catalog.type === "sql") conns.push({ url: config.catalog.uri, tls: config.catalog, what: "the SQL catalog" });
  return conns.flatMap((c) => tlsWarning(resolveTls(c.url, c.tls, c.what), c.what) ?? []);
}

async function closeCatalog(catalog: Catalog | undefined): Promise<void> {
  try {
    await (catalog as { close?: () => unknown } | undefined)?.close?.();
  } catch {
    /* a pool whose server is gone: nothing to release */
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== "run") {
    process.stderr.write(usage + "\n");
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { config: { type: "string" } } }));
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
  for (const w of tlsWarnings(config)) log.warn(w);
  try {
    checkWarehouse(config.warehouse);
  } catch (e) {
    process.stderr.write(`floe cdc run: ${(e as Error).message}\n`);
    return 2;
  }
  let writer: CdcWriter | undefined;
  let status: Health = { state: "starting", sources: {} };
  let retry: Health["retry"];
  const health = (): Health => ({ ...(writer?.status ?? status), ...(retry ? { retry } : {}) });
  const server = config.http.port ? await serveHealth(config.http.host, config.http.port, health) : undefined;
  let stopping = false;
  let wakeUp: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    void writer?.stop();
    wakeUp?.();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    // Transient faults (Postgres restart, catalog or storage down) restart the pipeline from what
    // Iceberg holds, with backoff; permanent ones (runtime/cdc/errors.ts) end the process.
    for (let attempt = 1; !stopping; attempt++) {
      let catalog: Catalog | undefined;
      let streamingSince: number | undefined;
      try {
        catalog = await openCatalog(config);
        writer = new CdcWriter(config, { catalog, log });
        writer.ready.then(
          () => {
            streamingSince = Date.now();
            retry = undefined;
            cdcMetrics.retrying.set(0);
          },
          () => undefined,
        );
        await writer.run();
        return 0;
      } catch (e) {
        const c = classify(e);
        cdcMetrics.errors.inc({ kind: c.kind });
        status = { state: "failed", error: c.message, sources: writer?.status.sources ?? {} };
        writer = undefined;
        await closeCatalog(catalog);
        if (e instanceof CdcStopError) {
          log.error("stopped: cannot continue without losing data", { error: e.message });
          return 1;
        }
        if (stopping) return 0;
        if (c.permanent) {
          process.stderr.write(`floe cdc run: ${c.message}\n`);
          return 2;
        }
        if (streamingSince !== undefined && Date.now() - streamingSince > 30_000) attempt = 1; // it had been streaming: back off from the start
        const wait = backoffMs(attempt);
        retry = {
          kind: c.kind,
          error: c.message,
          attempt,
          backoffMs: wait,
          nextAttemptAt: new Date(Date.now() + wait).toISOString(),
          since: retry?.since ?? new Date().toISOString(),
        };
        status = { ...status, state: "retrying" };
        cdcMetrics.retrying.set(1);
        log.warn("writer fault, restarting from the committed state", { kind: c.kind, error: c.message, attempt, waitMs: wait });
        await new Promise<void>((r) => {
          wakeUp = r;
          setTimeout(r, wait);
        });
      }
    }
    return 0;
  } finally {
    cdcMetrics.retrying.set(0);
    server?.close();
  }
}
