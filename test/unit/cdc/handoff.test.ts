import { generationKey, Handoff, isNewer, lineageOf, parseFollowRecord, parseHandoff, retarget, serverId } from "../../../runtime/cdc/handoff";

const h: Handoff = {
  version: 1,
  upgrade: "u1",
  seq: 1,
  kind: "cutover",
  to: { host: "green-rw.floe.svc", port: 5433, dbname: "app" },
  slot: "floe_shard_0",
  publication: "floe",
};

describe("upgrade handoff message", () => {
  it("round-trips and rejects what it cannot follow, naming the field", () => {
    expect(parseHandoff(Buffer.from(JSON.stringify(h)))).toEqual(h);
    expect(() => parseHandoff(Buffer.from("{not json"))).toThrow(/floe.handoff message is not JSON/);
    expect(() => parseHandoff(Buffer.from(JSON.stringify({ ...h, to: { ...h.to, port: 0 } })))).toThrow(/to.port/);
    expect(() => parseHandoff(Buffer.from(JSON.stringify({ ...h, version: 2 })))).toThrow(/version/);
    expect(() => parseHandoff(Buffer.from(JSON.stringify({ ...h, kind: "switch" })))).toThrow(/kind/);
  });

  it("a re-sent message (same upgrade, same seq) is not newer; a later switchover or another upgrade is", () => {
    const rec = { ...h, generation: 1, left: {} };
    expect(isNewer(h, undefined)).toBe(true);
    expect(isNewer(h, rec)).toBe(false);
    expect(isNewer({ ...h, seq: 2, kind: "rollback" }, rec)).toBe(true);
    expect(isNewer({ ...h, upgrade: "u2" }, rec)).toBe(true);
  });

  it("moves the connection string to the new primary, keeping user, password and parameters", () => {
    const moved = retarget("postgresql://floe_replication:s%3Acret@blue-rw:5432/app?sslmode=require&application_name=floe", h.to);
    const u = new URL(moved);
    expect([u.hostname, u.port, u.pathname, u.username, decodeURIComponent(u.password)]).toEqual([
      "green-rw.floe.svc",
      "5433",
      "/app",
      "floe_replication",
      "s:cret",
    ]);
    expect(u.searchParams.get("sslmode")).toBe("require");
    expect(new URL(retarget("postgres://u@h/db?host=/tmp", { host: "::1", port: 5432, dbname: "other db" })).hostname).toBe("[::1]");
    expect(retarget("postgres://u@h/db?host=/tmp&port=1", h.to)).not.toMatch(/host=|port=/);
  });

  it("names LSN spaces per generation and servers by host, port, database and slot", () => {
    expect(generationKey("shard-0", 0)).toBe("shard-0");
    expect(generationKey("shard-0", 2)).toBe("shard-0~2");
    expect(lineageOf("shard-0~2")).toBe("shard-0");
    expect(lineageOf("shard-0")).toBe("shard-0");
    expect(serverId("postgresql://u:p@127.0.0.1/app", "floe_cdc")).toBe("127.0.0.1:5432/app/floe_cdc");
  });

  it("reads follow records, old ones without `left` too", () => {
    expect(parseFollowRecord(undefined)).toBeUndefined();
    expect(parseFollowRecord(JSON.stringify({ ...h, generation: 1 }))).toEqual({ ...h, generation: 1, left: {} });
    expect(() => parseFollowRecord(JSON.stringify({ ...h, generation: 0 }))).toThrow(/generation/);
  });
});
