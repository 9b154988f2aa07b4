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
  filesWritten: new Counter({
    name: "floe_iceberg_files_written_total",
    help: "Data and delete files written",
    labelNames: ["table", "content"],
    registers: [registry],
  }),
  tableFiles: new Gauge({
    name: "floe_iceberg_table_files",
    help: "Live files of the table's current snapshot, by content (data, deletes: position delete files and deletion vectors)",
    labelNames: ["table", "content"],
    registers: [registry],
  }),
  tableBytes: new Gauge({
    name: "floe_iceberg_table_bytes",
    help: "Bytes of the live files of the table's current snapshot (total-files-size)",
    labelNames: ["table"],
    registers: [registry],
  }),
  tableSnapshots: new Gauge({
    name: "floe_iceberg_table_snapshots",
    help: "Snapshots kept in the table's metadata",
    labelNames: ["table"],
    registers: [registry],
  }),
  maintenanceLast: new Gauge({
    name: "floe_iceberg_maintenance_last_timestamp_seconds",
    help: "When the table's last maintenance pass ended (unix seconds)",
    labelNames: ["table"],
    registers: [registry],
  }),
  maintenanceSeconds: new Gauge({
    name: "floe_iceberg_maintenance_duration_seconds",
    help: "Duration of the table's last maintenance pass",
    labelNames: ["table"],
    registers: [registry],
  }),
  indexRows: new Gauge({ name: "floe_iceberg_pk_index_rows", help: "Live rows in the primary-key index", labelNames: ["table"], registers: [registry] }),
};
