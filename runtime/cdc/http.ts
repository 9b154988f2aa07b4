/** /healthz and /metrics for the CDC writer. */
import { createServer, Server } from "node:http";
import { registry } from "../core/metrics";
import type { WriterStatus } from "./writer";

export function serveHealth(host: string, port: number, status: () => WriterStatus): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.setHeader("content-type", registry.contentType);
      res.end(await registry.metrics());
    } else if (req.url === "/healthz") {
      const s = status();
      res.statusCode = s.state === "failed" || s.state === "stopped" ? 503 : 200;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(s));
    } else {
      res.statusCode = 404;
      res.end("not found: try /healthz or /metrics\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
