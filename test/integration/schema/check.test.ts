/**
 * Branches and `floe schema check` against a real Postgres: a lossy type change that lint lets
 * through (opted out) is refused by check, a safe migration passes, and no branch survives.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { createBranch, deleteBranch, listBranches } from "../../../runtime/schema/branch";
import { main as branchMain } from "../../../runtime/schema/branch-cli";
import { checkMigrations } from "../../../runtime/schema/check";
import { lintFiles } from "../../../runtime/schema/lint";
import { main as schemaMain } from "../../../runtime/schema/cli";

let pg: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), "floe-check-"));
const file = (name: string, sql: string) => {
  const p = join(dir, name);
  writeFileSync(p, sql);
  return p;
};
const databases = async () => (await pg.sql("SELECT datname FROM pg_database ORDER BY 1")).map((r) => r.datname);

beforeAll(async () => {
  pg = await startPostgres({ major: 17 });
  await pg.sql("CREATE DATABASE app");
  await pg.sql(
    `CREATE TABLE orders (id bigint PRIMARY KEY, code text NOT NULL, amount numeric(10,2) NOT NULL, note text);
     INSERT INTO orders SELECT g, 'ORD' || g, g + 0.25, CASE WHEN g % 2 = 0 THEN 'n' || g END FROM generate_series(1, 500) g;
     CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text, kind_len int GENERATED ALWAYS AS (length(kind)) STORED);
     INSERT INTO events (kind) SELECT 'k' FROM generate_series(1, 50) g;
     CREATE PUBLICATION floe_pub FOR TABLE orders, events;
     -- a NOT VALID constraint the parent already has (violated by row 50): not the migration's doing
     ALTER TABLE events ADD CONSTRAINT not_fifty CHECK (id <> 50) NOT VALID;
     -- a published table whose UPDATEs already fail (no replica identity): not the migration's doing
     CREATE TABLE audit (at timestamptz NOT NULL DEFAULT now(), what text);
     INSERT INTO audit (what) VALUES ('boot');
     ALTER PUBLICATION floe_pub ADD TABLE audit;`,
    [],
    "app",
  );
});
afterAll(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("database branches", () => {
  it("template strategy: copies the parent, never shares writes, lists and deletes only floe branches", async () => {
    const b = await createBranch(pg.url("app"), { name: "app_br_test", strategy: "file_copy" });
    expect(b).toMatchObject({ kind: "template", strategy: "file_copy" });
    expect(b.elapsedMs).toBeGreaterThanOrEqual(0);
    const [{ n }] = await pg.sql("SELECT count(*)::int AS n FROM orders", [], "app_br_test");
    expect(n).toBe(500);
    await pg.sql("DELETE FROM orders WHERE id <= 10", [], "app_br_test");
    const [{ n: parentRows }] = await pg.sql("SELECT count(*)::int AS n FROM orders", [], "app");
    expect(parentRows).toBe(500);
    expect((await listBranches(pg.url())).map((x) => [x.name, x.parent])).toEqual([["app_br_test", "app"]]);
    await expect(deleteBranch(pg.url(), "app")).rejects.toThrow(/not a floe branch/);
    // a slot left behind on the branch (a crashed check) does not block the delete
    await pg.sql("SELECT pg_create_logical_replication_slot('left_behind', 'pgoutput')", [], "app_br_test");
    await deleteBranch(pg.url(), "app_br_test");
    expect(await databases()).not.toContain("app_br_test");
    expect(await pg.sql("SELECT slot_name FROM pg_replication_slots")).toEqual([]);
  });

  it("waits for the parent's sessions (bounded, naming them) or terminates them when asked", async () => {
    const held = await pg.connect("app");
    await held.query("SET application_name = 'busy-app'");
    await expect(createBranch(pg.url("app"), { name: "app_br_wait", timeoutMs: 500 })).rejects.toThrow(
      /1 other session\(s\).*busy-app.*--terminate-connections/,
    );
    held.on("error", () => undefined);
    const b = await createBranch(pg.url("app"), { name: "app_br_term", terminateConnections: true, timeoutMs: 5000 });
    expect(b.terminated).toBe(1);
    await expect(held.query("SELECT 1")).rejects.toThrow();
    const [{ datallowconn }] = await pg.sql("SELECT datallowconn FROM pg_database WHERE datname = 'app'");
    expect(datallowconn).toBe(true);
    await deleteBranch(pg.url(), b.name);
  });

  it("floe branch create|list|reset|delete (instance by default, template with --strategy)", async () => {
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((c: any) => (out.push(String(c)), true));
    try {
      expect(await branchMain(["create", "--from", pg.url("app"), "--name", "app_br_cli", "--json"])).toBe(0);
      const made = JSON.parse(out.join(""));
      expect(made).toMatchObject({ name: "app_br_cli", kind: "instance", strategy: "instance", lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
      const c = new (require("pg").Client)({ connectionString: made.url.replace("***@", "@") });
      await c.connect();
      expect((await c.query("SELECT count(*)::int AS n FROM orders")).rows).toEqual([{ n: 500 }]);
      await c.end();
      out.length = 0;
      expect(await branchMain(["create", "--from", pg.url("app"), "--name", "app_br_tpl", "--strategy", "file_copy", "--json"])).toBe(0);
      expect(JSON.parse(out.join(""))).toMatchObject({ name: "app_br_tpl", kind: "template" });
      out.length = 0;
      expect(await branchMain(["list", "--server", pg.url(), "--json"])).toBe(0);
      expect(JSON.parse(out.join("")).map((b: any) => [b.name, b.kind])).toEqual([
        ["app_br_cli", "instance"],
        ["app_br_tpl", "template"],
      ]);
      out.length = 0;
      expect(await branchMain(["reset", "--server", pg.url(), "app_br_cli", "--json"])).toBe(0);
      expect(JSON.parse(out.join("")).url).toBe(made.url);
      expect(await branchMain(["reset", "--server", pg.url(), "app_br_tpl"])).toBe(0);
      expect(await branchMain(["delete", "--server", pg.url(), "app_br_cli", "app_br_tpl"])).toBe(0);
      expect(await branchMain(["create"])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(await databases()).not.toContain("app_br_tpl");
    expect(await listBranches(pg.url())).toEqual([]);
  });
});

describe("floe schema check", () => {
  it("refuses a truncating type change that lint alone allows, and deletes the branch", async () => {
    const f = file(
      "001_shorten_code.sql",
      `SET lock_timeout = '2s';
-- floe:allow changing-column-type,type-change-may-truncate,prefer-text-field codes are short
ALTER TABLE orders ALTER COLUMN code TYPE varchar(3) USING left(code, 3);
`,
    );
    expect((await lintFiles([f])).exitCode).toBe(0);
    const r = await checkMigrations({ url: pg.url("app"), files: [f] });
    expect(r.exitCode).toBe(1);
    expect(r.applied).toEqual([{ file: f, transactional: true, ok: true }]);
    expect(r.validations).toContainEqual(expect.objectContaining({ check: "values", severity: "error", table: "public.orders", column: "code" }));
    expect(r.branchDeleted).toBe(true);
    expect(await databases()).not.toContain(r.branch);
    expect(await listBranches(pg.url())).toEqual([]);
    // the same through the CLI
    let out = "";
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((c: any) => ((out += String(c)), true));
    try {
      expect(await schemaMain(["lint", f])).toBe(0);
      out = "";
      expect(await schemaMain(["check", "--against", pg.url("app"), f])).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(out).toMatch(/error \[values\] public\.orders\.code: the type change text -> character varying\(3\) changed stored values/);
    expect(out).toMatch(/check failed: refused/);
  });

  it("refuses numeric rounding and a migration that breaks UPDATE decoding", async () => {
    const round = file(
      "002_round.sql",
      `SET lock_timeout = '2s';\nALTER TABLE orders ALTER COLUMN amount TYPE numeric(10,0); -- floe:allow changing-column-type,type-change-may-truncate rounding is fine\n`,
    );
    const r1 = await checkMigrations({ url: pg.url("app"), files: [round] });
    expect(r1.validations.filter((v) => v.severity === "error").map((v) => `${v.check}:${v.column}`)).toEqual(["values:amount"]);
    const pk = file(
      "003_drop_pk.sql",
      `SET lock_timeout = '2s';\n-- floe:allow cdc-primary-key-change testing\nALTER TABLE events DROP CONSTRAINT events_pkey;\n`,
    );
    const r2 = await checkMigrations({ url: pg.url("app"), files: [pk] });
    expect(r2.exitCode).toBe(1);
    expect(r2.validations).toContainEqual(expect.objectContaining({ check: "decode", severity: "error", table: "public.events" }));
    expect(r2.validations.find((v) => v.check === "decode")!.message).toMatch(/replica identity/);
    expect(await listBranches(pg.url())).toEqual([]);
  });

  it("refuses a new column type the CDC writer cannot map", async () => {
    const f = file("003b_pair.sql", `SET lock_timeout = '2s';\nCREATE TYPE pair AS (a bigint, b bigint);\nALTER TABLE events ADD COLUMN location pair;\n`);
    expect((await lintFiles([f])).exitCode).toBe(0);
    const r = await checkMigrations({ url: pg.url("app"), files: [f] });
    expect(r.exitCode).toBe(1);
    expect(r.validations.filter((v) => v.severity === "error")).toEqual([
      expect.objectContaining({
        check: "decode",
        table: "public.events",
        column: "location",
        message: expect.stringMatching(/has type pair, which floe cannot map to Iceberg/),
      }),
    ]);
  });

  it("refuses values nulled, publications shrunk and constraints that do not hold", async () => {
    const f = file(
      "004_bad.sql",
      `SET lock_timeout = '2s';
UPDATE orders SET note = NULL WHERE id < 100;
-- floe:allow cdc-publication-change moving events elsewhere
ALTER PUBLICATION floe_pub DROP TABLE events;
ALTER TABLE orders ADD CONSTRAINT small_amount CHECK (amount < 100) NOT VALID;
`,
    );
    const r = await checkMigrations({ url: pg.url("app"), files: [f] });
    const errors = r.validations
      .filter((v) => v.severity === "error")
      .map((v) => v.check)
      .sort();
    // the sample UPDATE on orders hits the violated constraint too: updates of old rows would fail
    expect(errors).toEqual(["constraints", "decode", "nulls", "publication"]);
    expect(r.validations.find((v) => v.check === "decode")!.message).toMatch(/violates check constraint "small_amount"/);
  });

  it("passes a safe migration (transactional and CONCURRENTLY files) and decodes through pgoutput", async () => {
    const a = file(
      "005_add_column.sql",
      `SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN region text;\nALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;\nALTER TABLE orders ALTER COLUMN amount TYPE numeric(14,2);\nALTER TABLE orders ALTER COLUMN code TYPE varchar(40);\n`,
    );
    const b = file("006_index.sql", `CREATE INDEX CONCURRENTLY orders_region_idx ON orders (region);\n`);
    const r = await checkMigrations({
      url: pg.url("app"),
      files: [a, b],
      policy: { ...(await import("../../../runtime/schema/lint")).defaultPolicy(), "changing-column-type": "warn", "type-change-may-truncate": "warn" },
    });
    expect(r.validations.filter((v) => v.severity === "error")).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.applied.map((x) => x.transactional)).toEqual([true, false]);
    expect(r.validations).toContainEqual(
      expect.objectContaining({
        check: "decode",
        severity: "info",
        message: expect.stringMatching(/2 sample change\(s\) decoded through pgoutput and the CDC writer's type mapping/),
      }),
    );
    expect(r.validations).toContainEqual(expect.objectContaining({ check: "constraints", severity: "info" }));
    expect(r.validations).toContainEqual(
      expect.objectContaining({
        check: "decode",
        severity: "warn",
        table: "public.audit",
        message: expect.stringMatching(/already failed before the migration/),
      }),
    );
    expect(await databases()).not.toContain(r.branch);
    // the parent is untouched
    const cols = await pg.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position", [], "app");
    expect(cols.map((c) => c.column_name)).toEqual(["id", "code", "amount", "note"]);
  });

  it("does not branch when lint refuses, and reports apply failures", async () => {
    const bad = file("007_drop.sql", `ALTER TABLE orders DROP COLUMN note;\n`);
    const r = await checkMigrations({ url: pg.url("app"), files: [bad] });
    expect(r.exitCode).toBe(1);
    expect(r.branch).toBeUndefined();
    const fails = file(
      "008_fails.sql",
      `SET lock_timeout = '2s';\n-- floe:allow setting-not-null checked\nALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n`,
    );
    const r2 = await checkMigrations({ url: pg.url("app"), files: [fails] });
    expect(r2.exitCode).toBe(1);
    expect(r2.applied[0]).toMatchObject({ ok: false, error: expect.stringMatching(/contains null values/) });
    expect(await listBranches(pg.url())).toEqual([]);
  });
});

describe("floe schema check without logical decoding", () => {
  let replica: TestPostgres;
  beforeAll(async () => {
    replica = await startPostgres({ major: 17, settings: { wal_level: "replica" } });
    await replica.sql("CREATE DATABASE app");
    await replica.sql("CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'); CREATE PUBLICATION p FOR TABLE t", [], "app");
  });
  afterAll(async () => replica?.stop());

  it("says the decode step was not checked instead of passing it silently", async () => {
    const f = file("009_add.sql", `SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN w text;\n`);
    const r = await checkMigrations({ url: replica.url("app"), files: [f] });
    expect(r.exitCode).toBe(0);
    expect(r.validations).toEqual([
      {
        check: "decode",
        severity: "warn",
        message: "decoding not checked: wal_level is replica on the branch's server (logical decoding needs wal_level = logical)",
      },
    ]);
  });
});
