/**
 * The CDC writer through schema changes and key changes, read back by chdb (an Iceberg reader
 * nobody here wrote) and compared with Postgres value by value: changes while the writer runs,
 * while it is down, and during its initial copy; defaults of added columns; values decoded with
 * the type Postgres sent them in; primary-key updates of rows with unchanged TOAST values.
 */
import { Table } from "../../../runtime/iceberg";
import { CdcBed, startCdcBed } from "../../helpers/cdc";
import { waitUntil } from "../../helpers/wait";

describe("CDC writer: schema changes and key changes, checked against Postgres through chdb", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
  });
  afterAll(async () => bed?.stop());

  const sql = (text: string) => bed.pg.sql(text, [], "app");
  let catalog: Awaited<ReturnType<CdcBed["catalog"]>> | undefined;

  it("carries an unchanged TOAST value over a primary-key update (the old row is found under the old key)", async () => {
    await sql(
      `CREATE TABLE pkdocs (id int PRIMARY KEY, title text, body text);
       ALTER TABLE pkdocs ALTER COLUMN body SET STORAGE EXTERNAL;
       INSERT INTO pkdocs SELECT g, 't' || g, repeat('toasted body ' || g, 1000) FROM generate_series(1, 6) g;`,
    );
    const w = await bed.startWriter({ tables: [{ source: "public.pkdocs" }] });
    let r = await bed.waitForEqual("pkdocs");
    expect(r.ice).toEqual(r.pg);
    // The key moves; body is out of line and unchanged, so pgoutput leaves it out of the new tuple.
    await sql(`UPDATE pkdocs SET id = 101 WHERE id = 1`);
    // The previous version is in this transaction's pending changes, then the key moves twice.
    await sql(
      `BEGIN; UPDATE pkdocs SET title = 'moved' WHERE id = 2; UPDATE pkdocs SET id = 102 WHERE id = 2; UPDATE pkdocs SET id = 202 WHERE id = 102; COMMIT`,
    );
    // Key and another column change together; and a key swap through a third value.
    await sql(
      `BEGIN; UPDATE pkdocs SET id = 103, title = 'both' WHERE id = 3; UPDATE pkdocs SET id = -4 WHERE id = 4; UPDATE pkdocs SET id = 4 WHERE id = 5; UPDATE pkdocs SET id = 5 WHERE id = -4; COMMIT`,
    );
    r = await bed.waitForEqual("pkdocs", { writer: w });
    expect(r.ice).toEqual(r.pg);
    const bodies = Object.fromEntries(r.ice.map((l) => JSON.parse(l)).map((row) => [row.id, row.body as string]));
    expect(Object.keys(bodies).sort()).toEqual(["101", "103", "202", "4", "5", "6"]);
    expect(bodies["101"]).toBe("toasted body 1".repeat(1000));
    expect(bodies["4"]).toBe("toasted body 5".repeat(1000));
    expect(bodies["5"]).toBe("toasted body 4".repeat(1000));
    await w.stop();
  });

  it("decodes a value with the type Postgres sent it in, then widens it (real -> double precision)", async () => {
    await sql(`CREATE TABLE widen (id int PRIMARY KEY, v real, r real); INSERT INTO widen VALUES (1, 1.5, 1.5), (2, 2.5, 2.5);`);
    const w = await bed.startWriter({ tables: [{ source: "public.widen" }] });
    await bed.waitForEqual("widen", { writer: w });
    // Updated as a real and widened in the same transaction: the update arrives as float4 text.
    await sql(
      `BEGIN; UPDATE widen SET v = -16856.154 WHERE id = 1; ALTER TABLE widen ALTER COLUMN v TYPE double precision; INSERT INTO widen VALUES (3, 0.1, 0.1); COMMIT`,
    );
    let r = await bed.waitForEqual("widen", { writer: w });
    expect(r.ice).toEqual(r.pg);
    const v = Object.fromEntries(r.ice.map((l) => JSON.parse(l)).map((row) => [row.id, row.v]));
    expect(v).toEqual({ "1": "-16856.154296875", "2": "2.5", "3": "0.1" });
    // The same while the writer is down: the update's relation message says real, the catalog says double.
    await w.stop();
    await sql(`UPDATE widen SET r = -16856.154 WHERE id = 2; ALTER TABLE widen ALTER COLUMN r TYPE double precision; UPDATE widen SET r = 0.1 WHERE id = 1`);
    const w2 = await bed.startWriter({ tables: [{ source: "public.widen" }] });
    r = await bed.waitForEqual("widen", { writer: w2 });
    expect(r.ice).toEqual(r.pg);
    const rs = Object.fromEntries(r.ice.map((l) => JSON.parse(l)).map((row) => [row.id, row.r]));
    expect(rs).toEqual({ "1": "0.1", "2": "-16856.154296875", "3": "0.10000000149011612" });
    await w2.stop();
  });

  /** Rows of a waitForEqual result by id: column -> value (as the comparison reads them). */
  const byId = (lines: string[]): Record<string, Record<string, unknown>> => Object.fromEntries(lines.map((l) => JSON.parse(l)).map((row) => [row.id, row]));

  it("gives the rows that existed before ADD COLUMN … DEFAULT the default, as Postgres does (constant, NOT NULL, volatile; while running and while down)", async () => {
    await sql(
      `CREATE TABLE dflt (id int PRIMARY KEY, v text); INSERT INTO dflt SELECT g, 'v' || g FROM generate_series(1, 40) g; DELETE FROM dflt WHERE id % 10 = 0`,
    );
    let w = await bed.startWriter({ tables: [{ source: "public.dflt" }] });
    await bed.waitForEqual("dflt", { writer: w });
    // Constant defaults of several types: Postgres keeps them in the catalog and writes no row.
    await sql(`ALTER TABLE dflt ADD COLUMN n int DEFAULT 3, ADD COLUMN t text DEFAULT 'it''s, "quoted"', ADD COLUMN b boolean DEFAULT true,
                 ADD COLUMN ts timestamptz DEFAULT '2024-02-29 12:34:56.789012+02', ADD COLUMN num numeric(12,3) DEFAULT -12.5, ADD COLUMN nn int NOT NULL DEFAULT 7,
                 ADD COLUMN nothing int, ADD COLUMN d date DEFAULT '1999-12-31', ADD COLUMN arr int[] DEFAULT '{1,NULL,3}'`);
    await sql(`INSERT INTO dflt (id, v) VALUES (100, 'new')`); // a write shows the new layout to the stream
    let r = await bed.waitForEqual("dflt", { writer: w });
    expect(r.ice).toEqual(r.pg);
    let rows = byId(r.ice);
    expect(Object.keys(rows)).toHaveLength(37);
    expect(rows["1"]).toMatchObject({ n: "3", t: 'it\'s, "quoted"', b: "true", num: "-12.5", nn: "7", nothing: null, d: "10956" }); // days since 1970
    expect(rows["1"].ts).toBe(r.pg.map((l) => JSON.parse(l)).find((x) => x.id === "1").ts);
    expect(rows["1"].ts).not.toBeNull();
    // A volatile default: Postgres rewrites the table (logical decoding sends nothing for that);
    // each old row has its own value, read back from the table.
    // What logical decoding sends for that rewrite, seen through a slot of its own: no row.
    await sql(`SELECT pg_create_logical_replication_slot('dflt_peek', 'test_decoding')`);
    await sql(`ALTER TABLE dflt ADD COLUMN rnd double precision DEFAULT random(), ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY`);
    const decoded = (await bed.pg.sql(`SELECT data FROM pg_logical_slot_get_changes('dflt_peek', NULL, NULL)`, [], "app")).map((x) => x.data as string);
    await sql(`SELECT pg_drop_replication_slot('dflt_peek')`);
    expect(decoded.some((d) => d.startsWith("BEGIN"))).toBe(true);
    expect(decoded.filter((d) => d.startsWith("table "))).toEqual([]);
    await sql(`UPDATE dflt SET v = 'touched' WHERE id = 2`);
    r = await bed.waitForEqual("dflt", { writer: w });
    expect(r.ice).toEqual(r.pg);
    rows = byId(r.ice);
    expect(new Set(Object.values(rows).map((x) => x.rnd)).size).toBe(37);
    expect(Object.values(rows).every((x) => x.seq !== null)).toBe(true);
    // While the writer is down: a constant default, writes, a volatile default, and a rename of the first.
    await w.stop();
    await sql(`ALTER TABLE dflt ADD COLUMN late text NOT NULL DEFAULT 'late'`);
    await sql(`INSERT INTO dflt (id, v) VALUES (101, 'while down'); UPDATE dflt SET late = 'changed' WHERE id = 3; DELETE FROM dflt WHERE id = 4`);
    await sql(`ALTER TABLE dflt ADD COLUMN stamp timestamptz DEFAULT clock_timestamp()`);
    await sql(`ALTER TABLE dflt RENAME COLUMN late TO later; UPDATE dflt SET v = 'after' WHERE id = 5`);
    w = await bed.startWriter({ tables: [{ source: "public.dflt" }] });
    r = await bed.waitForEqual("dflt", { writer: w });
    expect(r.ice).toEqual(r.pg);
    rows = byId(r.ice);
    expect(rows["1"].later).toBe("late");
    expect(rows["3"].later).toBe("changed");
    expect(rows["101"].later).toBe("late");
    expect(rows["4"]).toBeUndefined();
    expect(rows["1"].stamp).not.toBeNull();
    await w.stop();
  });

  it("records a constant default as the field's initial-default on a format version 3 table, and rewrites its rows too", async () => {
    await sql(`CREATE TABLE dflt3 (id int PRIMARY KEY, v text); INSERT INTO dflt3 SELECT g, 'v' || g FROM generate_series(1, 20) g`);
    const w = await bed.startWriter({ tables: [{ source: "public.dflt3", formatVersion: 3 }] });
    await bed.waitForEqual("dflt3", { writer: w });
    await sql(
      `ALTER TABLE dflt3 ADD COLUMN n numeric(8,2) NOT NULL DEFAULT 1.5, ADD COLUMN ts timestamp DEFAULT '2001-02-03 04:05:06.7'; INSERT INTO dflt3 VALUES (21, 'x', 2)`,
    );
    // (inserts only: chdb does not read deletion vectors)
    const r = await bed.waitForEqual("dflt3", { writer: w });
    expect(r.ice).toEqual(r.pg);
    expect(byId(r.ice)["2"]).toMatchObject({ n: "1.5", ts: "981173106700000" }); // µs since 1970
    const t = await Table.load((catalog ??= await bed.catalog()), { namespace: ["floe"], name: "dflt3" });
    const fields = Object.fromEntries(t.schema().fields.map((f) => [f.name, f]));
    expect(fields.n["initial-default"]).toBe("1.50");
    expect(fields.ts["initial-default"]).toBe("2001-02-03T04:05:06.700000");
    expect(fields.n["write-default"]).toBeUndefined();
    await w.stop();
  });

  /** The Iceberg table's fields: name -> field id. */
  const fieldIds = async (name: string) => {
    const t = await Table.load((catalog ??= await bed.catalog()), { namespace: ["floe"], name });
    return Object.fromEntries(t.schema().fields.map((f) => [f.name, f.id]));
  };

  it("follows schema changes made while the writer was down, from the stream in WAL order, then more after the restart", async () => {
    await sql(
      `CREATE TABLE down (id int PRIMARY KEY, a int, b text, c real, d date); INSERT INTO down SELECT g, g, 'b' || g, g / 2.0, '2024-01-01'::date + g FROM generate_series(1, 5) g;`,
    );
    let w = await bed.startWriter({ tables: [{ source: "public.down" }] });
    await bed.waitForEqual("down", { writer: w });
    const ids0 = await fieldIds("down");
    await w.stop();
    // While down: each change followed by writes that use it (so the stream shows every layout in between).
    for (const stmt of [
      "ALTER TABLE down ADD COLUMN e text",
      "INSERT INTO down VALUES (6, 6, 'b6', 3, '2024-02-01', 'e6')",
      "UPDATE down SET e = 'e1' WHERE id = 1",
      "ALTER TABLE down RENAME COLUMN b TO label",
      "UPDATE down SET label = label || '!' WHERE id <= 2",
      "ALTER TABLE down DROP COLUMN c",
      "INSERT INTO down VALUES (7, 7, 'b7', '2024-02-02', 'e7')",
      "ALTER TABLE down DROP COLUMN d",
      "ALTER TABLE down ADD COLUMN d numeric(10,2)", // the name of a dropped column, a new column
      "INSERT INTO down VALUES (8, 8, 'b8', 'e8', 8.25)",
      "ALTER TABLE down ALTER COLUMN a TYPE bigint",
      "UPDATE down SET a = 5000000000 WHERE id = 3",
      // several changes before the next write, and one in the same transaction as writes
      "ALTER TABLE down ADD COLUMN f int; ALTER TABLE down RENAME COLUMN e TO e2",
      "BEGIN; INSERT INTO down VALUES (9, 9, 'b9', 'e9', 9.5, 9); ALTER TABLE down ADD COLUMN g boolean; UPDATE down SET g = true WHERE id = 9; COMMIT",
    ])
      await sql(stmt);
    w = await bed.startWriter({ tables: [{ source: "public.down" }] });
    let r = await bed.waitForEqual("down", { writer: w });
    expect(r.ice).toEqual(r.pg);
    const ids1 = await fieldIds("down");
    expect(Object.keys(ids1).sort()).toEqual(["a", "d", "e2", "f", "g", "id", "label"]);
    expect(ids1.label).toBe(ids0.b); // a rename keeps the field id
    expect(ids1.a).toBe(ids0.a);
    expect(ids1.d).not.toBe(ids0.d); // a new column of a dropped column's name is a new field
    // More changes after the restart, while it runs.
    await sql(
      `ALTER TABLE down RENAME COLUMN e2 TO e3; UPDATE down SET e3 = 'again' WHERE id = 6; ALTER TABLE down DROP COLUMN f; INSERT INTO down VALUES (10, 10, 'b10', 'e10', 10, false)`,
    );
    r = await bed.waitForEqual("down", { writer: w });
    expect(r.ice).toEqual(r.pg);
    expect((await fieldIds("down")).e3).toBe(ids1.e2);
    // And down again, with only DDL (no write uses the new layout before the restart).
    await w.stop();
    await sql(`ALTER TABLE down ADD COLUMN h text; ALTER TABLE down DROP COLUMN g`);
    w = await bed.startWriter({ tables: [{ source: "public.down" }] });
    await sql(`UPDATE down SET h = 'h' || id WHERE id > 8`);
    r = await bed.waitForEqual("down", { writer: w });
    expect(r.ice).toEqual(r.pg);
    await w.stop();
  });

  it("follows a column added or dropped while the initial copy waits for its snapshot", async () => {
    await sql(`CREATE TABLE copying (id int PRIMARY KEY, v text, gone int); INSERT INTO copying SELECT g, 'v' || g, g FROM generate_series(1, 50) g;`);
    // A transaction with an xid is open when the writer starts: the writer describes the table and
    // creates its Iceberg table, then its slot waits for that transaction, which changes the table
    // meanwhile and commits: the slot's snapshot (the copy's) has the new layout, Iceberg the old.
    const ddl = await bed.pg.connect("app");
    try {
      await ddl.query(`BEGIN; SELECT txid_current()`);
      const starting = bed.startWriter({ tables: [{ source: "public.copying" }] });
      starting.catch(() => undefined);
      // Nothing to follow while the writer starts: the whole wait is bounded (120 s).
      await waitUntil("the writer's slot to wait for the open transaction", async () => {
        const waiting = await bed.pg.sql(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'walsender' AND wait_event_type = 'Lock'`);
        return waiting[0].n > 0;
      });
      // The fault is in place: the Iceberg table exists in the layout before the DDL.
      expect(Object.keys(await fieldIds("copying")).sort()).toEqual(["gone", "id", "v"]);
      await ddl.query(`ALTER TABLE copying ADD COLUMN extra int; ALTER TABLE copying DROP COLUMN gone; UPDATE copying SET extra = id * 10; COMMIT`);
      const w = await starting;
      const r = await bed.waitForEqual("copying", { writer: w });
      expect(r.ice).toEqual(r.pg);
      expect(r.ice).toHaveLength(50);
      expect(Object.keys(await fieldIds("copying")).sort()).toEqual(["extra", "id", "v"]);
      await sql(`INSERT INTO copying VALUES (51, 'v51', 510)`);
      expect((await bed.waitForEqual("copying", { writer: w })).ice).toHaveLength(51);
      await w.stop();
    } finally {
      await ddl.end();
    }
  });
});
