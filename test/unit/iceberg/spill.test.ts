/**
 * The spilling write transaction: with tiny thresholds a transaction writes its rows out in many
 * chunks before commit(). Whatever the chunking, the committed table must be exactly the one the
 * same ops give without spilling (one snapshot, last op per key wins, deletes of pre-existing
 * keys), also when another writer commits in between, and a transaction that fails or is aborted
 * leaves no file behind.
 */
import fc from "fast-check";
import { mkdtempSync, readdirSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri, type TableIdentifier } from "../../../runtime/iceberg";
import { readTable } from "../../helpers/iceberg-read";
import { localPath } from "../../../runtime/iceberg/io";
import type { WriteTransaction } from "../../../runtime/iceberg/table";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-spill-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const columns = [
  { name: "k", type: "int", required: true },
  { name: "s", type: "string", required: true },
  { name: "v", type: "long" },
];

async function newCatalog(): Promise<MemoryCatalog> {
  const cat = new MemoryCatalog(fileUri(join(dir, `w${n++}`)));
  await cat.createNamespace(["db"]);
  return cat;
}

async function newTable(
  cat: MemoryCatalog,
  options: { spillRows?: number; spillBytes?: number; partitionBy?: string[] } = {},
): Promise<{ id: TableIdentifier; t: Table }> {
  const id = { namespace: ["db"], name: `t${n++}` };
  const t = await Table.create(
    cat,
    id,
    { columns, identifier: ["k", "s"], sortBy: ["v"], partitionBy: options.partitionBy },
    { rowsPerFile: 5, spillRows: options.spillRows, spillBytes: options.spillBytes },
  );
  return { id, t };
}

const files = (t: Table): string[] => {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name));
  };
  try {
    walk(join(localPath(t.location), "data"));
  } catch {
    // no data directory yet
  }
  return out.sort();
};

type Step =
  | { kind: "up"; k: number; s: string; v: bigint | null }
  | { kind: "del"; k: number; s: string }
  | { kind: "batch"; rows: { k: number; s: string; v: bigint | null }[] };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("up" as const),
    k: fc.integer({ min: 0, max: 15 }),
    s: fc.constantFrom("a", "é"),
    v: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
  }),
  fc.record({ kind: fc.constant("del" as const), k: fc.integer({ min: 0, max: 15 }), s: fc.constantFrom("a", "é") }),
  fc.record({
    kind: fc.constant("batch" as const),
    rows: fc.array(fc.record({ k: fc.integer({ min: 0, max: 15 }), s: fc.constantFrom("a", "é"), v: fc.option(fc.bigInt({ min: -1000n, max: 1000n })) }), {
      maxLength: 8,
    }),
  }),
);

function apply(tx: WriteTransaction, steps: Step[]): void {
  for (const s of steps) {
    if (s.kind === "up") tx.upsert([{ k: s.k, s: s.s, v: s.v }]);
    else if (s.kind === "del") tx.delete([{ k: s.k, s: s.s }]);
    else
      tx.upsertColumns({ names: ["k", "s", "v"], columns: [s.rows.map((r) => r.k), s.rows.map((r) => r.s), s.rows.map((r) => r.v)], rowCount: s.rows.length });
  }
}

const asMap = (rows: unknown[][]) => new Map(rows.map((r) => [`${r[0]}|${r[1]}`, r[2]]));

