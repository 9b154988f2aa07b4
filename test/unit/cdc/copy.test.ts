/**
 * The initial copy's COPY text decoder: escapes, nulls, rows split across payloads (also inside
 * a multi-byte character), chunking, and malformed input. And the CopyData messages taken off the
 * socket before node-postgres's parser: every message, wherever the socket's chunks cut the stream.
 */
import { EventEmitter } from "node:events";
import fc from "fast-check";
import type { Client } from "pg";
import { CopyTextDecoder, takeCopyData, unescapeCopyText, type ColumnChunk } from "../../../runtime/cdc/copy";

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

describe("takeCopyData: CopyData messages taken off node-postgres's socket", () => {
  /** A protocol message: code, Int32 length (itself included), body. */
  const msg = (code: string, body: Buffer) => {
    const b = Buffer.alloc(5 + body.length);
    b.write(code, 0, "latin1");
    b.writeUInt32BE(4 + body.length, 1);
    body.copy(b, 5);
    return b;
  };
  const fakeClient = () => {
    const socket = new EventEmitter();
    const parsed: Buffer[] = []; // what node-postgres's own listener got
    socket.on("data", (b: Buffer) => parsed.push(Buffer.from(b)));
    return { client: { connection: { stream: socket } } as unknown as Client, socket, parsed };
  };

  it("hands every CopyData payload over in order, passes every other message to node-postgres in order, and gives the socket back at ReadyForQuery, however the stream is cut (property)", () => {
    const body = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
    const other = fc.tuple(fc.constantFrom("N", "S", "A"), body).map(([c, b]) => msg(c, b)); // notices, parameter status, notifications
    const item = fc.oneof({ weight: 4, arbitrary: body.map((b) => ({ data: b })) }, { weight: 1, arbitrary: other.map((m) => ({ other: m })) });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }), (items, cuts) => {
        const { client, socket, parsed } = fakeClient();
        const got: Buffer[] = [];
        takeCopyData(client, (b, start, end) => got.push(Buffer.from(b.subarray(start, end))));
        const response = msg("H", Buffer.from([1, 0, 0]));
        const tail = [msg("c", Buffer.alloc(0)), msg("C", Buffer.from("COPY 1\0")), msg("Z", Buffer.from("I"))];
        const after = msg("S", Buffer.from("late\0")); // after ReadyForQuery: node-postgres's again
        const stream = Buffer.concat([response, ...items.map((i) => ("data" in i ? msg("d", i.data) : i.other)), ...tail, after]);
        for (let at = 0, k = 0; at < stream.length; k++) {
          const n = cuts[k % cuts.length];
          socket.emit("data", stream.subarray(at, at + n));
          at += n;
        }
        expect(got).toEqual(items.filter((i) => "data" in i).map((i) => (i as { data: Buffer }).data));
        expect(Buffer.concat(parsed)).toEqual(
          Buffer.concat([response, ...items.filter((i) => "other" in i).map((i) => (i as { other: Buffer }).other), ...tail, after]),
        );
        expect(socket.listenerCount("data")).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it("gives the socket back when asked (the query did not start)", () => {
    const { client, socket, parsed } = fakeClient();
    const giveBack = takeCopyData(client, () => {
      throw new Error("no data expected");
    });
    giveBack();
    socket.emit("data", msg("Z", Buffer.from("I")));
    expect(parsed).toHaveLength(1);
    expect(socket.listenerCount("data")).toBe(1);
  });
});
