/** examples/schema-gate stays valid: its migrations pass its policy, its workflow runs the gate. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lintFiles, loadPolicy } from "../../../runtime/schema/lint";

const EX = join(__dirname, "../../../examples/schema-gate");

describe("examples/schema-gate", () => {
  it("its migrations pass its policy, and the policy is stricter than the default", async () => {
    const policy = loadPolicy(join(EX, "floe-policy.json"));
    expect(policy["prefer-bigint-over-int"]).toBe("error");
    const report = await lintFiles([join(EX, "migrations")], policy);
    expect(report.files.map((f) => f.file.split("/").pop())).toEqual(["001_create_orders.sql", "002_add_region.sql"]);
    expect(report.exitCode).toBe(0);
  });

  it("the workflow lints with GitHub annotations, then checks on a branch, for PRs touching migrations", () => {
    const wf = readFileSync(join(EX, ".github/workflows/schema-gate.yml"), "utf8");
    expect(wf).toMatch(/pull_request:\n\s+paths:\n\s+- "migrations\/\*\*\.sql"/);
    const lint = wf.indexOf("npx floe schema lint --policy floe-policy.json --format github");
    const check = wf.indexOf("npx floe schema check --policy floe-policy.json");
    expect(lint).toBeGreaterThan(0);
    expect(check).toBeGreaterThan(lint);
    expect(wf).toMatch(/wal_level=logical/);
  });
});
