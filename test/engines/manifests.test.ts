/**
 * Manifests carry the optional fields engines use for planning and inspection: column_sizes (per
 * leaf column, field id -> bytes), value / null / NaN counts, bounds and split_offsets. pyiceberg's
 * metadata tables (inspect.entries() / files(), which read every one of them) and Spark's
 * `files` metadata table must read floe's manifests.
 */
import { Table } from "../../runtime/iceberg";
import { CdcBed, RunningWriter, startCdcBed } from "../helpers/cdc";
import { ask, catalogOf } from "../helpers/engines";

type Row = Record<string, any>;

describe("manifest fields, read by pyiceberg's and Spark's metadata tables", () => {
  let bed: CdcBed;
  let writer: RunningWriter;
  beforeAll(async () => {
    bed = await startCdcBed();
    await bed.pg.sql(
      `CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(10,2), tags text[], score double precision, added timestamptz);
       INSERT INTO items SELECT g, 'item ' || g, g * 1.25, ARRAY['t' || (g % 5), NULL], CASE WHEN g % 10 = 0 THEN 'NaN' ELSE g / 3.0 END, TIMESTAMPTZ '2024-01-01' + g * interval '1 hour'
       FROM generate_series(1, 500) g;`,
      [],
      "app",
    );
    // the files as the writer's commits make them: its maintenance would converge this small table into one file (convergeRatio)
    writer = await bed.startWriter({ tables: [{ source: "public.items" }], maintenance: { enabled: false } });
    await bed.waitForEqual("items");
    // a second commit with position deletes (updates and deletes of copied rows)
    await bed.pg.sql(`UPDATE items SET name = name || '!' WHERE id % 3 = 0; DELETE FROM items WHERE id % 7 = 0`, [], "app");
    await bed.waitForEqual("items");
  });
  afterAll(async () => {
    await writer?.stop();
    await bed?.stop();
  });

  it("pyiceberg inspect.entries() / files() show column sizes, counts and bounds of every data and delete file", async () => {
    const t = await Table.load(await bed.catalog(), { namespace: ["floe"], name: "items" });
    const leafIds = [1, 2, 3, 5, 6, 7]; // id, name, price, tags.element (5), score, added: the Parquet leaf columns
    const r = await ask<{ entries: Row[]; files: Row[]; manifests: Row[]; snapshots: Row[] }>({
      op: "inspect",
      catalog: catalogOf(bed),
      table: "floe.items",
      what: ["entries", "files", "manifests", "snapshots"],
    });
    const live = r.entries.filter((e) => e.status !== 2);
    const data = r.files.filter((f) => f.content === 0);
    const deletes = r.files.filter((f) => f.content === 1);
    expect(data.length).toBeGreaterThan(0);
    expect(deletes.length).toBeGreaterThan(0);
    expect(live.length).toBe(r.files.length);
    for (const f of r.files) {
      const sizes = new Map<number, number>((f.column_sizes as [number, number][]) ?? []);
      const ids = f.content === 0 ? leafIds : [2147483546, 2147483545];
      expect({ file: f.file_path, ids: [...sizes.keys()].sort((a, b) => a - b) }).toEqual({ file: f.file_path, ids: [...ids].sort((a, b) => a - b) });
      let total = 0;
      for (const id of ids) {
        expect(sizes.get(id)).toBeGreaterThan(0);
        total += sizes.get(id)!;
      }
      expect(total).toBeLessThan(f.file_size_in_bytes);
      expect(f.split_offsets).toEqual([4]); // one row group, right after the "PAR1" magic
    }
    // readable_metrics of a data file: bounds and counts decoded per column
    const m = data[0].readable_metrics as Record<string, Row>;
    expect(m.id.column_size).toBeGreaterThan(0);
    expect(m.id.null_value_count).toBe(0);
    expect(Number(m.id.lower_bound)).toBeGreaterThanOrEqual(1);
    expect(m.score.nan_value_count).toBeGreaterThan(0);
    expect(r.manifests.length).toBeGreaterThan(0);
    expect(r.snapshots.length).toBeGreaterThan(0);
    expect(t.currentSnapshot()).toBeDefined();
  });

  it("Spark's files metadata table lists the same files with their column sizes", async () => {
    const r = await ask<{ rows: Row[] }>({
      op: "sql",
      engine: "spark",
      catalog: catalogOf(bed),
      table: "floe.items",
      sql: "SELECT content, file_path, record_count, column_sizes FROM floe.floe.items.files",
    });
    const inspect = await ask<{ files: Row[] }>({ op: "inspect", catalog: catalogOf(bed), table: "floe.items", what: ["files"] });
    expect(r.rows.map((x) => x.file_path).sort()).toEqual(inspect.files.map((x) => x.file_path).sort());
    for (const row of r.rows) expect(row.column_sizes).not.toBeNull();
  });
});
