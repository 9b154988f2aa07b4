/**
 * Maintenance planning (pure): which files a compaction rewrites or drops, and which snapshots an
 * expiry removes.
 */
import fc from "fast-check";
import {
  DEFAULT_MAINTENANCE_POLICY,
  converges,
  maintenancePolicy,
  planCompaction,
  planExpiry,
  sizeTier,
  type DataFileStats,
  type MaintenancePolicy,
  type SnapshotInfo,
} from "../../../runtime/iceberg/maintenance-plan";

const MiB = 2 ** 20;
const policy = maintenancePolicy();
/** The size-tier and delete-ratio rules alone (no partition ever converges). */
const tiersOnly: MaintenancePolicy = { ...policy, convergeRatio: Infinity };
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
    expect(planCompaction(three, tiersOnly).rewrite).toEqual([]);
    const four = [...three, file(4000)];
    expect(planCompaction(four, tiersOnly).rewrite).toEqual([four]);
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
    expect(plan.reasons).toEqual({ tiers: 0, deleteRatio: 1, converge: 0, allDeleted: 1 });
  });

  it("a rewrite for deletes absorbs the smaller files of its partition, not bigger or other partitions' ones", () => {
    const heavy = file(20 * MiB, { deleted: 150 });
    const smalls = [file(100_000), file(3 * MiB), file(15 * MiB)];
    const bigger = file(40 * MiB);
    const elsewhere = file(1000, { partitionKey: "q" });
    const plan = planCompaction([heavy, ...smalls, bigger, elsewhere], tiersOnly);
    expect(plan.rewrite).toHaveLength(1);
    expect(new Set(plan.rewrite[0])).toEqual(new Set([heavy, ...smalls]));
    expect(plan.reasons).toEqual({ tiers: 3, deleteRatio: 1, converge: 0, allDeleted: 0 });
  });

  it("lets a tiny file past the delete ratio wait for its tier's next merge", () => {
    expect(planCompaction([file(10_000, { deleted: 500 })], tiersOnly).rewrite).toEqual([]);
  });

  it("counts live bytes: a file whose rows are mostly deleted sits in a lower tier", () => {
    expect(sizeTier(liveOf(file(8 * MiB, { deleted: 900 })), policy)).toBe(0);
  });

  it("never mixes partitions", () => {
    const a = [1, 2, 3, 4].map(() => file(1000, { partitionKey: "a" }));
    const b = [1, 2, 3].map(() => file(1000, { partitionKey: "b" }));
    expect(planCompaction([...a, ...b], tiersOnly).rewrite).toEqual([a]);
  });

  it("under a steady stream of small commits, keeps few files and rewrites each row a logarithmic number of times (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 50, max: 300 }), fc.integer({ min: 2, max: 6 }), (commits, fanIn) => {
        const p = { ...maintenancePolicy({ minInputFiles: fanIn, tierBaseBytes: 64 * 1024 }), convergeRatio: Infinity };
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

  describe("convergence of a partition that fits in one file", () => {
    // 100k rows in 1.3 MiB, like bench/growth's table; a commit of n rows is ~13 bytes a row
    const big = (deleted: number) => file(1.3 * MiB, { records: 100_000, deleted });
    const small = (records: number) => file(13 * records, { records });

    it("rewrites the partition into one file once deleted rows plus the rows outside its largest file reach convergeRatio, and not before", () => {
      const below = [big(2_000), small(2_000)]; // debt 4,000 of 100,000 live rows
      expect(planCompaction(below, policy).rewrite).toEqual([]);
      const at = [big(2_500), small(2_500)]; // debt 5,000 = 5%
      const plan = planCompaction(at, policy);
      expect(plan.rewrite).toEqual([at]);
      expect(plan.reasons).toEqual({ tiers: 0, deleteRatio: 0, converge: 2, allDeleted: 0 });
    });

    it("counts deleted rows alone: one file whose deleted rows are 5% of its live rows is rewritten without them", () => {
      // 5% of the live rows: 4,762 deleted of 100,000 leave 95,238 live
      expect(planCompaction([big(4_761)], policy).rewrite).toEqual([]);
      const f = big(4_762);
      expect(planCompaction([f], policy).rewrite).toEqual([[f]]);
    });

    it("counts the live rows outside the largest file: small files of new rows converge into it", () => {
      const files = [big(0), small(2_000), small(2_000), small(1_600)]; // 5,600 of 105,600 live rows outside the largest
      expect(planCompaction(files, policy).rewrite).toEqual([files]);
      expect(planCompaction(files, maintenancePolicy({ convergeRatio: 0.06 })).rewrite).toEqual([]);
    });

    it("takes the files one commit added as one base: a large partition that a write cut into several files is not rewritten after every commit", () => {
      // bench/cdc's 1.5M-row table: each rewrite came out as two files (the writer cuts files to
      // bound its memory), so 'the rows outside the largest file' were always ~5% or more and every
      // commit rewrote all 1.5M rows
      const rewrite = [file(20 * MiB, { records: 1_420_000, addedBy: "7" }), file(1.1 * MiB, { records: 80_000, addedBy: "7" })];
      const commit = file(130_000, { records: 10_000, addedBy: "8" });
      expect(planCompaction([...rewrite, commit], policy).rewrite).toEqual([]);
      expect(converges(rewrite, policy)).toBe(false);
      // new rows outside the base still converge once they reach convergeRatio
      const more = Array.from({ length: 8 }, (_, i) => file(130_000, { records: 10_000, addedBy: String(9 + i) }));
      expect(planCompaction([...rewrite, commit, ...more], policy).rewrite).toEqual([[...rewrite, commit, ...more]]);
      // and so do deletes in the base
      const deleted = [{ ...rewrite[0], deleted: 80_000 }, rewrite[1]];
      expect(planCompaction(deleted, policy).rewrite).toEqual([deleted]);
    });

    it("leaves a partition too big for one target-size file to the size tiers and the delete ratio, and a clean single file alone", () => {
      const large = [file(100 * MiB, { deleted: 50 }), file(40 * MiB, { deleted: 50 })];
      expect(converges(large, policy)).toBe(false);
      expect(planCompaction(large, policy).rewrite).toEqual([]);
      expect(planCompaction([big(0)], policy).rewrite).toEqual([]);
    });

    it("decides per partition", () => {
      const p = [big(6_000)].map((f) => ({ ...f, partitionKey: "p" }));
      const q = [big(1_000), small(1_000)].map((f) => ({ ...f, partitionKey: "q" }));
      expect(planCompaction([...p, ...q], policy).rewrite).toEqual([p]);
    });

    it("under steady random updates, keeps the debt under convergeRatio after every pass, at most 2 / convergeRatio rows rewritten per row updated over the size tiers' cost (property)", () => {
      /** `commits` commits of `update` random row updates to a `rows`-row partition, a pass after each; rows rewritten. */
      const simulate = (p: MaintenancePolicy, rows: number, update: number, commits: number, seed: number): number => {
        let rnd = seed;
        const random = () => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
        let files: DataFileStats[] = [file(13 * rows, { records: rows })];
        let rewritten = 0;
        for (let c = 0; c < commits; c++) {
          for (let i = 0; i < update; i++) {
            // the old version of a random live row is deleted, each file chosen by its share of the live rows
            const live = files.map((f) => f.records - f.deleted);
            let k = random() * rows;
            const at = live.findIndex((l) => (k -= l) < 0);
            files[at === -1 ? files.length - 1 : at].deleted++;
          }
          files.push(file(13 * update, { records: update }));
          const plan = planCompaction(files, p);
          files = files.filter((f) => !plan.drop.includes(f));
          for (const g of plan.rewrite) {
            const records = g.reduce((a, f) => a + f.records - f.deleted, 0);
            rewritten += records;
            files = files.filter((f) => !g.includes(f));
            files.push(file(13 * records, { records }));
          }
          expect(files.reduce((a, f) => a + f.records - f.deleted, 0)).toBe(rows);
          if (p.convergeRatio <= 1) expect(converges(files, p)).toBe(false);
        }
        return rewritten;
      };
      fc.assert(
        fc.property(
          fc.integer({ min: 20, max: 500 }),
          fc.constantFrom(0.02, 0.05, 0.1),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          (update, convergeRatio, seed) => {
            const rows = 100_000 * (1 + (seed % 4)); // 1.3-5.2 MiB
            const commits = 300;
            const withConvergence = simulate(maintenancePolicy({ convergeRatio }), rows, update, commits, seed);
            const tiersAlone = simulate(tiersOnly, rows, update, commits, seed);
            // each update adds at most two rows of debt (a deleted row, a row outside the largest file)
            expect(withConvergence - tiersAlone).toBeLessThanOrEqual((2 / convergeRatio) * update * commits);
          },
        ),
        { numRuns: 25 },
      );
    });
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
