/**
 * Column batches (WriteTransaction.upsertColumns / appendColumns, the initial copy's path) mean
 * exactly what the same rows through upsert() / append() mean: random mixes of row ops and batches
 * (with repeated keys, keys already in the table, a long single key and a composite key) read back
 * as the model, and the incrementally kept index equals a rebuilt one.
 */
import fc from "fast-check";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri, type TableIdentifier } from "../../../runtime/iceberg";
import { readTable } from "../../helpers/iceberg-read";
import { encodeStrings } from "../../../runtime/iceberg/parquet";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-columns-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function newTable(composite: boolean, rowsPerFile = 1000): Promise<{ cat: MemoryCatalog; id: TableIdentifier; t: Table }> {
  const cat = new MemoryCatalog(fileUri(join(dir, `w${n}`)));
  await cat.createNamespace(["db"]);
  const id = { namespace: ["db"], name: `t${n++}` };
  const columns = composite
    ? [
        { name: "k", type: "int", required: true },
        { name: "s", type: "string", required: true },
        { name: "v", type: "decimal(12,2)" },
      ]
    : [
        { name: "k", type: "long", required: true },
        { name: "s", type: "string" },
        { name: "v", type: "decimal(12,2)" },
      ];
  const t = await Table.create(cat, id, { columns, identifier: composite ? ["k", "s"] : ["k"] }, { rowsPerFile });
  return { cat, id, t };
}

type Op =
  | { kind: "up"; k: number; s: string; v: string | null }
  | { kind: "del"; k: number; s: string }
  | { kind: "batch"; rows: { k: number; s: string; v: string | null }[] };

