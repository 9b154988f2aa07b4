import fc from "fast-check";
import { dedupe, planWrite, type Op } from "../../../runtime/iceberg/plan";
import { PkIndex } from "../../../runtime/iceberg/pkindex";

describe("write planning", () => {
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
