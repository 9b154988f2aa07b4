import fc from "fast-check";
import { dedupe, distinctKeys, planWrite, uniqueUpserts, type Op } from "../../../runtime/iceberg/plan";
import { PkIndex } from "../../../runtime/iceberg/pkindex";

describe("write planning", () => {
  it("uniqueUpserts: true exactly when every op is an upsert and dedupe would keep them all (property)", () => {
    const key = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom("a", "b", "1"));
    const op: fc.Arbitrary<Op<number>> = fc.oneof(
      fc.record({ kind: fc.constant("upsert" as const), key, row: fc.nat() }),
      fc.record({ kind: fc.constant("delete" as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
        const want = ops.every((o) => o.kind === "upsert") && dedupe(ops).size === ops.length;
        expect(uniqueUpserts(ops)).toBe(want);
      }),
    );
    expect(uniqueUpserts([1, 2, 3, 2].map((k) => ({ kind: "upsert" as const, key: k, row: 0 })))).toBe(false);
    expect(uniqueUpserts([1, 2, 3, 4].map((k) => ({ kind: "upsert" as const, key: k, row: 0 })))).toBe(true);
  });

  it("distinctKeys: true exactly when no key repeats, for integer keys of any size and for strings (property)", () => {
    const big = 2 ** 53 - 1;
    const int = fc.oneof(fc.integer({ min: -40, max: 40 }), fc.integer({ min: -big, max: big }), fc.constantFrom(2 ** 32, 2 ** 32 + 1, -(2 ** 32), 2 ** 52));
    fc.assert(fc.property(fc.array(int, { maxLength: 200 }), (keys) => expect(distinctKeys(keys)).toBe(new Set(keys).size === keys.length)));
    fc.assert(
      fc.property(fc.array(fc.oneof(int, fc.constantFrom("a", "b", "1")), { maxLength: 50 }), (keys) =>
        expect(distinctKeys(keys)).toBe(new Set(keys).size === keys.length),
      ),
    );
    const million = Array.from({ length: 1_000_000 }, (_, i) => i * 7919);
    expect(distinctKeys(million)).toBe(true);
    million.push(7919 * 123_456);
    expect(distinctKeys(million)).toBe(false);
  });

  it("keeps the last op per key", () => {
    const ops: Op<string>[] = [
      { kind: "upsert", key: "1", row: "a" },
      { kind: "delete", key: "1" },
      { kind: "upsert", key: "2", row: "b" },
      { kind: "upsert", key: "2", row: "c" },
      { kind: "delete", key: "3" },
      { kind: "upsert", key: "3", row: "d" },
    ];
    const final = dedupe(ops);
    expect([...final.values()]).toEqual([
      { kind: "delete", key: "1" },
      { kind: "upsert", key: "2", row: "c" },
      { kind: "upsert", key: "3", row: "d" },
    ]);
    const plan = planWrite(final, (k) => (k === "1" || k === "2" ? { path: "f", pos: Number(k) } : undefined));
    expect(plan.rows).toEqual(["c", "d"]);
    expect(plan.deletes).toEqual([
      { path: "f", pos: 1, key: "1" },
      { path: "f", pos: 2, key: "2" },
    ]);
  });

  it("over many batches, index + plans always reproduce the model (property)", () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant("upsert" as const), key: fc.integer({ min: 0, max: 15 }).map(String), row: fc.integer() }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 15 }).map(String) }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(opArb, { maxLength: 12 }), { maxLength: 8 }), (batches) => {
        const model = new Map<string, number>();
        const index = new PkIndex();
        const files = new Map<string, (number | null)[]>(); // path -> row values, null = deleted
        batches.forEach((ops, b) => {
          const plan = planWrite(dedupe(ops as Op<number>[]), (k) => index.get(k));
          for (const d of plan.deletes) {
            expect(files.get(d.path)![d.pos]).not.toBeNull(); // never deletes a dead row
            files.get(d.path)![d.pos] = null;
            index.deletePosition(d.path, d.pos);
          }
          const path = `f${b}`;
          files.set(path, [...plan.rows]);
          index.addFile(path, { keys: [...plan.keys], partition: {}, specId: 0 });
          for (const op of ops)
            if (op.kind === "upsert") model.set(op.key, op.row);
            else model.delete(op.key);
        });
        // what a reader sees = live rows of all files
        const live = new Map<string | number, number>();
        let liveRows = 0;
        for (const [path, rows] of files)
          rows.forEach((v, pos) => {
            if (v === null) return;
            liveRows++;
            const key = [...index.entries()].find(([, l]) => l.path === path && l.pos === pos)?.[0];
            expect(key).toBeDefined();
            live.set(key!, v);
          });
        expect(liveRows).toBe(model.size); // no duplicates
        expect(live).toEqual(model);
        expect(index.size).toBe(model.size);
      }),
    );
  });
});
