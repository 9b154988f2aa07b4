/**
 * The writer's start-up check of a local warehouse (file://): the directory exists or can be made
 * (owner only, 0700), and a file can be written, read back and removed there. A path it cannot use
 * (under /proc, a file in the way, a read-only or foreign directory) is a PermanentError naming the
 * path and the fix, instead of storage errors retried for ever. s3:// warehouses are checked by
 * their first write (object storage refusals are classified in runtime/cdc/errors.ts).
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PermanentError } from "../core/errors";
import { localPath, makeDirectories } from "../iceberg/io";

export function checkWarehouse(location: string): void {
  if (!location.startsWith("file:")) return;
  const dir = localPath(location);
  const probe = join(dir, `.floe-probe-${process.pid}`);
  const fail = (step: string, e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new PermanentError(
      "warehouse",
      `warehouse ${location} is not usable: cannot ${step} (${code}): point warehouse at a directory the writer's user may create and write, on a regular filesystem`,
    );
  };
  try {
    makeDirectories(dir);
  } catch (e) {
    fail(`create ${dir}`, e);
  }
  try {
    writeFileSync(probe, "floe", { mode: 0o600 });
    if (readFileSync(probe, "utf8") !== "floe") throw Object.assign(new Error("read back something else"), { code: "EIO" });
  } catch (e) {
    rmSync(probe, { force: true });
    fail(`write a file in ${dir}`, e);
  }
  rmSync(probe, { force: true });
}
