/**
 * The initial copy's COPY text decoder: escapes, nulls, rows split across payloads (also inside
 * a multi-byte character), chunking, and malformed input.
 */
import { CopyTextDecoder, unescapeCopyText, type ColumnChunk } from "../../../runtime/cdc/copy";

const decode = (payloads: Buffer[], ncols: number, chunkRows = 65536) => {
  const chunks: ColumnChunk[] = [];
  const d = new CopyTextDecoder(
    Array.from({ length: ncols }, () => (t: string) => t),
    (c) => chunks.push(c),
    chunkRows,
  );
  for (const p of payloads) d.push(p);
  d.flush();
  return { chunks, total: d.total };
};

describe("COPY text decoding", () => {
  it("undoes COPY's escapes", () => {
    expect(unescapeCopyText("a\\tb\\nc\\\\d\\re\\bf\\fg\\vh")).toBe("a\tb\nc\\d\re\bf\fg\vh");
    expect(unescapeCopyText("\\101\\x41\\x4g\\N")).toBe("AA\x04gN");
    expect(unescapeCopyText("no escapes")).toBe("no escapes");
  });

  it("splits rows and fields, keeps empty strings apart from nulls", () => {
    const { chunks, total } = decode([Buffer.from("1\t\\N\t\n2\tx\\ty\tz\\\\\n")], 3);
    expect(total).toBe(2);
    expect(chunks).toEqual([
      {
        columns: [
          ["1", "2"],
          [null, "x\ty"],
          ["", "z\\"],
        ],
        rowCount: 2,
      },
    ]);
  });

  it("joins rows split across payloads, also inside a multi-byte character", () => {
    const bytes = Buffer.from("1\tété\n2\t😀\n");
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { chunks } = decode([bytes.subarray(0, cut), bytes.subarray(cut)], 2);
      expect(chunks.flatMap((c) => c.columns[1])).toEqual(["été", "😀"]);
    }
  });

  it("emits chunks of the given size", () => {
    const { chunks, total } = decode([Buffer.from("a\nb\nc\nd\ne\n")], 1, 2);
    expect(total).toBe(5);
    expect(chunks.map((c) => c.rowCount)).toEqual([2, 2, 1]);
    expect(chunks.flatMap((c) => c.columns[0])).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("keeps int64 columns in BigInt64Arrays until a null or a value outside int64 comes", () => {
    const chunks: ColumnChunk[] = [];
    const d = new CopyTextDecoder([(t) => BigInt(t), (t) => BigInt(t), (t) => (t === "x" ? "x" : BigInt(t))], (c) => chunks.push(c), 3);
    d.push(Buffer.from("1\t1\t1\n2\t\\N\t2\n3\t3\t9223372036854775808\n4\t4\tx\n"));
    d.flush();
    expect(chunks.map((c) => c.columns.map((col) => col instanceof BigInt64Array))).toEqual([
      [true, false, false],
      [true, true, false],
    ]);
    expect(chunks.map((c) => c.columns.map((col) => Array.from(col as ArrayLike<unknown>)))).toEqual([
      [
        [1n, 2n, 3n],
        [1n, null, 3n],
        [1n, 2n, 9223372036854775808n],
      ],
      [[4n], [4n], ["x"]],
    ]);
  });

  it("rejects rows with the wrong number of fields and data ending mid-row", () => {
    expect(() => decode([Buffer.from("1\t2\t3\n")], 2)).toThrow(/does not have the 2 fields/);
    expect(() => decode([Buffer.from("1\n")], 2)).toThrow(/does not have the 2 fields/);
    expect(() => decode([Buffer.from("1\t2")], 2)).toThrow(/middle of a row/);
  });
});
