/** The table writer's Prometheus metrics, on the shared registry. */
import { Counter, Gauge } from "prom-client";
import { registry } from "../core/metrics";

export const icebergMetrics = {
  commitAttempts: new Counter({
    name: "floe_iceberg_commit_attempts_total",
    help: "Iceberg commit attempts by outcome (committed, conflict, failed)",
    labelNames: ["table", "op", "outcome"],
    registers: [registry],
  }),
  filesWritten: new Counter({ name: "floe_iceberg_files_written_total", help: "Data and delete files written", labelNames: ["table", "content"], registers: [registry] }),
  indexRows: new Gauge({ name: "floe_iceberg_pk_index_rows", help: "Live rows in the primary-key index", labelNames: ["table"], registers: [registry] }),
};