describe("spilling write transaction", () => {
  it("random ops over many spill chunks commit the same table as without spilling (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 12 }),
        fc.array(step, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        async (base, steps, spillRows, partitioned) => {
          const cat = await newCatalog();
          const partitionBy = partitioned ? ["s"] : undefined;
          const { t: plain } = await newTable(cat, { partitionBy });
          const { id, t: spilling } = await newTable(cat, { spillRows, partitionBy });
          for (const t of [plain, spilling]) {
            const pre = t.newWrite({ spillRows: Infinity });
            apply(pre, base);
            await pre.commit();
          }
          const a = plain.newWrite({ spillRows: Infinity });
          apply(a, steps);
          expect(a.spilled).toBe(false);
          await a.commit();
          const b = spilling.newWrite();
          apply(b, steps);
          const before = spilling.metadata.snapshots.length;
          const r = await b.commit();
          const want = await readTable(plain, [1, 2, 3]);
          const got = await readTable(spilling, [1, 2, 3]);
          expect(got.length).toBe(want.length); // no duplicates
          expect(asMap(got)).toEqual(asMap(want));
          expect(spilling.indexedRows).toBe(want.length);
          if (b.spilled) expect(spilling.metadata.snapshots.length).toBe(before + 1); // one snapshot
          if (r.attempts > 0) expect(spilling.currentSnapshot()!.summary["total-records"]).toBeDefined();
          // the index maintained through the commit equals one rebuilt from the files
          const reloaded = await Table.load(cat, id);
          expect(new Map(reloaded.pkIndex!.entries())).toEqual(new Map(spilling.pkIndex!.entries()));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("spills by estimated bytes: the buffer is written out while rows are still being added", async () => {
    const cat = await newCatalog();
    const { t } = await newTable(cat, { spillBytes: 4096 });
    const tx = t.newWrite();
    for (let i = 0; i < 200; i++) tx.upsert([{ k: i, s: "x".repeat(50), v: BigInt(i) }]);
    expect(tx.spilled).toBe(true);
    await tx.ready();
    expect(files(t).length).toBeGreaterThan(5); // written before commit
    expect(t.currentSnapshot()).toBeUndefined(); // and not visible
    tx.upsert([{ k: 3, s: "x".repeat(50), v: -3n }]).delete([{ k: 4, s: "x".repeat(50) }]);
    expect(await tx.spilledVersion({ k: 5, s: "x".repeat(50) })).toEqual({ k: 5, s: "x".repeat(50), v: 5n });
    expect(await tx.spilledVersion({ k: 999, s: "x" })).toBeUndefined();
    const r = await tx.commit();
    expect(r.attempts).toBe(1);
    const got = asMap(await readTable(t, [1, 2, 3]));
    expect(got.size).toBe(199);
    expect(got.get(`3|${"x".repeat(50)}`)).toBe(-3n);
    expect(got.has(`4|${"x".repeat(50)}`)).toBe(false);
    expect(t.metadata.snapshots.length).toBe(1);
  });

  it("append-only tables spill too", async () => {
    const cat = await newCatalog();
    const id = { namespace: ["db"], name: `log${n++}` };
    const t = await Table.create(
      cat,
      id,
      {
        columns: [
          { name: "op", type: "string", required: true },
          { name: "x", type: "long" },
        ],
      },
      { spillRows: 7 },
    );
    const tx = t.newWrite();
    for (let i = 0; i < 30; i++) tx.append([{ op: "I", x: BigInt(i) }]);
    tx.appendColumns({ names: ["op", "x"], columns: [["U", "D"], new BigInt64Array([100n, 101n])], rowCount: 2 });
    expect(tx.spilled).toBe(true);
    await tx.commit();
    const rows = await readTable(t, [1, 2]);
    expect(rows.map((r) => r[1]).sort((a, b) => Number(a) - Number(b))).toEqual([...Array.from({ length: 30 }, (_, i) => BigInt(i)), 100n, 101n]);
    expect(t.metadata.snapshots.length).toBe(1);
  });

  it("another writer commits in between: the spilled commit rebases, deletes its keys' new rows, keeps the rest", async () => {
    const cat = await newCatalog();
    const { id, t: a } = await newTable(cat);
    await a
      .newWrite()
      .upsert(Array.from({ length: 10 }, (_, k) => ({ k, s: "a", v: 0n })))
      .commit();
    const b = await Table.load(cat, id, { spillRows: 3, rowsPerFile: 5 });
    const tx = b.newWrite();
    for (let k = 0; k < 6; k++) tx.upsert([{ k, s: "a", v: 2n }]); // spilled
    tx.delete([{ k: 7, s: "a" }]);
    await tx.ready();
    expect(tx.spilled).toBe(true);
    // writer a, unseen by b: changes keys b touched (0, 7) and one it did not (8), adds 20
    await a
      .newWrite()
      .upsert([
        { k: 0, s: "a", v: 1n },
        { k: 7, s: "a", v: 1n },
        { k: 8, s: "a", v: 1n },
        { k: 20, s: "a", v: 1n },
      ])
      .commit();
    const r = await tx.commit();
    expect(r.attempts).toBe(2);
    const want = new Map<string, unknown>();
    for (let k = 0; k < 10; k++) want.set(`${k}|a`, k < 6 ? 2n : k === 8 ? 1n : 0n);
    want.delete("7|a");
    want.set("20|a", 1n);
    const rows = await readTable(b, [1, 2, 3]);
    expect(rows.length).toBe(want.size);
    expect(asMap(rows)).toEqual(want);
    expect(new Map((await Table.load(cat, id)).pkIndex!.entries())).toEqual(new Map(b.pkIndex!.entries()));
  });

  it("a commit that fails deletes every file its spills wrote; abort() does too", async () => {
    const cat = await newCatalog();
    const { t } = await newTable(cat, { spillRows: 4 });
    await t
      .newWrite({ spillRows: Infinity })
      .upsert([{ k: 1, s: "a", v: 1n }])
      .commit();
    const kept = files(t);
    const tx = t.newWrite();
    for (let k = 0; k < 30; k++) tx.upsert([{ k, s: "b", v: 1n }]);
    tx.delete([{ k: 1, s: "a" }]);
    await tx.ready();
    expect(files(t).length).toBeGreaterThan(kept.length);
    const real = cat.commitTable.bind(cat);
    cat.commitTable = async () => {
      throw new Error("catalog unavailable");
    };
    try {
      await expect(tx.commit()).rejects.toThrow(/catalog unavailable/);
    } finally {
      cat.commitTable = real;
    }
    expect(files(t)).toEqual(kept);
    expect(asMap(await readTable(t, [1, 2, 3]))).toEqual(new Map([["1|a", 1n]]));

    const dropped = t.newWrite();
    for (let k = 0; k < 30; k++) dropped.upsert([{ k, s: "c", v: 1n }]);
    await dropped.ready();
    expect(files(t).length).toBeGreaterThan(kept.length);
    await dropped.abort();
    expect(files(t)).toEqual(kept);
    await expect(dropped.commit()).rejects.toThrow(/already committed or aborted/);
  });

  it("a spill that fails (bad row) fails the commit and leaves no files", async () => {
    const cat = await newCatalog();
    const { t } = await newTable(cat, { spillRows: 4 });
    const tx = t.newWrite();
    for (let k = 0; k < 8; k++) tx.upsert([{ k, s: "a", v: 1n }]);
    tx.upsert([{ k: 9, s: "a", v: 1n, nope: 1 }]);
    for (let k = 10; k < 16; k++) tx.upsert([{ k, s: "a", v: 1n }]);
    await expect(tx.ready()).rejects.toThrow(/nope/);
    await expect(tx.commit()).rejects.toThrow(/nope/);
    expect(files(t)).toEqual([]);
    expect(t.currentSnapshot()).toBeUndefined();
  });
});
