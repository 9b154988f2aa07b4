/** `floe schema lint`: policy file, output formats and exit codes, through the CLI entry point. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../../runtime/schema/cli";
import { parsePolicy, defaultPolicy } from "../../../runtime/schema/lint";

const FIX = join(__dirname, "../../fixtures/migrations");
const dir = mkdtempSync(join(tmpdir(), "floe-lint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = jest.spyOn(process.stdout, "write").mockImplementation((c: any) => ((out += String(c)), true));
  const e = jest.spyOn(process.stderr, "write").mockImplementation((c: any) => ((err += String(c)), true));
  try {
    return { code: await main(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe("floe schema lint", () => {
  it("exits 0 for safe migrations, 1 for violations, 2 for unparsable SQL", async () => {
    expect((await run(["lint", join(FIX, "002_safe_add_nullable_column.sql")])).code).toBe(0);
    expect((await run(["lint", join(FIX, "032_drop_column.sql")])).code).toBe(1);
    expect((await run(["lint", join(FIX, "032_drop_column.sql"), join(FIX, "110_parse_error_typo.sql")])).code).toBe(2);
    expect((await run(["lint", join(dir, "missing.sql")])).code).toBe(2);
    expect((await run(["lint"])).code).toBe(2);
    expect((await run(["lint", "--format", "xml", "a.sql"])).code).toBe(2);
  });

  it("prints file:line, the rule, the statement and a fix hint", async () => {
    const { out } = await run(["lint", join(FIX, "121_unicode_comment_offsets.sql")]);
    expect(out).toContain(`121_unicode_comment_offsets.sql:5:1: error [drop-column] drops column "straße" of "orders"`);
    expect(out).toMatch(/fix: Stop writing and reading the column first/);
    expect(out).toMatch(/refused/);
  });

  it("reports the parse error's line", async () => {
    const { out } = await run(["lint", join(FIX, "111_parse_error_later_line.sql")]);
    expect(out).toMatch(/111_parse_error_later_line\.sql:5:\d+: error \[parse\] syntax error at or near "NUL"/);
  });

  it("--json gives the structured report", async () => {
    const { out, code } = await run(["lint", "--json", join(FIX, "044_type_varchar_truncate.sql")]);
    expect(code).toBe(1);
    const r = JSON.parse(out);
    expect(r.exitCode).toBe(1);
    expect(r.files[0].findings.map((f: any) => f.rule).sort()).toEqual(["changing-column-type", "prefer-text-field", "type-change-may-truncate"]);
    expect(r.files[0].findings[0]).toMatchObject({ line: 3, column: 1, severity: "error" });
  });

  it("--format github prints workflow annotations with escaped data", async () => {
    const { out } = await run(["lint", "--format", "github", join(FIX, "062_int_columns.sql"), join(FIX, "030_drop_table.sql")]);
    expect(out).toContain("::warning file=");
    expect(out).toMatch(/^::error file=[^\n]*030_drop_table\.sql,line=3,col=1,title=floe schema%3A drop-table::drops table "legacy_orders"%0AFix: /m);
  });

  it("a policy file can turn rules off or down to warnings", async () => {
    const p = join(dir, "policy.json");
    writeFileSync(p, JSON.stringify({ rules: { "drop-column": "warn", "drop-table": "off" } }));
    const col = await run(["lint", "--policy", p, join(FIX, "032_drop_column.sql")]);
    expect(col.code).toBe(0);
    expect(col.out).toMatch(/warning \[drop-column\]/);
    const table = await run(["lint", "--policy", p, "--json", join(FIX, "030_drop_table.sql")]);
    expect(JSON.parse(table.out).files[0].findings).toEqual([]);
    writeFileSync(p, JSON.stringify({ rules: { "drop-colum": "off" } }));
    const bad = await run(["lint", "--policy", p, join(FIX, "032_drop_column.sql")]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown rule\(s\) "drop-colum"/);
  });

  it("validates policy documents", () => {
    expect(parsePolicy({ "drop-table": "warn" })["drop-table"]).toBe("warn");
    expect(parsePolicy({ rules: {} })).toEqual(defaultPolicy());
    expect(() => parsePolicy({ rules: { "drop-table": "fatal" } })).toThrow(/rules\.drop-table/);
  });

  it("opt-outs are listed as allowed with their reason", async () => {
    const { out, code } = await run(["lint", join(FIX, "100_optout_drop_column.sql")]);
    expect(code).toBe(0);
    expect(out).toContain("allowed [drop-column] unused since v42, readers moved in PR #118");
  });

  it("lints every .sql file in a directory and lists the rules", async () => {
    const { out } = await run(["lint", "--json", FIX]);
    expect(JSON.parse(out).files.length).toBeGreaterThanOrEqual(60);
    const rules = await run(["rules"]);
    expect(rules.code).toBe(0);
    expect(rules.out).toMatch(/^cdc-replica-identity\s+error/m);
  });
});

describe("lint paths", () => {
  it("a path that does not exist is reported as not found (exit 2), not as unparsable", async () => {
    const missing = join(dir, "migrations");
    const r = await run(["lint", missing]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${missing}: not found`);
    expect(r.out).not.toMatch(/could not be parsed/);
  });

  it("a directory without any .sql file is exit 2 with a clear message, not a pass", async () => {
    const empty = join(dir, "empty");
    mkdirSync(join(empty, "sub"), { recursive: true });
    writeFileSync(join(empty, "sub", "notes.txt"), "DROP TABLE users;");
    const r = await run(["lint", empty]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${empty}: no .sql file in this directory or its subfolders`);
    // one bad path among good ones still refuses to pass
    expect((await run(["lint", join(FIX, "002_safe_add_nullable_column.sql"), empty])).code).toBe(2);
  });

  it("lints a directory recursively, in a stable path order, and survives a symlink loop", async () => {
    const root = join(dir, "tree");
    for (const d of ["2024", "2025/q1", "2025/q2"]) mkdirSync(join(root, d), { recursive: true });
    const files = ["001_init.sql", "2024/010_a.sql", "2024/002_b.sql", "2025/q2/030_d.sql", "2025/q1/020_c.sql", "2025/README.md", "100_last.sql"];
    for (const f of files) writeFileSync(join(root, f), "CREATE TABLE IF NOT EXISTS t (id bigint);\n");
    writeFileSync(join(root, "2025/q2/030_d.sql"), "ALTER TABLE t DROP COLUMN id;\n");
    symlinkSync(root, join(root, "2025", "loop"));
    const r = await run(["lint", "--json", root]);
    expect(r.code).toBe(1); // the drop in the deepest folder was seen
    expect(JSON.parse(r.out).files.map((f: any) => f.file.slice(root.length + 1))).toEqual([
      "001_init.sql",
      "100_last.sql",
      "2024/002_b.sql",
      "2024/010_a.sql",
      "2025/q1/020_c.sql",
      "2025/q2/030_d.sql",
    ]);
  });

  it("the README's and the example's lint commands work as printed", async () => {
    const root = join(__dirname, "../../..");
    const asPrinted = async (cwd: string, line: string) => {
      const argv = line
        .replace(/^npx floe schema /, "")
        .replace(/\s+#.*$/, "")
        .trim()
        .split(/\s+/);
      return run(argv.map((a, i) => (i > 0 && !a.startsWith("-") && argv[i - 1] !== "--format" ? join(cwd, a) : a)));
    };
    const readme = /^npx floe schema lint .*$/m.exec(readFileSync(join(root, "README.md"), "utf8"))?.[0];
    expect(readme).toBeDefined();
    const r = await asPrinted(root, readme!);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/[1-9]\d* file\(s\): 0 error\(s\)/);
    const exampleLine = /^\s*(npx floe schema lint .*)$/m.exec(readFileSync(join(root, "examples/schema-gate/README.md"), "utf8"))?.[1];
    expect(exampleLine).toBeDefined();
    const ex = await asPrinted(join(root, "examples/schema-gate"), exampleLine!);
    expect(ex.code).toBe(0);
    expect(ex.out).toMatch(/[1-9]\d* file\(s\)/);
  });
});

describe("the floe dispatcher routes to the schema modules", () => {
  it("floe schema … and floe branch --help", async () => {
    const { main: floe } = await import("../../../runtime/cli");
    let out = "";
    const o = jest.spyOn(process.stdout, "write").mockImplementation((c: any) => ((out += String(c)), true));
    try {
      expect(await floe(["schema", "lint", join(FIX, "032_drop_column.sql")])).toBe(1);
      expect(out).toMatch(/error \[drop-column\]/);
      expect(await floe(["branch", "--help"])).toBe(0);
      expect(out).toMatch(/floe branch create --from POSTGRES_URL/);
    } finally {
      o.mockRestore();
    }
  });
});
