import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PermanentError } from "../../../runtime/core/errors";
import { classify } from "../../../runtime/cdc/errors";
import { checkWarehouse } from "../../../runtime/cdc/warehouse";
import { LocalFileIO } from "../../../runtime/iceberg/io";
import { serverUser } from "../../../runtime/local/process";

describe("the writer's start-up check of a local warehouse (issue 11 item 9)", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "floe-wh-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates a missing warehouse for its owner only and leaves nothing behind", () => {
    const wh = join(dir, "a", "warehouse");
    checkWarehouse(`file://${wh}`);
    expect(statSync(wh).mode & 0o777).toBe(0o700);
    expect(readdirSync(wh)).toEqual([]);
  });

  it.each([
    ["under /proc", () => "/proc/floe-warehouse-test", /cannot create \/proc\/floe-warehouse-test \((ENOENT|EACCES|EROFS)\)/],
    [
      "a file in the way",
      () => (writeFileSync(join(dir, "file"), "x"), join(dir, "file", "warehouse")),
      /cannot create .*file\/warehouse \((ENOTDIR|EEXIST)\)/,
    ],
    ["a device", () => "/dev/null", /cannot (create|write a file in) \/dev\/null \((EEXIST|ENOTDIR)\)/],
  ] as [string, () => string, RegExp][])("%s: a permanent error (exit 2) naming the path and the fix", (_, path, message) => {
    const p = path();
    let err: unknown;
    try {
      checkWarehouse(`file://${p}`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/point warehouse at a directory the writer's user may create and write/);
    expect(classify(err)).toEqual(expect.objectContaining({ kind: "warehouse", permanent: true }));
  });

  it("LocalFileIO writes files 0600 in directories 0700, concurrently, and fails under /proc instead of hanging", async () => {
    const io = new LocalFileIO();
    const root = join(dir, "io");
    await Promise.all([1, 2, 3, 4].map((i) => io.write(`file://${root}/t/data/part-${i}.parquet`, new Uint8Array([i]))));
    expect(statSync(join(root, "t", "data")).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "t", "data", "part-3.parquet")).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(root, "t", "data")).sort()).toEqual([1, 2, 3, 4].map((i) => `part-${i}.parquet`));
    await expect(io.write("file:///proc/floe-io-test/t/x.avro", new Uint8Array([1]))).rejects.toThrow(/ENOENT/);
  });

  it("as root, what LocalFileIO makes in another user's warehouse belongs to that user (the writer must read what a root CLI wrote)", async () => {
    const u = process.getuid?.() === 0 ? serverUser() : null;
    if (!u) return expect(process.getuid?.()).not.toBe(0); // not root: every file is already the one user's
    const root = join(dir, "owned");
    mkdirSync(root, { mode: 0o700 });
    chownSync(root, u.uid, u.gid);
    await new LocalFileIO().write(`file://${root}/t/metadata/snap-1.avro`, new Uint8Array([1]));
    for (const p of ["t", "t/metadata", "t/metadata/snap-1.avro"]) expect([p, statSync(join(root, p)).uid]).toEqual([p, u.uid]);
  });

  it("leaves s3:// warehouses to their first write", () => {
    expect(() => checkWarehouse("s3://bucket/warehouse")).not.toThrow();
  });
});
