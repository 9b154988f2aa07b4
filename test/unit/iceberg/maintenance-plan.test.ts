/**
 * Maintenance planning (pure): which files a compaction rewrites or drops, and which snapshots an
 * expiry removes.
 */
import fc from "fast-check";
import {
  DEFAULT_MAINTENANCE_POLICY,
  maintenancePolicy,
  planCompaction,
  planExpiry,
  sizeTier,
  type DataFileStats,
  type SnapshotInfo,
} from "../../../runtime/iceberg/maintenance-plan";

const MiB = 2 ** 20;
const policy = maintenancePolicy();
let n = 0;
const file = (sizeBytes: number, o: Partial<DataFileStats> = {}): DataFileStats => ({
  path: `f${n++}`,
  partitionKey: "p",
  sizeBytes,
  records: 1000,
  deleted: 0,
  deleteFiles: 0,
  ...o,
});

describe("planCompaction", () => {
  it("merges a size tier once it holds minInputFiles files, and not before", () => {
    const three = [file(1000), file(2000), file(3000)];
    expect(planCompaction(three, policy).rewrite).toEqual([]);
    const four = [...three, file(4000)];
    expect(planCompaction(four, policy).rewrite).toEqual([four]);
  });

  it("cascades: a merge that completes the next tier merges with it, as one group", () => {
    const tier1 = [file(1.5 * MiB), file(2 * MiB), file(3 * MiB)];
    const tier0 = [file(300 * 1024), file(300 * 1024), file(300 * 1024), file(300 * 1024)];
    expect(tier1.map((f) => sizeTier(f.sizeBytes, policy))).toEqual([1, 1, 1]);
    const plan = planCompaction([...tier1, ...tier0], policy);
    expect(plan.rewrite).toHaveLength(1);
    expect(new Set(plan.rewrite[0])).toEqual(new Set([...tier1, ...tier0]));
  });

  it("rewrites a file past the delete ratio alone, drops a fully deleted file, leaves big clean files", () => {
    const big = file(200 * MiB);
    const heavy = file(50 * MiB, { deleted: 100 });
    const light = file(50 * MiB, { deleted: 99 });
    const gone = file(10 * MiB, { deleted: 1000 });
    const plan = planCompaction([big, heavy, light, gone], policy);
    expect(plan.rewrite).toEqual([[heavy]]);
    expect(plan.drop).toEqual([gone]);
    expect(plan.reasons).toEqual({ tiers: 0, deleteRatio: 1, allDeleted: 1 });
  });

  it("a rewrite for deletes absorbs the smaller files of its partition, not bigger or other partitions' ones", () => {
    const heavy = file(20 * MiB, { deleted: 150 });
    const smalls = [file(100_000), file(3 * MiB), file(15 * MiB)];
    const bigger = file(40 * MiB);
    const elsewhere = file(1000, { partitionKey: "q" });
    const plan = planCompaction([heavy, ...smalls, bigger, elsewhere], policy);
    expect(plan.rewrite).toHaveLength(1);
    expect(new Set(plan.rewrite[0])).toEqual(new Set([heavy, ...smalls]));
    expect(plan.reasons).toEqual({ tiers: 3, deleteRatio: 1, allDeleted: 0 });
  });

  it("lets a tiny file past the delete ratio wait for its tier's next merge", () => {
    expect(planCompaction([file(10_000, { deleted: 500 })], policy).rewrite).toEqual([]);
  });

  it("counts live bytes: a file whose rows are mostly deleted sits in a lower tier", () => {
    expect(sizeTier(liveOf(file(8 * MiB, { deleted: 900 })), policy)).toBe(0);
  });

  it("never mixes partitions", () => {
    const a = [1, 2, 3, 4].map(() => file(1000, { partitionKey: "a" }));
    const b = [1, 2, 3].map(() => file(1000, { partitionKey: "b" }));
    expect(planCompaction([...a, ...b], policy).rewrite).toEqual([a]);
  });

  it("under a steady stream of small commits, keeps few files and rewrites each row a logarithmic number of times (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 50, max: 300 }), fc.integer({ min: 2, max: 6 }), (commits, fanIn) => {
        const p = maintenancePolicy({ minInputFiles: fanIn, tierBaseBytes: 64 * 1024 });
        let files: DataFileStats[] = [];
        let written = 0;
        for (let c = 0; c < commits; c++) {
          files.push(file(20_000, { records: 200 }));
          written += 20_000;
          const plan = planCompaction(files, p);
          const inGroups = plan.rewrite.flat();
          expect(new Set(inGroups).size).toBe(inGroups.length); // a file is in one group at most
          for (const g of plan.rewrite) {
            const bytes = g.reduce((a, f) => a + f.sizeBytes, 0);
            files = files.filter((f) => !g.includes(f));
            files.push(file(bytes, { records: g.reduce((a, f) => a + f.records, 0) }));
            written += bytes;
          }
          // after each pass no tier holds fanIn files
          const tiers = new Map<number, number>();
          for (const f of files) tiers.set(sizeTier(f.sizeBytes, p), (tiers.get(sizeTier(f.sizeBytes, p)) ?? 0) + 1);
          for (const count of tiers.values()) expect(count).toBeLessThan(fanIn);
        }
        const total = commits * 20_000;
        expect(written / total).toBeLessThanOrEqual(2 + Math.log(commits) / Math.log(fanIn));
      }),
      { numRuns: 20 },
    );
  });

  it("checks the policy it is given", () => {
    expect(() => maintenancePolicy({ minInputFiles: 1 })).toThrow(/minInputFiles is 1/);
    expect(() => maintenancePolicy({ deleteRatio: 0 })).toThrow(/deleteRatio is 0/);
    expect(maintenancePolicy({ keepSnapshots: undefined }).keepSnapshots).toBe(DEFAULT_MAINTENANCE_POLICY.keepSnapshots);
  });
});

