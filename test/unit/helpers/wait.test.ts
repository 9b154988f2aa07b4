/**
 * The tests' waits (test/helpers/wait.ts, test/e2e/stack.ts pollUntil) follow progress: a slow
 * but advancing wait outlives its idle time, a stalled one fails after it and says why.
 */
import { pollUntil } from "../../e2e/stack";
import { GiveUp, waitUntil, WaitStalled } from "../../helpers/wait";

describe("waits that follow progress", () => {
  it("outlives its idle time while the progress measure advances", async () => {
    const t0 = Date.now();
    let done = 0;
    const v = await waitUntil("work to finish", () => Date.now() - t0 > 1_500 && "finished", {
      idleMs: 300,
      everyMs: 20,
      progressEveryMs: 50,
      progress: () => ({ done: ++done }),
    });
    expect(v).toBe("finished");
    expect(Date.now() - t0).toBeGreaterThan(1_500); // five times the idle time
  });

  it("fails when nothing advanced for its idle time, naming what it waited for and the last reading", async () => {
    const t0 = Date.now();
    const err = await waitUntil("rows in Iceberg", () => false, {
      idleMs: 300,
      everyMs: 20,
      progress: () => ({ lsn: 42n }),
      explain: () => "3 of 4 rows",
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WaitStalled);
    expect(err.message).toMatch(/^gave up waiting for rows in Iceberg: nothing advanced for [\d.]+ s \(lsn 42; 1 advances in [\d.]+ s\); 3 of 4 rows$/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("a number that goes back (a restarted process redoing work) is not progress", async () => {
    let n = 10;
    const err = await waitUntil("x", () => false, { idleMs: 300, everyMs: 20, progressEveryMs: 20, progress: () => ({ n: (n = n === 10 ? 5 : 10) }) }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(WaitStalled);
  });

  it("ends at once on GiveUp", async () => {
    const err = await waitUntil(
      "the writer",
      () => {
        throw new GiveUp("it exited with 2");
      },
      { idleMs: 60_000 },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(GiveUp);
    expect(err.message).toBe("gave up waiting for the writer: it exited with 2");
  });

  it("pollUntil counts a changed value as progress and reports the last value when it stalls", async () => {
    const t0 = Date.now();
    const seen = await pollUntil(
      "rows arriving",
      () => Math.floor((Date.now() - t0) / 300), // a row every 300 ms
      (n) => n >= 10,
      { idleMs: 1_500 },
    );
    expect(seen.value).toBe(10);
    expect(seen.ms).toBeGreaterThan(1_500); // longer than the idle time
    const stalled = await pollUntil(
      "order 4",
      () => [{ n: 3 }],
      (r) => r[0].n === 4,
      { idleMs: 500 },
    ).catch((e) => e);
    expect(stalled.message).toMatch(/^gave up waiting for order 4: nothing advanced for .*; last value \[\{"n":3\}\]$/);
  });
});
