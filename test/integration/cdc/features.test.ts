import { lines, readIceberg, readPostgres } from "../../helpers/compare";
import { CdcBed, startCdcBed } from "../../helpers/cdc";
import { Table } from "../../../runtime/iceberg";
import { waitUntil, walProgress } from "../../helpers/wait";

// Postgres 17 and 18: the same pgoutput stream from either, into Iceberg, read back by chdb.
describe.each([17, 18])("CDC writer features on Postgres %i, each checked against Postgres through chdb", (major) => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed({ major });
    expect(Math.floor(Number((await bed.pg.sql("SHOW server_version_num"))[0].server_version_num) / 10000)).toBe(major);
  });
  afterAll(async () => bed?.stop());

  it("maps every common type exactly, in the initial copy and in the stream", async () => {
    await bed.pg.sql(
      `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
       CREATE DOMAIN positive AS int CHECK (VALUE > 0);
       CREATE TABLE typed (
         id int PRIMARY KEY, i2 smallint, i8 bigint, num numeric(20,6), num_free numeric, r real, d double precision,
         t text, vc varchar(20), ch char(3), b boolean, dt date, tm time, ts timestamp, tstz timestamptz,
         iv interval, u uuid, j json, jb jsonb, by bytea, ints int[], texts text[], m mood, p positive, ip inet, net cidr);
       INSERT INTO typed VALUES
         (1, 32767, 9223372036854775807, 12345678901234.123456, 3.14159265358979323846264338327950288419, 1.5, 'NaN', 'héllo ✓ 𝄞', 'vc', 'ab', true,
          '2024-02-29', '23:59:59.999999', '1999-12-31 23:59:59.123456', '2024-06-01 12:00:00.000001+02', '1 year 2 mons 3 days 04:05:06', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          '{"a": [1, 2]}', '{"b": {"c": null}}', '\\x00ff10', '{1,NULL,3}', '{"x,y",z}', 'happy', 7, '192.168.0.1/24', '10.0.0.0/8'),
         (2, NULL, NULL, NULL, NULL, 'Infinity', '-Infinity', NULL, NULL, NULL, NULL, '1900-01-02', NULL, NULL, '1900-01-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, NULL, NULL);`,
      [],
      "app",
    );
    const w = await bed.startWriter({ tables: [{ source: "public.typed" }] });
    let r = await bed.waitForEqual("typed");
    expect(r.ice).toHaveLength(2);
    expect(r.ice).toEqual(r.pg);
    await bed.pg.sql(
      `INSERT INTO typed SELECT 3, i2, -i8, -num, num_free, -r, 0.1, t || '!', vc, ch, false, dt + 1, tm, ts, tstz, iv, gen_random_uuid(), j, jb, by, ints, texts, 'sad', 1, ip, net FROM typed WHERE id = 1;
       UPDATE typed SET d = 2.5e-300, r = -0.0, jb = '[1, "two", {"3": 4.0}]' WHERE id = 2;`,
      [],
      "app",
    );
    r = await bed.waitForEqual("typed");
    expect(r.ice).toHaveLength(3);
    expect(r.ice).toEqual(r.pg);
    await w.stop();
  });

  it("fills unchanged TOAST values from the previous row version, without REPLICA IDENTITY FULL", async () => {
    await bed.pg.sql(
      `CREATE TABLE docs (id int PRIMARY KEY, title text, body text, blob bytea);
       ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
       INSERT INTO docs SELECT g, 't' || g, repeat('lorem ipsum ' || g, 2000), decode(repeat('ab', 5000), 'hex') FROM generate_series(1, 20) g;`,
      [],
      "app",
    );
    const w = await bed.startWriter({ tables: [{ source: "public.docs" }] });
    let r = await bed.waitForEqual("docs");
    expect(r.ice).toEqual(r.pg);
    // Rows whose previous version is in Iceberg (committed) and rows changed twice in one batch.
    await bed.pg.sql(`UPDATE docs SET title = 'changed' WHERE id <= 10`, [], "app");
    await bed.pg.sql(`BEGIN; UPDATE docs SET body = 'new body' WHERE id = 11; UPDATE docs SET title = 'again' WHERE id = 11; COMMIT;`, [], "app");
    r = await bed.waitForEqual("docs");
    expect(r.ice).toEqual(r.pg);
    const bodies = r.ice.map((l) => JSON.parse(l).body as string);
    expect(bodies.filter((b) => b.startsWith("lorem ipsum")).length).toBe(19);
    await w.stop();
  });

  it("follows add, rename, drop and widening of columns mid-stream, by field id", async () => {
    await bed.pg.sql(`CREATE TABLE evolving (id int PRIMARY KEY, a int, b text, c real); INSERT INTO evolving VALUES (1, 1, 'one', 1.5);`, [], "app");
    const w = await bed.startWriter({ tables: [{ source: "public.evolving" }] });
    await bed.waitForEqual("evolving");
    // Each DDL in its own transaction, as online migrations run them; then several in one.
    for (const stmt of [
      "INSERT INTO evolving VALUES (2, 2, 'two', 2.5)",
      "ALTER TABLE evolving ADD COLUMN d date",
      "INSERT INTO evolving VALUES (3, 3, 'three', 3.5, '2024-01-03')",
      "ALTER TABLE evolving RENAME COLUMN b TO label",
      "UPDATE evolving SET label = label || '!' WHERE id = 1",
      "ALTER TABLE evolving DROP COLUMN c",
      "INSERT INTO evolving VALUES (4, 4, 'four', '2024-01-04')",
      "ALTER TABLE evolving ALTER COLUMN a TYPE bigint",
      "INSERT INTO evolving VALUES (5, 5000000000, 'five', NULL)",
      "BEGIN; ALTER TABLE evolving ADD COLUMN e text; INSERT INTO evolving VALUES (6, 6, 'six', NULL, 'e6'); ALTER TABLE evolving ADD COLUMN f int; UPDATE evolving SET f = 1 WHERE id = 6; COMMIT",
    ]) {
      await bed.pg.sql(stmt, [], "app");
    }
    const r = await bed.waitForEqual("evolving");
    expect(r.ice).toEqual(r.pg);
    const t = await Table.load(await bed.catalog(), { namespace: ["floe"], name: "evolving" });
    const fields = Object.fromEntries(t.schema().fields.map((f) => [f.name, f]));
    expect(Object.keys(fields).sort()).toEqual(["a", "d", "e", "f", "id", "label"]);
    expect(fields.label.id).toBe(3); // b's field id: a rename, not a new column
    expect(fields.a.type).toBe("long");
    await w.stop();
  });

  it("stops with a clear error on a type change Iceberg cannot follow, never silently", async () => {
    await bed.pg.sql(`CREATE TABLE narrowing (id int PRIMARY KEY, v text); INSERT INTO narrowing VALUES (1, '10');`, [], "app");
    const w = await bed.startWriter({ tables: [{ source: "public.narrowing" }] });
    await bed.waitForEqual("narrowing");
    await bed.pg.sql(`ALTER TABLE narrowing ALTER COLUMN v TYPE int USING v::int; INSERT INTO narrowing VALUES (2, 20);`, [], "app");
    await expect(w.done).rejects.toThrow(/narrowing\.v: type changed from text to integer/);
    expect(w.writer.status.state).toBe("failed");
  });

  it("replays nothing twice when the slot is behind a table's LSN (copy at a newer snapshot)", async () => {
    await bed.pg.sql(`CREATE TABLE ledger (id int PRIMARY KEY, v int); INSERT INTO ledger VALUES (1, 1);`, [], "app");
    // The slot exists before these changes; the writer then copies the table at a later snapshot,
    // so the stream from the slot carries changes the copy already holds: they must be skipped.
    await bed.pg.sql(`CREATE PUBLICATION floe FOR ALL TABLES`, [], "app").catch(() => undefined);
    await bed.pg.sql(`SELECT pg_create_logical_replication_slot('floe_replay', 'pgoutput')`, [], "app");
    await bed.pg.sql(
      `INSERT INTO ledger SELECT g, g FROM generate_series(2, 100) g; UPDATE ledger SET v = v * 10 WHERE id <= 50; DELETE FROM ledger WHERE id > 90;`,
      [],
      "app",
    );
    const w = await bed.startWriter({
      sources: [{ name: "replay", connectionString: bed.pg.url("app"), slot: "floe_replay" }],
      tables: [{ source: "public.ledger", mode: "changelog", target: "ledger_log" }],
    });
    await bed.pg.sql(`INSERT INTO ledger VALUES (1000, 1)`, [], "app");
    const rows = await waitUntil(
      "the streamed insert 1000 in ledger_log",
      async () => {
        const r = await bed.icebergRows("ledger_log").catch(() => []);
        return r.some((l) => JSON.parse(l).id === "1000") ? r : undefined;
      },
      { progress: () => walProgress(bed.pg) },
    );
    const ops = rows.map((l) => JSON.parse(l));
    // 90 rows copied at the snapshot ("R") + the one insert streamed after it; nothing replayed.
    expect(ops.filter((o) => o._op === "R")).toHaveLength(90);
    expect(ops.filter((o) => o._op !== "R").map((o) => `${o._op}${o.id}`)).toEqual(["I1000"]);

    // A TRUNCATE is a T row (source columns null) between what came before and after it.
    await bed.pg.sql(`BEGIN; INSERT INTO ledger VALUES (1001, 1); TRUNCATE ledger; INSERT INTO ledger VALUES (1002, 2); COMMIT;`, [], "app");
    const tail: { _op: string; id: string | null; _lsn: string }[] = await waitUntil(
      "the TRUNCATE transaction in ledger_log",
      async () => {
        const t = (await bed.icebergRows("ledger_log")).map((l) => JSON.parse(l)).filter((o) => o._op !== "R" && o.id !== "1000");
        return t.length >= 3 ? t : undefined;
      },
      { progress: () => walProgress(bed.pg) },
    );
    expect(tail.map((o) => `${o._op}${o.id ?? ""}`).sort()).toEqual(["I1001", "I1002", "T"]);
    expect(new Set(tail.map((o) => o._lsn)).size).toBe(1); // one source transaction
    await w.stop();
  });

  it("merges two sources (shards with the same schema) into one table", async () => {
    await bed.pg.sql("CREATE DATABASE shard2");
    const ddl = `CREATE TABLE items (id bigint PRIMARY KEY, shard text, qty int)`;
    await bed.pg.sql(ddl, [], "app");
    await bed.pg.sql(ddl, [], "shard2");
    await bed.pg.sql(`INSERT INTO items SELECT g * 2, 'a', g FROM generate_series(1, 100) g`, [], "app");
    await bed.pg.sql(`INSERT INTO items SELECT g * 2 + 1, 'b', g FROM generate_series(1, 100) g`, [], "shard2");
    const w = await bed.startWriter({
      sources: [
        { name: "shard-a", connectionString: bed.pg.url("app"), publication: "floe_items" },
        { name: "shard-b", connectionString: bed.pg.url("shard2"), publication: "floe_items" },
      ],
      tables: [{ source: "public.items" }],
    });
    await bed.pg.sql(`UPDATE items SET qty = qty + 1000 WHERE id % 3 = 0; DELETE FROM items WHERE id % 5 = 0`, [], "app");
    await bed.pg.sql(`UPDATE items SET qty = -qty WHERE id % 3 = 0; INSERT INTO items VALUES (1001, 'b', 1)`, [], "shard2");
    const expected = async () => lines([...(await readPostgres(bed.pg.url("app"), "items")), ...(await readPostgres(bed.pg.url("shard2"), "items"))]);
    let want: string[] = [];
    const ice = await waitUntil("Iceberg items to equal both shards' items", async () => {
      want = await expected();
      const rows = await bed.icebergRows("items").catch(() => []);
      return JSON.stringify(rows) === JSON.stringify(want) ? rows : undefined;
    });
    expect(ice).toEqual(want);
    const t = await Table.load(await bed.catalog(), { namespace: ["floe"], name: "items" });
    expect(t.summaryProperty("floe.lsn.shard-a")).toBeDefined();
    expect(t.summaryProperty("floe.lsn.shard-b")).toBeDefined();
    void readIceberg;
    await w.stop();

    // One shard's slot is lost: re-copying it would empty the shared table. The writer refuses, loudly.
    // (the stopped writer's walsender lets go of its slot a moment after the writer hung up)
    await waitUntil("the stopped writer's walsender to release slot floe_shard_a", async () => {
      await bed.pg.sql(`SELECT pg_drop_replication_slot('floe_shard_a')`, [], "app");
      return true;
    });
    await expect(
      bed.startWriter({
        sources: [
          { name: "shard-a", connectionString: bed.pg.url("app"), publication: "floe_items" },
          { name: "shard-b", connectionString: bed.pg.url("shard2"), publication: "floe_items" },
        ],
        tables: [{ source: "public.items" }],
      }),
    ).rejects.toThrow(/slot floe_shard_a is missing, and tables public\.items are also fed by other sources/);
    expect(await bed.icebergRows("items")).toEqual(want);
  });
});
