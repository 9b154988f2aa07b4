/**
 * /healthz, /livez and /metrics for the CDC writer. /healthz is readiness (503 while it waits to
 * retry: the writer is not replicating); /livez is liveness (503 only once it failed or stopped):
 * a writer retrying a transient outage recovers by itself, and a restart by the orchestrator would
 * only start the backoff over.
 */
import { createServer, Server } from "node:http";
import { registry } from "../core/metrics";
import type { WriterStatus } from "./writer";

/** What /healthz answers: the writer's status, and while it waits to retry, why and until when. */
export interface Health extends Omit<WriterStatus, "state"> {
  state: WriterStatus["state"] | "retrying";
  /** Set from a transient error until the writer streams again. */
  retry?: {
    /** floe_cdc_errors_total's kind of the last error (connection, server, catalog, storage, ...). */
    kind: string;
    error: string;
    /** Failed runs in a row. */
    attempt: number;
    /** The wait before the next run (exponential backoff, capped). */
    backoffMs: number;
    nextAttemptAt: string;
    /** When the first of these failures happened. */
    since: string;
  };
}

/** /healthz: 200 while the writer starts, copies or streams; 503 once it failed, stopped or waits to retry. */
export const healthCode = (h: Health): number => (h.state === "failed" || h.state === "stopped" || h.state === "retrying" ? 503 : 200);

/** /livez: 200 while the process does its work, retrying included; 503 once it failed or stopped. */
export const liveCode = (h: Health): number => (h.state === "failed" || h.state === "stopped" ? 503 : 200);

export function serveHealth(host: string, port: number, status: () => Health): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.setHeader("content-type", registry.contentType);
      res.end(await registry.metrics());
    } else if (req.url === "/healthz" || req.url === "/livez") {
      const s = status();
      res.statusCode = req.url === "/livez" ? liveCode(s) : healthCode(s);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(s));
    } else {
      res.statusCode = 404;
      res.end("not found: try /healthz, /livez or /metrics\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
