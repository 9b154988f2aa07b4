/** Pure helpers: branch URLs and names, opt-out comments, line/column, CLI argument parsing. */
import { databaseOf, databaseUrl, redact, serverUrl, strategyOf, validateBranchName } from "../../../runtime/schema/branch";
import { lineCol, parseAllows, parseMigration, MigrationParseError } from "../../../runtime/schema/parse";
import { parseArgs } from "../../../runtime/schema/cli";
import { main as branchMain } from "../../../runtime/schema/branch-cli";

describe("branch helpers", () => {
  it("swaps the database in a URL, keeps credentials, and redacts them for printing", () => {
    const u = "postgres://app:s3cret@db.internal:5433/app?sslmode=require";
    expect(databaseUrl(u, "app_br_1")).toBe("postgres://app:s3cret@db.internal:5433/app_br_1?sslmode=require");
    expect(databaseOf(u)).toBe("app");
    expect(redact(u)).toBe("postgres://app:***@db.internal:5433/app?sslmode=require");
    expect(() => databaseOf("postgres://h:5432")).toThrow(/names no database/);
  });

  it("an instance branch's URL is the parent's on the branch's port; template options alone pick file_copy", () => {
    expect(serverUrl("postgres://app:s3cret@localhost:5433/app?sslmode=disable", 40001)).toBe("postgres://app:s3cret@127.0.0.1:40001/app?sslmode=disable");
    expect(strategyOf({})).toBe("instance");
    expect(strategyOf({ terminateConnections: true })).toBe("file_copy");
    expect(strategyOf({ timeoutMs: 1000 })).toBe("file_copy");
    expect(strategyOf({ strategy: "wal_log" })).toBe("wal_log");
  });

  it("accepts only plain lower-case branch names", () => {
    expect(() => validateBranchName("pr_42")).not.toThrow();
    for (const bad of ["PR42", "pr-42", "1pr", "x".repeat(64), 'a"; DROP DATABASE app; --']) expect(() => validateBranchName(bad)).toThrow(/is invalid/);
  });

  it("floe branch rejects bad usage with exit 2 before touching a database", async () => {
    const err = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await branchMain(["create", "--from", "postgres://h/app", "--strategy", "rsync"])).toBe(2);
      expect(await branchMain(["create", "--from", "postgres://h/app", "--timeout", "-1"])).toBe(2);
      expect(await branchMain(["delete", "--server", "postgres://h/x"])).toBe(2);
      expect(await branchMain(["list"])).toBe(2);
      expect(await branchMain(["fork"])).toBe(2);
      expect(await branchMain(["create", "--from", "postgres://h/app", "--at", "yesterday"])).toBe(2);
      expect(await branchMain(["create", "--from", "postgres://h/app", "--copy", "rsync"])).toBe(2);
      expect(await branchMain(["create", "--from", "postgres://h/app", "--port", "70000"])).toBe(2);
      // template-only options with the instance strategy, instance-only options with a template one
      expect(await branchMain(["create", "--from", "postgres://h/app", "--strategy", "instance", "--terminate-connections"])).toBe(2);
      expect(await branchMain(["create", "--from", "postgres://h/app", "--strategy", "file_copy", "--at", "0/3000000"])).toBe(2);
      expect(await branchMain(["reset", "--server", "postgres://h/x"])).toBe(2);
      expect(await branchMain(["backup", "--server", "postgres://h/x", "--keep", "0"])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});

describe("parsing", () => {
  it("opt-outs need a rule list and a reason", () => {
    expect([...parseAllows("-- floe:allow drop-column,renaming-table moved in v3")]).toEqual([
      ["drop-column", "moved in v3"],
      ["renaming-table", "moved in v3"],
    ]);
    expect(parseAllows("-- floe:allow drop-column").size).toBe(0);
    expect([...parseAllows("/* floe:allow drop-table gone */")]).toEqual([["drop-table", "gone"]]);
  });

  it("reports 1-based lines and columns, counting characters not bytes", async () => {
    expect(lineCol("ab\ncd", 4)).toEqual({ line: 2, column: 2 });
    const stmts = await parseMigration("-- é€😀\nSELECT 1;\n  DROP TABLE t;");
    expect(stmts.map((s) => [s.kind, s.line, s.column])).toEqual([
      ["SelectStmt", 2, 1],
      ["DropStmt", 3, 3],
    ]);
    await expect(parseMigration("SELECT 1;\n-- 😀\nSELEC 2;", "f.sql")).rejects.toThrow(MigrationParseError);
    await expect(parseMigration("SELECT 1;\n-- 😀\nSELEC 2;", "f.sql")).rejects.toThrow(/^f\.sql:3:1: cannot parse: syntax error at or near "SELEC"/);
  });

  it("schema CLI arguments", () => {
    expect(parseArgs(["check", "--against", "postgres://h/db", "--format=json", "--keep-branch", "a.sql", "dir"])).toEqual({
      command: "check",
      files: ["a.sql", "dir"],
      format: "json",
      against: "postgres://h/db",
      keepBranch: true,
      terminateConnections: false,
    });
    expect(() => parseArgs(["lint", "--policy"])).toThrow(/--policy needs a value/);
    expect(() => parseArgs(["lint", "--fast"])).toThrow(/unknown option --fast/);
  });
});
