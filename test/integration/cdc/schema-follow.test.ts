/**
 * The CDC writer through schema changes and key changes, read back by chdb (an Iceberg reader
 * nobody here wrote) and compared with Postgres value by value: changes while the writer runs,
 * while it is down, and during its initial copy; defaults of added columns; values decoded with
 * the type Postgres sent them in; primary-key updates of rows with unchanged TOAST values.
 */
import { CdcBed, startCdcBed } from "../../helpers/cdc";

jest.setTimeout(180_000);

describe("CDC writer: schema changes and key changes, checked against Postgres through chdb", () => {
  let bed: CdcBed;
  beforeAll(async () => {
    bed = await startCdcBed();
  });
  afterAll(async () => bed?.stop());

  const sql = (text: string) => bed.pg.sql(text, [], "app");

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
    await sql(`BEGIN; UPDATE pkdocs SET title = 'moved' WHERE id = 2; UPDATE pkdocs SET id = 102 WHERE id = 2; UPDATE pkdocs SET id = 202 WHERE id = 102; COMMIT`);
    // Key and another column change together; and a key swap through a third value.
    await sql(`BEGIN; UPDATE pkdocs SET id = 103, title = 'both' WHERE id = 3; UPDATE pkdocs SET id = -4 WHERE id = 4; UPDATE pkdocs SET id = 4 WHERE id = 5; UPDATE pkdocs SET id = 5 WHERE id = -4; COMMIT`);
    r = await bed.waitForEqual("pkdocs", { writer: w });
    expect(r.ice).toEqual(r.pg);
    const bodies = Object.fromEntries(r.ice.map((l) => JSON.parse(l)).map((row) => [row.id, row.body as string]));
    expect(Object.keys(bodies).sort()).toEqual(["101", "103", "202", "4", "5", "6"]);
    expect(bodies["101"]).toBe("toasted body 1".repeat(1000));
    expect(bodies["4"]).toBe("toasted body 5".repeat(1000));
    expect(bodies["5"]).toBe("toasted body 4".repeat(1000));
    await w.stop();
  });
});
