import { CdcBed, startCdcBed } from "../../helpers/cdc";

describe("CDC writer: Postgres -> Iceberg, read back with chdb", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
  });
  afterAll(async () => bed?.stop());

  it("copies existing rows, then streams inserts, updates, deletes and truncates", async () => {
    await bed.pg.sql(
      `CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2), placed timestamptz DEFAULT now());
       INSERT INTO orders SELECT g, 'c' || g, g * 1.5, '2024-01-01T00:00:00Z'::timestamptz + g * interval '1 minute' FROM generate_series(1, 500) g;`,
      [],
      "app",
    );
    const w = await bed.startWriter();
    let r = await bed.waitForEqual("orders");
    expect(r.ice).toHaveLength(500);
    expect(r.ice).toEqual(r.pg);

    await bed.pg.sql(
      `INSERT INTO orders SELECT g, 'n' || g, NULL, NULL FROM generate_series(501, 700) g;
       UPDATE orders SET amount = amount + 1, customer = customer || 'é' WHERE id % 7 = 0;
       DELETE FROM orders WHERE id % 11 = 0;
       UPDATE orders SET id = id + 10000 WHERE id = 3;`,
      [],
      "app",
    );
    r = await bed.waitForEqual("orders");
    expect(r.ice).toEqual(r.pg);
    expect(r.ice.length).toBe(700 - Math.floor(700 / 11));

    // one big transaction (past logical_decoding_work_mem: streamed in progress on PG >= 14)
    await bed.pg.sql(
      `BEGIN; INSERT INTO orders SELECT g, repeat('x', 100), g, now() FROM generate_series(20001, 80000) g; UPDATE orders SET amount = 0 WHERE id BETWEEN 20001 AND 30000; COMMIT;`,
      [],
      "app",
    );
    r = await bed.waitForEqual("orders");
    expect(r.ice.length).toBe(r.pg.length);
    expect(r.ice).toEqual(r.pg);

    await bed.pg.sql(`TRUNCATE orders; INSERT INTO orders VALUES (1, 'after truncate', 1, now());`, [], "app");
    r = await bed.waitForEqual("orders");
    expect(r.ice).toEqual(r.pg);
    expect(r.ice).toHaveLength(1);

    // changes before a TRUNCATE in the same transaction are gone with it
    await bed.pg.sql(
      `BEGIN; INSERT INTO orders VALUES (2, 'doomed', 2, now()), (3, 'doomed', 3, now()); UPDATE orders SET customer = 'doomed' WHERE id = 1;
       TRUNCATE orders; INSERT INTO orders VALUES (4, 'after the truncate', 4, now()); UPDATE orders SET amount = 5 WHERE id = 4; COMMIT;`,
      [],
      "app",
    );
    r = await bed.waitForEqual("orders");
    expect(r.ice).toEqual(r.pg);
    expect(r.ice).toHaveLength(1);
    await w.stop();
  });
});