describe("column batches", () => {
  for (const composite of [false, true]) {
    it(`mean the same as row upserts (${composite ? "composite" : "long"} key, property)`, async () => {
      const row = fc.record({
        k: fc.integer({ min: 0, max: 9 }),
        s: fc.constantFrom("a", "é", "x y"),
        v: fc.option(fc.constantFrom("1.50", "-0.01", "12345.6", "0"), { nil: null }),
      });
      const op: fc.Arbitrary<Op> = fc.oneof(
        row.map((r) => ({ kind: "up" as const, ...r })),
        row.map((r) => ({ kind: "del" as const, k: r.k, s: r.s })),
        fc.array(row, { maxLength: 12 }).map((rows) => ({ kind: "batch" as const, rows })),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 2, max: 20 }),
          async (txs, rowsPerFile) => {
            const { cat, id, t } = await newTable(composite, rowsPerFile);
            const model = new Map<string, [number, string, string | null]>();
            const key = (k: number, s: string) => (composite ? `${k}|${s}` : `${k}`);
            for (const ops of txs) {
              const tx = t.newWrite();
              for (const o of ops) {
                const k = (x: number) => (composite ? x : BigInt(x));
                if (o.kind === "up") tx.upsert([{ k: k(o.k), s: o.s, v: o.v }]);
                else if (o.kind === "del") tx.delete([{ k: k(o.k), s: o.s }]);
                else
                  tx.upsertColumns({
                    names: ["k", "s", "v"],
                    columns: [o.rows.map((r) => k(r.k)), o.rows.map((r) => r.s), o.rows.map((r) => r.v)],
                    rowCount: o.rows.length,
                  });
              }
              await tx.commit();
              for (const o of ops) {
                if (o.kind === "up") model.set(key(o.k, o.s), [o.k, o.s, o.v]);
                else if (o.kind === "del") model.delete(key(o.k, o.s));
                else for (const r of o.rows) model.set(key(r.k, r.s), [r.k, r.s, r.v]);
              }
            }
            const rows = await readTable(t, [1, 2, 3], { bytesAsText: true });
            const scaled = (v: string | null) => (v === null ? null : BigInt(Math.round(Number(v) * 100)));
            const got = new Map(
              rows.map((r) => [key(Number(r[0]), r[1] as string), [Number(r[0]), r[1], r[2] === null ? null : BigInt(r[2] as number | bigint)]]),
            );
            expect(rows.length).toBe(model.size);
            expect(got).toEqual(new Map([...model].map(([k, [a, b, c]]) => [k, [a, b, scaled(c)]])));
            expect(t.indexedRows).toBe(model.size);
            const restarted = await Table.load(cat, id);
            expect(new Map(restarted.pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
          },
        ),
        { numRuns: 25 },
      );
    });
  }

  it("number keys: values beyond 2^53 stay exact, strings still find rows, an int -> long widening keeps keys equal", async () => {
    const cat = new MemoryCatalog(fileUri(join(dir, "numeric")));
    await cat.createNamespace(["db"]);
    const id = { namespace: ["db"], name: "big" };
    const t = await Table.create(cat, id, {
      columns: [
        { name: "k", type: "long", required: true },
        { name: "v", type: "string" },
      ],
      identifier: ["k"],
    });
    const edge = [2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), -(2n ** 63n), 2n ** 63n - 1n, 0n, -1n];
    await t
      .newWrite()
      .upsertColumns({ names: ["k", "v"], columns: [edge, edge.map(String)], rowCount: edge.length })
      .commit();
    await t
      .newWrite()
      .upsert(edge.slice(0, 4).map((k) => ({ k, v: `new ${k}` })))
      .delete([{ k: 0n }])
      .commit();
    const rows = await readTable(t, [1, 2], { bytesAsText: true });
    expect(rows.length).toBe(edge.length - 1);
    expect(new Map(rows.map((r) => [r[0], r[1]]))).toEqual(new Map(edge.filter((k) => k !== 0n).map((k) => [k, edge.indexOf(k) < 4 ? `new ${k}` : String(k)])));
    for (const k of edge.filter((x) => x !== 0n)) expect(t.pkIndex!.get(String(k))).toEqual(t.pkIndex!.get(t.keyOf({ k })));
    expect(new Map((await Table.load(cat, id)).pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));

    const w = await Table.create(
      cat,
      { namespace: ["db"], name: "widened" },
      {
        columns: [
          { name: "k", type: "int", required: true },
          { name: "v", type: "string" },
        ],
        identifier: ["k"],
      },
    );
    await w
      .newWrite()
      .upsert([1, 2, 3].map((k) => ({ k, v: "int" })))
      .commit();
    await w.updateSchema().updateColumnType("k", "long").commit();
    await w
      .newWrite()
      .upsertColumns({
        names: ["k", "v"],
        columns: [
          [2n, 3n, 4n],
          ["long", "long", "long"],
        ],
        rowCount: 3,
      })
      .commit();
    const after = await readTable(w, [1, 2], { bytesAsText: true });
    expect(new Map(after.map((r) => [Number(r[0]), r[1]]))).toEqual(
      new Map([
        [1, "int"],
        [2, "long"],
        [3, "long"],
        [4, "long"],
      ]),
    );
    expect(after.length).toBe(4);
    expect(new Map((await Table.load(cat, { namespace: ["db"], name: "widened" })).pkIndex!.entries())).toEqual(new Map(w.pkIndex!.entries()));
  });

  it("append to a table without identifier fields; rejects unknown columns and missing required values", async () => {
    const cat = new MemoryCatalog(fileUri(join(dir, "append")));
    await cat.createNamespace(["db"]);
    const t = await Table.create(
      cat,
      { namespace: ["db"], name: "log" },
      {
        columns: [
          { name: "a", type: "long", required: true },
          { name: "b", type: "string" },
        ],
      },
    );
    const tx = t
      .newWrite()
      .append([{ a: 1n, b: "x" }])
      .appendColumns({
        names: ["a", "b"],
        columns: [
          [2n, 3n],
          ["y", null],
        ],
        rowCount: 2,
      })
      .appendColumns({ names: ["a"], columns: [[4n]], rowCount: 1 });
    expect((await tx.commit()).addedRows).toBe(4);
    expect((await readTable(t, [1, 2], { bytesAsText: true })).sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual([
      [1n, "x"],
      [2n, "y"],
      [3n, null],
      [4n, null],
    ]);
    await expect(
      t
        .newWrite()
        .appendColumns({ names: ["a", "zz"], columns: [[1n], [1]], rowCount: 1 })
        .commit(),
    ).rejects.toThrow(/"zz", which is not in the table schema/);
    await expect(
      t
        .newWrite()
        .appendColumns({ names: ["b"], columns: [["q"]], rowCount: 1 })
        .commit(),
    ).rejects.toThrow(/column "a" is required/);
    expect(() => t.newWrite().upsertColumns({ names: ["a"], columns: [[1n]], rowCount: 1 })).toThrow(/needs identifier fields/);
  });

  it("encodeStrings: UTF-8 bytes per value, nulls kept, lone surrogates at boundaries", () => {
    const values = ["", "abc", null, "é€😀", "\ud83d", "\ude00", "z"];
    const out = encodeStrings(values);
    expect(out.map((b) => (b === null ? null : Buffer.from(b).toString("hex")))).toEqual(
      values.map((v) => (v === null ? null : Buffer.from(v, "utf8").toString("hex"))),
    );
    expect(encodeStrings(["a", "bc"]).map((b) => Buffer.from(b!).toString())).toEqual(["a", "bc"]);
  });
});
