import { decodeTuple, encodedTupleLength, encodeTuple, PgoutputDecoder, UNCHANGED, type Tuple } from "../../../runtime/cdc/pgoutput";
import { formatLsn, parseLsn } from "../../../runtime/cdc/lsn";

/** Builds pgoutput messages byte by byte, per the protocol docs. */
class W {
  parts: Buffer[] = [];
  ch(c: string) {
    this.parts.push(Buffer.from(c, "latin1"));
    return this;
  }
  u8(n: number) {
    const b = Buffer.alloc(1);
    b.writeUInt8(n);
    this.parts.push(b);
    return this;
  }
  i16(n: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(n);
    this.parts.push(b);
    return this;
  }
  i32(n: number) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    this.parts.push(b);
    return this;
  }
  i64(n: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(n);
    this.parts.push(b);
    return this;
  }
  str(s: string) {
    this.parts.push(Buffer.from(s + "\0", "utf8"));
    return this;
  }
  text(s: string) {
    const v = Buffer.from(s, "utf8");
    return this.ch("t").i32(v.length).raw(v);
  }
  raw(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  done() {
    return Buffer.concat(this.parts);
  }
}

describe("pgoutput decoder", () => {
  it("decodes begin, relation, insert with nulls and unicode, update with unchanged TOAST, delete, commit", () => {
    const d = new PgoutputDecoder();
    const begin = d.decode(new W().ch("B").i64(0x1_0000_0010n).i64(1_000_000n).i32(42).done());
    expect(begin).toEqual({ tag: "begin", finalLsn: 0x1_0000_0010n, commitTime: 946_684_801_000_000n, xid: 42 });
    const rel = d.decode(
      new W().ch("R").i32(16384).str("public").str("t").u8(0x64).i16(2).u8(1).str("id").i32(20).i32(-1).u8(0).str("body").i32(25).i32(-1).done(),
    );
    expect(rel).toMatchObject({ tag: "relation", oid: 16384, schema: "public", name: "t", replicaIdentity: "d" });
    expect((rel as any).columns).toEqual([
      { name: "id", typeOid: 20, typeMod: -1, isKey: true },
      { name: "body", typeOid: 25, typeMod: -1, isKey: false },
    ]);
    expect(d.decode(new W().ch("I").i32(16384).ch("N").i16(2).text("1").text("héllo ✓").done())).toEqual({
      tag: "insert",
      xid: undefined,
      oid: 16384,
      newTuple: ["1", "héllo ✓"],
    });
    expect(d.decode(new W().ch("I").i32(16384).ch("N").i16(2).text("2").ch("n").done())).toMatchObject({ newTuple: ["2", null] });
    const upd = d.decode(new W().ch("U").i32(16384).ch("N").i16(2).text("1").ch("u").done());
    expect(upd).toMatchObject({ tag: "update", newTuple: ["1", UNCHANGED] });
    const updKey = d.decode(new W().ch("U").i32(16384).ch("K").i16(2).text("1").ch("n").ch("N").i16(2).text("7").text("x").done());
    expect(updKey).toMatchObject({ tag: "update", keyTuple: ["1", null], newTuple: ["7", "x"] });
    expect(d.decode(new W().ch("D").i32(16384).ch("K").i16(2).text("7").ch("n").done())).toMatchObject({ tag: "delete", keyTuple: ["7", null] });
    expect(d.decode(new W().ch("C").u8(0).i64(16n).i64(24n).i64(0n).done())).toEqual({
      tag: "commit",
      commitLsn: 16n,
      endLsn: 24n,
      commitTime: 946_684_800_000_000n,
    });
  });

  it("reads the xid field only inside streamed blocks", () => {
    const d = new PgoutputDecoder();
    expect(d.decode(new W().ch("S").i32(900).u8(1).done())).toEqual({ tag: "stream_start", xid: 900, firstSegment: true });
    expect(d.decode(new W().ch("I").i32(901).i32(16384).ch("N").i16(1).text("5").done())).toEqual({ tag: "insert", xid: 901, oid: 16384, newTuple: ["5"] });
    expect(d.decode(new W().ch("E").done())).toEqual({ tag: "stream_stop" });
    expect(d.decode(new W().ch("I").i32(16384).ch("N").i16(1).text("6").done())).toMatchObject({ xid: undefined, oid: 16384 });
    expect(d.decode(new W().ch("A").i32(900).i32(901).done())).toEqual({ tag: "stream_abort", xid: 900, subXid: 901 });
    expect(d.decode(new W().ch("c").i32(900).u8(0).i64(100n).i64(120n).i64(0n).done())).toMatchObject({
      tag: "stream_commit",
      xid: 900,
      commitLsn: 100n,
      endLsn: 120n,
    });
  });

  it("keeps tuples as their bytes (a copy) in raw mode, and decodeTuple / encodeTuple read and write that form", () => {
    const d = PgoutputDecoder.raw();
    const msg = new W().ch("U").i32(16384).ch("K").i16(2).text("1").ch("n").ch("N").i16(3).text("héllo ✓").ch("u").ch("n").done();
    const upd = d.decode(msg);
    if (upd.tag !== "update") throw new Error(upd.tag);
    expect(Buffer.isBuffer(upd.newTuple)).toBe(true);
    msg.fill(0); // the parser reuses its buffer: the raw tuples must not see it
    expect(decodeTuple(upd.newTuple)).toEqual(["héllo ✓", UNCHANGED, null]);
    expect(decodeTuple(upd.keyTuple!)).toEqual(["1", null]);
    const t: Tuple = ["a", null, UNCHANGED, "", "𝄞é"];
    const b = Buffer.alloc(encodedTupleLength(t) + 3);
    expect(encodeTuple(t, b, 3)).toBe(b.length);
    expect(decodeTuple(b, 3)).toEqual(t);
    expect(() => d.decode(new W().ch("I").i32(16384).ch("N").i16(1).ch("x").done())).toThrow(/unknown tuple column kind 0x78/);
    expect(() => d.decode(new W().ch("I").i32(16384).ch("N").i16(1).ch("t").i32(50).ch("a").done())).toThrow(/runs past the end/);
    expect(() => d.decode(new W().ch("I").i32(16384).ch("N").i16(3).ch("n").done())).toThrow(/runs past the end/);
    expect(() => d.decode(new W().ch("I").i32(16384).ch("N").i16(1).ch("t").u8(0).done())).toThrow(/runs past the end/);
  });

  it("decodes truncate and rejects unknown messages", () => {
    const d = new PgoutputDecoder();
    expect(d.decode(new W().ch("T").i32(2).u8(3).i32(1).i32(2).done())).toEqual({
      tag: "truncate",
      xid: undefined,
      oids: [1, 2],
      cascade: true,
      restartIdentity: true,
    });
    expect(() => d.decode(new W().ch("Z").done())).toThrow(/unknown message type "Z"/);
  });

  it("round-trips LSN text", () => {
    expect(parseLsn("16/B374D848")).toBe(0x16_b374d848n);
    expect(formatLsn(parseLsn("0/1A2B"))).toBe("0/1A2B");
    expect(() => parseLsn("nope")).toThrow(/not an LSN/);
    expect(parseLsn("FFFFFFFF/FFFFFFFF")).toBe(0xffffffff_ffffffffn);
    expect(parseLsn(" a/b0\n")).toBe(0xa_000000b0n);
    for (const bad of ["", "/", "1/", "/1", "123456789/0", "0/123456789", "1/2/3", "g/0", "0/0x1", "-1/0", "1 /0"]) {
      expect(() => parseLsn(bad)).toThrow(/not an LSN/);
    }
    for (let i = 0; i < 1000; i++) {
      const lsn = (BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32));
      expect(parseLsn(formatLsn(lsn))).toBe(lsn);
      expect(parseLsn(formatLsn(lsn).toLowerCase())).toBe(lsn);
    }
  });
});
