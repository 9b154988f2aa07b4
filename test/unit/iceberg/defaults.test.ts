/**
 * Column defaults (v3 initial-default / write-default in the spec's JSON single-value form), a
 * schema change committed with a write that replaces every row (how the CDC writer gives existing
 * rows the value of an added column), and reading live rows back (Table.rows).
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri } from "../../../runtime/iceberg";
import { defaultFromJson, defaultToJson } from "../../../runtime/iceberg/defaults";
import type { NestedField } from "../../../runtime/iceberg/spec";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-defaults-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function newTable(formatVersion: 2 | 3): Promise<Table> {
  const cat = new MemoryCatalog(fileUri(join(dir, `w${n}`)));
  await cat.createNamespace(["db"]);
  return Table.create(
    cat,
    { namespace: ["db"], name: `t${n++}` },
    {
      columns: [
        { name: "id", type: "long", required: true },
        { name: "v", type: "string" },
      ],
      identifier: ["id"],
      formatVersion,
    },
    { rowsPerFile: 3 },
  );
}

async function all(t: Table): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const b of t.rows()) out.push(...b);
  return out.sort((a, b) => Number(a.id) - Number(b.id));
}

const field = (type: NestedField["type"]): NestedField => ({ id: 1, name: "x", required: false, type });

describe("default values in JSON single-value form", () => {
  it.each([
    ["boolean", true, true],
    ["int", -3, -3],
    ["long", 5000000000n, 5000000000],
    ["double", 0.5, 0.5],
    ["decimal(12,3)", "-12.5", "-12.500"],
    ["date", 10956, "1999-12-31"],
    ["time", 45296789012n, "12:34:56.789012"],
    ["timestamp", 981173106700000n, "2001-02-03T04:05:06.700000"],
    ["timestamptz", -1n, "1969-12-31T23:59:59.999999+00:00"],
    ["string", 'it\'s "x"', 'it\'s "x"'],
    ["uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"],
    ["binary", new Uint8Array([0, 0xab]), "00AB"],
  ] as const)("%s", (type, value, json) => {
    const f = field(type);
    expect(defaultToJson(f, value)).toEqual(json);
    const back = defaultFromJson(type, json);
    expect(back).toEqual(type === "decimal(12,3)" ? "-12.500" : type === "long" ? 5000000000n : value);
  });

  it("reads a timestamptz with an offset as UTC and refuses a value of the wrong kind", () => {
    expect(defaultFromJson("timestamptz", "2024-02-29T12:34:56.789012+02:00")).toBe(1709202896789012n);
    expect(() => defaultFromJson("int", "3")).toThrow(/"3" is not a JSON single value of type int/);
    expect(() => defaultFromJson("date", "31.12.1999")).toThrow(/not a JSON single value of type date/);
  });
});

describe("adding a column whose existing rows hold a value", () => {
  it("v3: stores initial-default; rows of files written before the column read it", async () => {
    const t = await newTable(3);
    await t
      .newWrite()
      .upsert([
        { id: 1n, v: "a" },
        { id: 2n, v: "b" },
      ])
      .commit();
    await t.updateSchema().addColumn("n", "int", { initialDefault: 3 }).commit();
    const f = t.schema().fields.find((x) => x.name === "n")!;
    expect(f["initial-default"]).toBe(3);
    expect(f["write-default"]).toBeUndefined();
    await t
      .newWrite()
      .upsert([{ id: 3n, v: "c", n: null }])
      .commit();
    expect(await all(t)).toEqual([
      { id: 1n, v: "a", n: 3 },
      { id: 2n, v: "b", n: 3 },
      { id: 3n, v: "c", n: null },
    ]);
  });

  it("v2: refuses a default (the spec forbids initial-default before v3), naming the column and the version", async () => {
    const t = await newTable(2);
    expect(() => t.updateSchema().addColumn("n", "int", { initialDefault: 3 })).toThrow(
      /column "n": a default value for existing rows \(initial-default\) needs format version 3; .* is version 2/,
    );
  });

  it("v2: a staged schema change commits with a write that replaces every row, in one snapshot", async () => {
    const t = await newTable(2);
    await t
      .newWrite()
      .upsert([1, 2, 3, 4, 5].map((i) => ({ id: BigInt(i), v: `v${i}` })))
      .commit();
    await t
      .newWrite()
      .delete([{ id: 2n }])
      .commit();
    const before = t.metadata.schemas.length;
    const staged = t.updateSchema().addColumn("n", "int").renameColumn("v", "w").stage();
    expect(t.metadata.schemas).toHaveLength(before); // nothing committed yet
    const tx = t.newWrite({ schema: staged, replace: true });
    for await (const batch of t.rows(staged.schema.fields)) tx.upsert(batch.map((r) => ({ ...r, n: 7 })));
    const res = await tx.commit();
    expect(res.addedRows).toBe(4);
    expect(t.schema().fields.map((f) => f.name)).toEqual(["id", "w", "n"]);
    expect(t.currentSnapshot()!["schema-id"]).toBe(t.metadata["current-schema-id"]);
    expect(t.currentSnapshot()!.summary).toMatchObject({ operation: "overwrite", "total-records": "4", "total-delete-files": "0", "total-data-files": "2" });
    expect(await all(t)).toEqual([1, 3, 4, 5].map((i) => ({ id: BigInt(i), w: `v${i}`, n: 7 })));
    // the index follows: an update after it finds the rewritten row
    await t
      .newWrite()
      .upsert([{ id: 3n, w: "x", n: 1 }])
      .commit();
    expect((await all(t)).find((r) => r.id === 3n)).toEqual({ id: 3n, w: "x", n: 1 });
    expect(t.indexedRows).toBe(4);
  });

  it("a staged change is refused once the table's schema moved", async () => {
    const t = await newTable(2);
    await t
      .newWrite()
      .upsert([{ id: 1n, v: "a" }])
      .commit();
    const staged = t.updateSchema().addColumn("n", "int").stage();
    await t.updateSchema().addColumn("other", "int").commit();
    expect(() => t.newWrite({ schema: staged, replace: true })).toThrow(/staged schema change was made against schema 0, the table is at schema 1/);
  });
});
