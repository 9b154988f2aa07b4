/**
 * The initial copy's progress (runtime/cdc/copy-progress.ts): rows and bytes add up across lanes,
 * the rate and the time left follow Postgres' row estimate, /healthz and the metrics show it
 * while it runs, and both forget the table when the copy ends.
 */
import { registry } from "../../../runtime/core/metrics";
import { createLogger } from "../../../runtime/core/log";
import { CopyProgress } from "../../../runtime/cdc/copy-progress";
import type { WriterStatus } from "../../../runtime/cdc/state";

const metric = async (name: string, table: string): Promise<number | undefined> =>
  (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.table === table)?.value;

describe("CopyProgress", () => {
  afterEach(() => jest.useRealTimers());

  it("adds up the lanes, and gives the rate and the time left against the estimate", async () => {
    jest.useFakeTimers({ now: new Date("2026-12-07T12:00:00Z") });
    const lines: string[] = [];
    const status: WriterStatus = { state: "snapshotting", sources: {} };
    const p = new CopyProgress(
      "public.items",
      1_000_000,
      status,
      createLogger({}, (l) => lines.push(l)),
    );
    expect(status.copies?.["public.items"]).toMatchObject({ rows: 0, bytes: 0, estimatedRows: 1_000_000, rowsPerSecond: 0 });
    expect(await metric("floe_cdc_copy_eta_seconds", "public.items")).toBe(-1); // no rate yet
    jest.setSystemTime(new Date("2026-12-07T12:00:04Z"));
    p.add(100_000, 5_000_000); // two lanes
    p.add(100_000, 5_000_000);
    // 200,000 rows in 4 s: 50,000 rows/s, 800,000 rows left: 16 s
    expect(status.copies?.["public.items"]).toEqual({
      rows: 200_000,
      bytes: 10_000_000,
      estimatedRows: 1_000_000,
      rowsPerSecond: 50_000,
      etaSeconds: 16,
      startedAt: "2026-12-07T12:00:00.000Z",
    });
    expect(await metric("floe_cdc_copy_rows", "public.items")).toBe(200_000);
    expect(await metric("floe_cdc_copy_bytes", "public.items")).toBe(10_000_000);
    expect(await metric("floe_cdc_copy_estimated_rows", "public.items")).toBe(1_000_000);
    expect(await metric("floe_cdc_copy_eta_seconds", "public.items")).toBe(16);
    expect(lines).toEqual([]); // the log line comes every 10 s
    jest.setSystemTime(new Date("2026-12-07T12:00:10Z"));
    p.add(100_000, 5_000_000);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ msg: "copying table", table: "public.items", rows: 300_000, rowsPerSecond: 30_000, etaSeconds: 23, percent: 30 }),
    ]);
    p.end();
    expect(status.copies).toEqual({});
    expect(await metric("floe_cdc_copy_rows", "public.items")).toBeUndefined();
    expect(await metric("floe_cdc_copy_eta_seconds", "public.items")).toBeUndefined();
  });

  it("has no time left without an estimate (a table never analyzed), and never a negative one", async () => {
    jest.useFakeTimers({ now: new Date("2026-12-07T12:00:00Z") });
    const status: WriterStatus = { state: "snapshotting", sources: {} };
    const unknown = new CopyProgress(
      "public.fresh",
      undefined,
      status,
      createLogger({}, () => undefined),
    );
    jest.setSystemTime(new Date("2026-12-07T12:00:01Z"));
    unknown.add(10, 100);
    expect(status.copies?.["public.fresh"]).toEqual({ rows: 10, bytes: 100, rowsPerSecond: 10, startedAt: "2026-12-07T12:00:00.000Z" });
    expect(await metric("floe_cdc_copy_eta_seconds", "public.fresh")).toBe(-1);
    const under = new CopyProgress(
      "public.under",
      5,
      status,
      createLogger({}, () => undefined),
    );
    jest.setSystemTime(new Date("2026-12-07T12:00:02Z"));
    under.add(10, 100); // more rows than the estimate
    expect(status.copies?.["public.under"].etaSeconds).toBe(0);
    unknown.end();
    under.end();
    expect(status.copies).toEqual({});
  });
});
