/**
 * bench/branch — how long a local-target database branch (CREATE DATABASE ... TEMPLATE) takes for a
 * ~1 GB parent, for both copy strategies, against a baseline measured in the same run: branching an
 * empty database (the fixed cost) and a plain `cp -r` of the parent's files (the copy floor).
 *
 * Run by hand, once (it writes ~3 GB): npx ts-node bench/branch.ts, or after npm run build,
 * node dist/bench/branch.js. FLOE_BENCH_BRANCH_MB sets the parent size (default 1024).
 * fsync stays on so FILE_COPY's checkpoint and flushes are paid for. Prints one JSON line at the end.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBranch, deleteBranch } from "../runtime/schema/branch";
import { startPostgres } from "../test/helpers/postgres";

const TARGET_MB = Number(process.env.FLOE_BENCH_BRANCH_MB ?? 1024);

async function main(): Promise<void> {
  const pg = await startPostgres({ major: 17, settings: { fsync: "on", max_wal_size: "4GB", checkpoint_timeout: "30min" } });
  try {
    await pg.sql("CREATE DATABASE empty_parent");
    await pg.sql("CREATE DATABASE big_parent");
    const fillStart = Date.now();
    await pg.sql("CREATE TABLE filler (id bigint PRIMARY KEY, n int, s text, ts timestamptz, amount numeric(12,2))", [], "big_parent");
    // ~1 GB: narrow rows in 1M-row batches until pg_database_size reaches the target
    for (let batch = 0; ; batch++) {
      const [{ mb }] = await pg.sql("SELECT pg_database_size(current_database()) / 1048576 AS mb", [], "big_parent");
      if (Number(mb) >= TARGET_MB) break;
      await pg.sql(
        `INSERT INTO filler SELECT g, g % 1000, md5(g::text) || md5((g * 7)::text), now() - g * interval '1 second', g / 100.0
           FROM generate_series($1::bigint, $2::bigint) g`,
        [batch * 1_000_000 + 1, (batch + 1) * 1_000_000],
        "big_parent",
      );
    }
    await pg.sql("CHECKPOINT");
    const [{ bytes }] = await pg.sql("SELECT pg_database_size('big_parent')::bigint AS bytes");
    const [{ oid }] = await pg.sql("SELECT oid FROM pg_database WHERE datname = 'big_parent'");
    console.error(`parent filled: ${(Number(bytes) / 2 ** 20).toFixed(0)} MB in ${((Date.now() - fillStart) / 1000).toFixed(1)} s`);

    const empty = await createBranch(pg.url("empty_parent"), { name: "empty_br" });
    await deleteBranch(pg.url(), "empty_br");
    const fileCopy = await createBranch(pg.url("big_parent"), { name: "big_br_file", strategy: "file_copy" });
    await deleteBranch(pg.url(), "big_br_file");
    const walLog = await createBranch(pg.url("big_parent"), { name: "big_br_wal", strategy: "wal_log" });
    await deleteBranch(pg.url(), "big_br_wal");
    const tmp = mkdtempSync(join(tmpdir(), "floe-bench-cp-"));
    const cpStart = Date.now();
    execFileSync("cp", ["-r", join(pg.dataDir, "base", String(oid)), join(tmp, "copy")]);
    execFileSync("sync", ["-f", tmp]);
    const cpMs = Date.now() - cpStart;
    rmSync(tmp, { recursive: true, force: true });

    const result = {
      parentMB: Math.round(Number(bytes) / 2 ** 20),
      emptyBranchMs: empty.elapsedMs,
      fileCopyMs: fileCopy.elapsedMs,
      walLogMs: walLog.elapsedMs,
      cpMs,
      fileCopyVsCp: +(fileCopy.elapsedMs / cpMs).toFixed(2),
      walLogVsFileCopy: +(walLog.elapsedMs / fileCopy.elapsedMs).toFixed(2),
    };
    console.log(`branch of a ${result.parentMB} MB database: FILE_COPY ${result.fileCopyMs} ms, WAL_LOG ${result.walLogMs} ms; empty database ${result.emptyBranchMs} ms; cp -r + sync of its files ${cpMs} ms (FILE_COPY/cp = ${result.fileCopyVsCp})`);
    console.log(JSON.stringify(result));
  } finally {
    await pg.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
