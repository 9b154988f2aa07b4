/**
 * The fault-injection proxy itself (test/helpers/faults.ts), against a real Postgres and a real
 * S3 server (moto): each fault does what it says, at the moment it was aimed at, and is recorded.
 */
import { Client } from "pg";
import { S3Client, PutObjectCommand, GetObjectCommand, CreateBucketCommand } from "@aws-sdk/client-s3";
import { FaultProxy } from "../helpers/faults";
import { waitUntil } from "../helpers/wait";
import { startPostgres, TestPostgres } from "../helpers/postgres";
import { INSTALL_TIMEOUT_MS, MotoS3Server, startMotoS3 } from "../helpers/iceberg-rest";

describe("fault proxy: Postgres", () => {
  let pg: TestPostgres;
  let proxy: FaultProxy;
  const clients: Client[] = [];
  const through = async () => {
    const c = new Client({ connectionString: proxy.pgUrl("postgres") });
    c.on("error", () => undefined);
    clients.push(c);
    await c.connect();
    return c;
  };
  const value = async () => Number((await pg.sql("SELECT v FROM t WHERE id = 1"))[0].v);

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.sql("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)");
  });
  beforeEach(async () => {
    proxy = await FaultProxy.start({ name: "pg", protocol: "postgres", target: { port: pg.port } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
    await proxy.stop();
  });
  afterAll(async () => pg?.stop());

  it("forwards queries untouched", async () => {
    const c = await through();
    expect((await c.query("SELECT $1::int + 1 AS n", [41])).rows[0].n).toBe(42);
    expect(proxy.faults).toEqual([]);
  });

  it("drop-reply: the UPDATE is applied, its reply is swallowed and recorded, the client sees a reset", async () => {
    const c = await through();
    const before = await value();
    const fault = proxy.arm({ name: "cas", match: /^UPDATE t /, action: "drop-reply" });
    await expect(c.query("UPDATE t SET v = v + 1 WHERE id = $1", [1])).rejects.toThrow(/ECONNRESET|terminated|Connection/);
    const rec = await fault.hit;
    expect(rec).toMatchObject({ proxy: "pg", rule: "cas", action: "drop-reply", reply: "UPDATE 1" });
    expect(rec.request).toMatch(/^UPDATE t SET v = v \+ 1/);
    expect(await value()).toBe(before + 1);
    expect(proxy.faults).toHaveLength(1);
  });

  it("drop-reply matches the simple query protocol too, and only the aimed statement", async () => {
    const c = await through();
    const before = await value();
    proxy.arm({ name: "cas", match: /^UPDATE t /, action: "drop-reply", skip: 1 });
    await c.query("SELECT 1");
    await c.query("UPDATE t SET v = v + 1 WHERE id = 1"); // the first match is let through
    await expect(c.query("UPDATE t SET v = v + 1 WHERE id = 1")).rejects.toThrow();
    expect(proxy.faults.map((f) => f.reply)).toEqual(["UPDATE 1"]);
    expect(await value()).toBe(before + 2);
  });

  it("reset-before: the server never sees the statement", async () => {
    const c = await through();
    const before = await value();
    proxy.arm({ name: "cas", match: /^UPDATE t /, action: "reset-before" });
    await expect(c.query("UPDATE t SET v = v + 1 WHERE id = 1")).rejects.toThrow();
    expect(proxy.faults).toMatchObject([{ action: "reset-before" }]);
    expect(await value()).toBe(before);
  });

  it("reset-after: the statement left, the connection is reset before any reply", async () => {
    const c = await through();
    proxy.arm({ name: "cas", match: /^UPDATE t /, action: "reset-after" });
    await expect(c.query("UPDATE t SET v = v + 1 WHERE id = 1")).rejects.toThrow();
    expect(proxy.faults).toMatchObject([{ action: "reset-after" }]);
    expect(proxy.faults[0].reply).toBeUndefined();
  });

  it("thenRefuse: after the fault, other open connections are reset, new ones are reset on accept and counted, until accept()", async () => {
    const c = await through();
    const idle = await through(); // a pooled connection must not carry the client's re-check to the server
    await idle.query("SELECT 1");
    proxy.arm({ name: "cas", match: /^UPDATE t /, action: "drop-reply", thenRefuse: true });
    await expect(c.query("UPDATE t SET v = v + 1 WHERE id = 1")).rejects.toThrow();
    await expect(idle.query("SELECT 1")).rejects.toThrow();
    await expect(through()).rejects.toThrow(/ECONNRESET|terminated|Connection/);
    await expect(through()).rejects.toThrow();
    expect(proxy.refused).toBe(2);
    await proxy.accept();
    expect((await (await through()).query("SELECT 1 AS one")).rows[0].one).toBe(1);
  });

  it("refuse({ close: true }): the port stops listening (ECONNREFUSED), then listens again", async () => {
    proxy.refuse({ close: true });
    await expect(through()).rejects.toThrow(/ECONNREFUSED/);
    await proxy.accept();
    expect((await (await through()).query("SELECT 1 AS one")).rows[0].one).toBe(1);
  });

  it("resetAll: open connections are reset", async () => {
    const c = await through();
    await c.query("SELECT 1");
    expect(proxy.resetAll()).toBe(1);
    await expect(c.query("SELECT 1")).rejects.toThrow();
  });

  it("stall: the server answers, the client does not hear it until release()", async () => {
    const c = await through();
    const before = await value();
    const fault = proxy.arm({ name: "stall", match: /^UPDATE t /, action: "stall" });
    let settled = false;
    const q = c.query("UPDATE t SET v = v + 1 WHERE id = 1").finally(() => (settled = true));
    await fault.hit;
    await waitUntil("the stalled UPDATE to be applied by the server", async () => (await value()) === before + 1, { idleMs: 60_000, everyMs: 50 });
    expect(settled).toBe(false);
    proxy.release();
    expect((await q).rowCount).toBe(1);
  });

  it("slow: every chunk is delayed", async () => {
    const c = await through();
    proxy.slow(100);
    const t0 = Date.now();
    await c.query("SELECT 1");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190); // query there, answer back: two delayed chunks at least
    proxy.slow(0);
  });

  it("watch: a replication stream is reset at the pgoutput commit the server sends", async () => {
    await pg.sql("CREATE PUBLICATION p FOR TABLE t");
    await pg.sql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
    const repl = new Client({ connectionString: proxy.pgUrl("postgres"), replication: "database" } as never);
    repl.on("error", () => undefined);
    clients.push(repl);
    await repl.connect();
    const fault = proxy.watch({ name: "commit", match: /^xlog:C$/ });
    const streaming = repl.query("START_REPLICATION SLOT s LOGICAL 0/0 (proto_version '1', publication_names 'p')").then(
      () => "ended",
      (e: Error) => e.message,
    );
    await pg.sql("UPDATE t SET v = v + 1 WHERE id = 1");
    expect(await fault.hit).toMatchObject({ action: "server-reset", request: "xlog:C" });
    expect(await streaming).toMatch(/ECONNRESET|terminated/);
    await pg.sql("SELECT pg_drop_replication_slot('s')").catch(async () => {
      await waitUntil(
        "the slot to be released",
        async () => (await pg.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 's'"))[0]?.active === false,
        { idleMs: 60_000, everyMs: 50 },
      );
      await pg.sql("SELECT pg_drop_replication_slot('s')");
    });
  });
});

