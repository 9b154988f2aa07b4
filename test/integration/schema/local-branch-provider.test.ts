/**
 * The DatabaseBranch local target's dynamic provider against real Postgres: it requires the
 * compiled branch runtime by absolute path (as Pulumi runs it), so the test compiles that module
 * into a temp dir first.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { localBranchProvider } from "../../../components/branch/local";
import { startPostgres, TestPostgres } from "../../helpers/postgres";

const ROOT = resolve(__dirname, "../../..");
let pg: TestPostgres;
let runtimeDir: string;

beforeAll(async () => {
  runtimeDir = mkdtempSync(join(tmpdir(), "floe-runtime-"));
  symlinkSync(join(ROOT, "node_modules"), join(runtimeDir, "node_modules"));
  execFileSync(process.execPath, [
    join(ROOT, "node_modules/typescript/bin/tsc"),
    join(ROOT, "runtime/schema/branch.ts"),
    "--outDir",
    runtimeDir,
    "--rootDir",
    join(ROOT, "runtime"),
    "--module",
    "commonjs",
    "--target",
    "ES2022",
    "--esModuleInterop",
    "--skipLibCheck",
    "--types",
    "node",
  ]);
  pg = await startPostgres({ major: 17 });
  await pg.sql("CREATE DATABASE app");
  await pg.sql("CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)", [], "app");
});
afterAll(async () => {
  await pg?.stop();
  if (runtimeDir) rmSync(runtimeDir, { recursive: true, force: true });
});

it("creates the branch database on create and drops it on delete", async () => {
  const inputs = { parentUrl: pg.url("app"), branchName: "pr_9", terminateConnections: false, timeoutSeconds: 10, runtimeDir };
  const created = await localBranchProvider.create!(inputs);
  expect(created.id).toBe("pr_9");
  expect(created.outs).toMatchObject({ host: "127.0.0.1", port: pg.port, database: "pr_9" });
  const [{ n }] = await pg.sql("SELECT count(*)::int AS n FROM t", [], "pr_9");
  expect(n).toBe(10);
  const diff = await localBranchProvider.diff!("pr_9", inputs, { ...inputs, branchName: "pr_10" });
  expect(diff).toMatchObject({ changes: true, replaces: ["branchName"], deleteBeforeReplace: true });
  await localBranchProvider.delete!("pr_9", created.outs);
  const dbs = (await pg.sql("SELECT datname FROM pg_database")).map((r) => r.datname);
  expect(dbs).not.toContain("pr_9");
  expect(dbs).toContain("app");
});