function liveOf(f: DataFileStats): number {
  return (f.sizeBytes * (f.records - f.deleted)) / f.records;
}

/** A linear history of `count` snapshots, one per minute ending at `now`; ids 1..count, the newest current. */
function history(count: number, now: number, state: (i: number) => boolean = () => true): SnapshotInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    id: BigInt(i + 1),
    parentId: i === 0 ? undefined : BigInt(i),
    timestampMs: now - (count - 1 - i) * 60_000,
    carriesState: state(i + 1),
  }));
}

describe("planExpiry", () => {
  const now = 1_000_000_000_000;
  const ids = (xs: bigint[]) => xs.map(Number).sort((a, b) => a - b);

  it("keeps the newest keepSnapshots and expires the older ones as a prefix of main", () => {
    const r = planExpiry(history(10, now), 10n, [10n], { keepSnapshots: 3, maxSnapshotAgeMs: 1e12 }, now);
    expect(ids(r.expire)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(r.ancestorsOnly).toBe(true);
  });

  it("expires by age within the count, never the current snapshot", () => {
    const r = planExpiry(history(10, now), 10n, [10n], { keepSnapshots: 100, maxSnapshotAgeMs: 4.5 * 60_000 }, now);
    expect(ids(r.expire)).toEqual([1, 2, 3, 4, 5]);
    expect(ids(planExpiry(history(3, now - 1e9), 3n, [3n], { keepSnapshots: 1, maxSnapshotAgeMs: 0 }, now).expire)).toEqual([1, 2]);
  });

  it("keeps the newest snapshot carrying state (and everything after it) when later ones lack it", () => {
    const r = planExpiry(
      history(10, now, (i) => i <= 6),
      10n,
      [10n],
      { keepSnapshots: 2, maxSnapshotAgeMs: 1e12 },
      now,
    );
    expect(ids(r.expire)).toEqual([1, 2, 3, 4, 5]);
  });

  it("keeps tagged snapshots and falls back from the incremental file scan when there are other refs or side snapshots", () => {
    const snaps = [...history(6, now), { id: 99n, parentId: 2n, timestampMs: now - 1e6, carriesState: true }];
    const tagged = planExpiry(snaps, 6n, [6n, 2n], { keepSnapshots: 2, maxSnapshotAgeMs: 1e12 }, now);
    expect(ids(tagged.expire)).toEqual([1, 3, 4, 99]);
    expect(tagged.ancestorsOnly).toBe(false);
    const side = planExpiry(snaps, 6n, [6n], { keepSnapshots: 2, maxSnapshotAgeMs: 1e12 }, now);
    expect(ids(side.expire)).toEqual([1, 2, 3, 4, 99]);
    expect(side.ancestorsOnly).toBe(false);
  });

  it("expires nothing from an empty table", () => {
    expect(planExpiry([], undefined, [], DEFAULT_MAINTENANCE_POLICY, now)).toEqual({ expire: [], ancestorsOnly: true });
  });
});