describe("fault proxy: HTTP (moto S3)", () => {
  const BUCKET = "floe-faults";
  let moto: MotoS3Server;
  let proxy: FaultProxy;
  let s3: S3Client;
  beforeAll(async () => {
    moto = await startMotoS3();
    proxy = await FaultProxy.start({ name: "s3", protocol: "http", target: { port: Number(new URL(moto.endpoint).port) } });
    s3 = new S3Client({
      endpoint: proxy.httpUrl,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: { accessKeyId: "k", secretAccessKey: "s" },
      maxAttempts: 1,
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, INSTALL_TIMEOUT_MS);
  afterAll(async () => {
    s3?.destroy();
    await proxy?.stop();
    await moto?.stop();
  });
  const read = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();

  it("drop-reply on a PUT: the object is stored, the client sees a reset, the record holds the status", async () => {
    const fault = proxy.arm({ name: "put", match: /^PUT \/floe-faults\/data\/.*\.parquet/, action: "drop-reply" });
    const body = Buffer.alloc(3 * 1024 * 1024, 7); // big enough for 100-continue in some clients
    await expect(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "data/x.parquet", Body: body }))).rejects.toThrow();
    expect(await fault.hit).toMatchObject({ action: "drop-reply", reply: "HTTP 200" });
    expect((await read("data/x.parquet")).length).toBe(body.length);
  });

  it("reset-before on a PUT: nothing is stored", async () => {
    proxy.arm({ name: "put", match: /^PUT \/floe-faults\/m\//, action: "reset-before" });
    await expect(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "m/y.avro", Body: "manifest" }))).rejects.toThrow();
    await expect(read("m/y.avro")).rejects.toThrow(/NoSuchKey|does not exist/);
    expect(proxy.faults.at(-1)).toMatchObject({ action: "reset-before", request: "PUT /floe-faults/m/y.avro?x-id=PutObject" });
  });
});
