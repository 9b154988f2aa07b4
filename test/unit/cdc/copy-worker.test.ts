/**
 * A copy thread's rows before they are encoded (runtime/cdc/copy-worker.ts): a key that repeats
 * in a mirror table's rows keeps its last row, as an upsert would, and the other rows keep their order.
 */
import { lastPerKey } from "../../../runtime/cdc/copy-worker";

describe("lastPerKey", () => {
  it("keeps the last row of each key, in row order, typed columns too", () => {
    const ids = BigInt64Array.from([5n, 6n, 5n, 7n, 6n]);
    const notes = ["a", "b", "c", "d", "e"];
    expect(lastPerKey([ids, notes], [5, 6, 5, 7, 6])).toEqual({
      columns: [
        [5n, 7n, 6n],
        ["c", "d", "e"],
      ],
      rowCount: 3,
      keys: [5, 7, 6],
    });
  });

  it("leaves distinct keys as they are", () => {
    expect(lastPerKey([["x", "y"]], ["k1", "k2"])).toEqual({ columns: [["x", "y"]], rowCount: 2, keys: ["k1", "k2"] });
  });
});
