/** The CDC writer's Prometheus metrics, on the shared registry. */
import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../core/metrics";

export const cdcMetrics = {
  lagBytes: new Gauge({
    name: "floe_cdc_lag_bytes",
    help: "WAL bytes between the server's end of WAL and what is committed to Iceberg",
    labelNames: ["source"],
    registers: [registry],
  }),
  lagSeconds: new Gauge({
    name: "floe_cdc_lag_seconds",
    help: "Seconds between now and the commit time of the last source transaction received",
    labelNames: ["source"],
    registers: [registry],
  }),
  freshness: new Gauge({
    name: "floe_cdc_freshness_seconds",
    help: "Seconds from the source COMMIT to visible in Iceberg, for the last flushed transaction",
    labelNames: ["source"],
    registers: [registry],
  }),
  rows: new Counter({ name: "floe_cdc_rows_total", help: "Row changes committed into Iceberg", labelNames: ["table", "op"], registers: [registry] }),
  commitSeconds: new Histogram({
    name: "floe_cdc_commit_seconds",
    help: "Iceberg commit latency per table",
    labelNames: ["table"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  }),
  errors: new Counter({
    name: "floe_cdc_errors_total",
    help: "Errors that ended a run of the writer, by kind (runtime/cdc/errors.ts: connection, server, catalog, storage, slot_in_use, other are retried; auth, database, table, publication, permission, tls, ... end it), and slot_lost",
    labelNames: ["kind"],
    registers: [registry],
  }),
  retrying: new Gauge({
    name: "floe_cdc_retrying",
    help: "1 while the writer waits to retry after a transient error (see /healthz retry), else 0",
    registers: [registry],
  }),
  transactions: new Counter({ name: "floe_cdc_transactions_total", help: "Source transactions applied", labelNames: ["source"], registers: [registry] }),
  handoffs: new Counter({
    name: "floe_cdc_handoffs_total",
    help: "Upgrade handoffs followed (the source moved to a new primary), by kind",
    labelNames: ["source", "kind"],
    registers: [registry],
  }),
  copyRows: new Gauge({
    name: "floe_cdc_copy_rows",
    help: "Rows copied so far by a table's initial copy in progress",
    labelNames: ["table"],
    registers: [registry],
  }),
  copyBytes: new Gauge({
    name: "floe_cdc_copy_bytes",
    help: "Bytes of row data read so far by a table's initial copy in progress",
    labelNames: ["table"],
    registers: [registry],
  }),
  copyEstimatedRows: new Gauge({
    name: "floe_cdc_copy_estimated_rows",
    help: "Rows the table held by Postgres' estimate (pg_class.reltuples) when its copy started; 0 when unknown",
    labelNames: ["table"],
    registers: [registry],
  }),
  copyEtaSeconds: new Gauge({
    name: "floe_cdc_copy_eta_seconds",
    help: "Seconds until a table's copy is through its estimated rows at its rate so far; -1 when unknown",
    labelNames: ["table"],
    registers: [registry],
  }),
  bufferedRows: new Gauge({ name: "floe_cdc_buffered_rows", help: "Row changes waiting for the next commit", registers: [registry] }),
};
