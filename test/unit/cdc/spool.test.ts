/**
 * The change spool: whatever the threshold (all in memory, all in the file, or split), replay
 * gives the changes added, in order, with the same references, minus those of aborted
 * subtransactions, whether their tuples came decoded or as pgoutput's bytes; close() leaves no
 * file.
 */
import fc from "fast-check";
import { mkdtempSync, readdirSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ChangeSpool } from "../../../runtime/cdc/spool";
import { encodedTupleLength, encodeTuple, UNCHANGED, type Tuple } from "../../../runtime/cdc/pgoutput";

/** A tuple as pgoutput sends it (TupleData bytes). */
function raw(t: Tuple): Buffer {
  const b = Buffer.alloc(encodedTupleLength(t));
  expect(encodeTuple(t, b, 0)).toBe(b.length);
  return b;
}

type Change =
  | { kind: "I" | "U" | "D"; state: { name: string }; columns: { pg: { name: string } }[]; tuple: Tuple; oldKey?: Tuple }
  | { kind: "T"; state: { name: string } };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-spool-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const states = [{ name: "a" }, { name: "b" }];
const layouts = [[{ pg: { name: "id" } }, { pg: { name: "v" } }], [{ pg: { name: "id" } }]];

const value = fc.oneof(fc.string(), fc.constant(null), fc.constant(UNCHANGED as unknown as string));
const change: fc.Arbitrary<Change> = fc.oneof(
  fc
    .record({
      kind: fc.constantFrom("I" as const, "U" as const, "D" as const),
      s: fc.nat(1),
      l: fc.nat(1),
      tuple: fc.array(value, { maxLength: 3 }),
      old: fc.option(fc.array(value, { maxLength: 2 }), { nil: undefined }),
    })
    .map((x): Change => ({ kind: x.kind, state: states[x.s], columns: layouts[x.l], tuple: x.tuple as Tuple, ...(x.old ? { oldKey: x.old as Tuple } : {}) })),
  fc.nat(1).map((s): Change => ({ kind: "T", state: states[s] })),
);

async function all(spool: ChangeSpool<Change>): Promise<Change[]> {
  const out: Change[] = [];
  for await (const batch of spool.batches()) out.push(...batch);
  return out;
}

describe("ChangeSpool", () => {
  it("replays the changes not aborted, in order, as the same objects (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ change, sub: fc.integer({ min: 100, max: 103 }) }), { maxLength: 60 }),
        fc.array(fc.integer({ min: 101, max: 103 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 400 }),
        fc.boolean(),
        async (adds, aborts, spillBytes, asBytes) => {
          const spool = new ChangeSpool<Change>({ spillBytes, dir });
          // aborts happen midway; an aborted subxact sends nothing after its abort (xids are not reused)
          const half = Math.floor(adds.length / 2);
          const sent = adds.filter((a, i) => i < half || !aborts.includes(a.sub));
          try {
            for (const [i, a] of sent.entries()) {
              if (i === half) for (const x of aborts) spool.abortSub(x);
              const c = a.change;
              await spool.add(asBytes && c.kind !== "T" ? { ...c, tuple: raw(c.tuple), ...(c.oldKey ? { oldKey: raw(c.oldKey) } : {}) } : c, a.sub);
            }
            if (sent.length <= half) for (const x of aborts) spool.abortSub(x);
            const kept = sent.filter((a) => !aborts.includes(a.sub));
            const want = kept.map((a) => a.change);
            const got = await all(spool);
            expect(got).toEqual(want);
            got.forEach((c, i) => {
              expect(c.state).toBe(want[i].state);
              if (c.kind !== "T") expect(c.columns).toBe((want[i] as { columns: unknown }).columns);
            });
            expect(spool.tables()).toEqual(new Set(want.map((c) => c.state)));
            expect(spool.has("T")).toBe(want.some((c) => c.kind === "T"));
          } finally {
            await spool.close();
          }
          expect(readdirSync(dir)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("goes to a file past the threshold, and a whole abort (close) deletes it", async () => {
    const spool = new ChangeSpool<Change>({ spillBytes: 1000, dir });
    for (let i = 0; i < 100; i++) await spool.add({ kind: "I", state: states[0], columns: layouts[0], tuple: [String(i), "x".repeat(20)] }, 7);
    expect(spool.spilled).toBe(true);
    expect(spool.inMemory).toBeLessThan(100);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(spool.has("I")).toBe(true);
    expect(spool.has("T")).toBe(false);
    expect((await all(spool)).map((c) => (c as { tuple: Tuple }).tuple[0])).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    await spool.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("replays a file of many read chunks (multi-byte characters across chunk edges)", async () => {
    // Few changes, long values: a file of several 1 MiB read chunks without tens of thousands of
    // adds (the work stays small on a loaded machine).
    const spool = new ChangeSpool<Change>({ spillBytes: 1 << 16, dir });
    const n = 3_000;
    const made = (i: number): Change => ({ kind: "U", state: states[i % 2], columns: layouts[0], tuple: [String(i), "é𝄞".repeat((i * 7) % 701), UNCHANGED] });
    for (let i = 0; i < n; i++) await spool.add(made(i), 7);
    const files = readdirSync(dir).filter((f) => f.startsWith("floe-changes-"));
    expect(files).toHaveLength(1);
    expect(statSync(join(dir, files[0])).size).toBeGreaterThan(4 << 20);
    let i = 0;
    const wrong: number[] = [];
    for await (const c of (await all(spool)).values()) {
      const want = made(i) as Exclude<Change, { kind: "T" }>;
      const same =
        c.kind === "U" &&
        c.state === want.state &&
        c.columns === want.columns &&
        c.tuple.length === 3 &&
        c.tuple.every((v: unknown, k: number) => v === want.tuple[k]);
      if (!same) wrong.push(i);
      i++;
    }
    expect(wrong).toEqual([]);
    expect(i).toBe(n);
    await spool.close();
    expect(readdirSync(dir).filter((f) => f.startsWith("floe-changes-"))).toEqual([]);
  });
  it("replays a record larger than a read of the file (one 3 MiB value between small ones)", async () => {
    const spool = new ChangeSpool<Change>({ spillBytes: 1 << 10, dir });
    const big = "ü".repeat(3 << 19); // 3 MiB of UTF-8
    const made = (i: number): Change => ({ kind: "I", state: states[0], columns: layouts[0], tuple: [String(i), i === 5 ? big : "small"] });
    for (let i = 0; i < 10; i++) await spool.add(made(i), 7);
    expect(spool.spilled).toBe(true);
    const got = await all(spool);
    expect(got.map((c) => (c as { tuple: Tuple }).tuple[0])).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect((got[5] as { tuple: Tuple }).tuple[1]).toBe(big);
    expect((got[6] as { tuple: Tuple }).tuple[1]).toBe("small");
    await spool.close();
  });
});

describe("sweepStale", () => {
  it("removes the temp files of processes that are gone, keeps live ones' and other files", async () => {
    const { writeFileSync } = await import("fs");
    const { sweepStale } = await import("../../../runtime/cdc/spool");
    const d = mkdtempSync(join(tmpdir(), "floe-sweep-"));
    try {
      const dead = `floe-changes-999999999-${"a".repeat(8)}-0000.jsonl`;
      const mine = `floe-changes-${process.pid}-${"b".repeat(8)}.jsonl`;
      for (const f of [dead, mine, "other.txt"]) writeFileSync(join(d, f), "x");
      sweepStale(d);
      expect(readdirSync(d).sort()).toEqual([mine, "other.txt"].sort());
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
