/**
 * The primary-key index's key map: NumberMap (typed arrays, open addressing) behaves as a Map
 * under any sequence of sets, deletes, gets and reserves, through growth and tombstone clean-ups; PkIndex
 * keeps number and string keys apart in it.
 */
import fc from "fast-check";
import { NumberMap, PkIndex } from "../../../runtime/iceberg/pkindex";

describe("NumberMap", () => {
  it("answers as a Map after any sets and deletes (property)", () => {
    const key = fc.oneof(fc.integer({ min: -40, max: 40 }), fc.constantFrom(2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53) + 1, 4294967296 * 7 + 3, 0));
    const op = fc.oneof(
      fc.tuple(fc.constant("set" as const), key, fc.nat()),
      fc.tuple(fc.constant("delete" as const), key, fc.constant(0)),
      fc.tuple(fc.constant("reserve" as const), key, fc.nat({ max: 300 })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const want = new Map<number, number>();
        const got = new NumberMap();
        for (const [kind, k, v] of ops) {
          if (kind === "set") {
            want.set(k, v);
            got.set(k, v);
          } else if (kind === "reserve") got.reserve(v);
          else expect(got.delete(k)).toBe(want.delete(k));
          expect(got.size).toBe(want.size);
          expect(got.get(k)).toBe(want.get(k));
        }
        for (const [k, v] of want) expect(got.get(k)).toBe(v);
        expect([...got.keys()].sort((a, b) => a - b)).toEqual([...want.keys()].sort((a, b) => a - b));
        for (let k = -45; k <= 45; k++) expect(got.get(k)).toBe(want.get(k));
      }),
      { numRuns: 300 },
    );
  });

  it("holds a million keys set, half deleted, and re-set", () => {
    const m = new NumberMap();
    for (let i = 0; i < 1_000_000; i++) m.set(i * 7919, i);
    for (let i = 0; i < 1_000_000; i += 2) m.delete(i * 7919);
    expect(m.size).toBe(500_000);
    for (let i = 0; i < 1_000_000; i += 2) m.set(i * 7919, -i);
    let wrong = 0;
    for (let i = 0; i < 1_000_000; i++) if (m.get(i * 7919) !== (i % 2 ? i : -i)) wrong++;
    expect(wrong).toBe(0);
    expect(m.get(1)).toBeUndefined();
  });
});

describe("PkIndex", () => {
  it("finds number and string keys (a bigint past 2^53 stays a string) and forgets deleted positions", () => {
    const idx = new PkIndex(true);
    idx.addFile("a.parquet", { keys: [1, 2, "9007199254740993", 4], partition: {}, specId: 0 }, new Set([3]));
    expect(idx.size).toBe(3);
    expect(idx.get(2)).toEqual({ path: "a.parquet", pos: 1 });
    expect(idx.get("9007199254740993")).toEqual({ path: "a.parquet", pos: 2 });
    expect(idx.get(4)).toBeUndefined();
    idx.addFile("b.parquet", { keys: [2], partition: {}, specId: 0 });
    expect(idx.get(2)).toEqual({ path: "b.parquet", pos: 0 });
    idx.deletePosition("a.parquet", 1); // the older version: the key stays at b
    expect(idx.get(2)).toEqual({ path: "b.parquet", pos: 0 });
    idx.deletePosition("b.parquet", 0);
    expect(idx.get(2)).toBeUndefined();
    expect([...idx.keys()].sort()).toEqual([1, "9007199254740993"].sort());
    idx.removeFile("a.parquet");
    expect(idx.size).toBe(0);
  });
});
