/**
 * bench/iceberg-write — rows/s for writing N rows into an Iceberg table as Parquet + one commit
 * through the table writer, against a baseline measured in the same run on the same rows:
 * chdb (ClickHouse in-process) writing them to a Parquet file.
 *
 * Narrow table, as everywhere in floe's benches: bigint pk, int, text, timestamptz, numeric.
 * The catalog is a real REST catalog (Iceberg's REST fixture, started here on 127.0.0.1); the
 * rows go through `upsert` (the CDC writer's path: key index + Parquet + manifests + commit).
 *
 * Run: npm run build && node dist/bench/iceberg-write.js
 *   FLOE_BENCH_ROWS (default 1,000,000), FLOE_BENCH_MODE=upsert|append (default upsert).
 * Prints rows/s and the CPU-seconds per 1M rows of each side (this process: the writer alone, then
 * chdb, which runs in-process), the ratio by CPU per row (chdb / floe: the goal is >= 0.5) and by
 * rows/s, the load average before and after (bench/efficiency.ts), and one JSON line at the end.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RestCatalog, restLocationPath } from "../runtime/iceberg/rest";
import { Row, Table } from "../runtime/iceberg/table";
import { startRestCatalog } from "../test/helpers/iceberg-rest";
import { describe, loadAverage, summary, type Comparison } from "./efficiency";

const chdb = require("chdb") as { query(sql: string, format?: string): string };

const ROWS = Number(process.env.FLOE_BENCH_ROWS ?? 1_000_000);
const MODE = (process.env.FLOE_BENCH_MODE ?? "upsert") as "upsert" | "append";
const BASE_US = 1_700_000_000_000_000n;

function makeRows(n: number): Row[] {
  const rows: Row[] = new Array(n);
  for (let i = 0; i < n; i++) {
    rows[i] = {
      id: BigInt(i),
      qty: i % 1000,
      note: `note ${i}`,
      at: BASE_US + BigInt(i) * 1_000_000n,
      amount: `${Math.floor(i / 100)}.${String(i % 100).padStart(2, "0")}`,
    };
  }
  return rows;
}

function cpuSeconds(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  if (!Number.isInteger(ROWS) || ROWS <= 0) throw new Error(`FLOE_BENCH_ROWS must be a positive integer, got ${process.env.FLOE_BENCH_ROWS}`);
  const work = mkdtempSync(join(tmpdir(), "floe-bench-iceberg-"));
  const server = await startRestCatalog();
  try {
    const catalog = await RestCatalog.connect({ uri: server.uri, warehouse: server.warehouse });
    await catalog.createNamespace(["bench"]);
    const table = await Table.create(
      catalog,
      { namespace: ["bench"], name: "narrow" },
      {
        columns: [
          { name: "id", type: "long", required: true },
          { name: "qty", type: "int" },
          { name: "note", type: "string" },
          { name: "at", type: "timestamptz" },
          { name: "amount", type: "decimal(12,2)" },
        ],
        identifier: MODE === "upsert" ? ["id"] : undefined,
      },
    );

    // rows are built before the clock starts: the CDC writer receives them decoded
    const rows = makeRows(ROWS);
    const loadBefore = loadAverage();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const tx = table.newWrite();
    if (MODE === "upsert") tx.upsert(rows);
    else tx.append(rows);
    const result = await tx.commit();
    const writerSec = Number(process.hrtime.bigint() - t0) / 1e9;
    const writerCpu = cpuSeconds(process.cpuUsage(c0));
    const writerRps = ROWS / writerSec;

    // sanity: an independent reader sees every row (chdb reads only under its working directory)
    const dir = restLocationPath(table.metadata.location);
    const cwd = process.cwd();
    process.chdir(dir);
    let count: number;
    try {
      count = Number(JSON.parse(chdb.query(`SELECT count() AS c FROM icebergLocal('${dir}')`, "JSONEachRow").trim()).c);
    } finally {
      process.chdir(cwd);
    }
    if (count !== ROWS) throw new Error(`chdb reads ${count} rows from the benchmark table, expected ${ROWS}`);

    // baseline: chdb writes the same rows (same values, same types) to Parquet
    const out = join(work, "baseline.parquet");
    process.chdir(work);
    const bc0 = process.cpuUsage();
    const b0 = process.hrtime.bigint();
    chdb.query(
      `SELECT toInt64(number) AS id, toInt32(number % 1000) AS qty, concat('note ', toString(number)) AS note, ` +
        `fromUnixTimestamp64Micro(toInt64(${BASE_US} + number * 1000000), 'UTC') AS at, ` +
        `CAST(toDecimal64(number, 2) / 100 AS Decimal(12, 2)) AS amount FROM numbers(${ROWS}) INTO OUTFILE '${out}' FORMAT Parquet`,
    );
    const baseSec = Number(process.hrtime.bigint() - b0) / 1e9;
    const baseCpu = cpuSeconds(process.cpuUsage(bc0));
    process.chdir(cwd);
    const baseRps = ROWS / baseSec;

    const ratio = writerRps / baseRps;
    const loadAfter = loadAverage();
    console.log(`rows: ${ROWS}, mode: ${MODE}, catalog: REST (Iceberg fixture)`);
    console.log(
      `floe writer (Parquet + manifests + REST commit): ${writerSec.toFixed(2)} s, ${Math.round(writerRps).toLocaleString("en")} rows/s, ${writerCpu.toFixed(2)} s CPU, attempts ${result.attempts}`,
    );
    console.log(
      `baseline chdb -> Parquet file:                  ${baseSec.toFixed(2)} s, ${Math.round(baseRps).toLocaleString("en")} rows/s, ${baseCpu.toFixed(2)} s CPU (${statSync(out).size} bytes)`,
    );
    console.log(`ratio writer / baseline by rows/s: ${ratio.toFixed(3)}`);
    const byCpu: Comparison = {
      name: "Iceberg write",
      writer: { label: "floe (Parquet + manifests + commit)", rows: ROWS, seconds: writerSec, cpuSeconds: writerCpu },
      baseline: { label: "chdb -> Parquet file", rows: ROWS, seconds: baseSec, cpuSeconds: baseCpu },
      by: "cpu",
      loadBefore,
      loadAfter,
    };
    console.log(describe(byCpu));
    console.log(
      JSON.stringify({
        bench: "iceberg-write",
        rows: ROWS,
        mode: MODE,
        writer_rows_per_s: Math.round(writerRps),
        baseline_rows_per_s: Math.round(baseRps),
        writer_cpu_s: Number(writerCpu.toFixed(3)),
        baseline_cpu_s: Number(baseCpu.toFixed(3)),
        ratio: Number(ratio.toFixed(4)),
        byCpu: summary(byCpu),
      }),
    );
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
