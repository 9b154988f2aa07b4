/**
 * File IO for table files. Locations are URIs: `file:///abs/path` (LocalFileIO) or
 * `s3://bucket/key` (S3FileIO in s3.ts). Writers always create new, unique files; nothing is
 * overwritten in place, so a failed commit only ever leaves orphan files that it deletes.
 */
import { promises as fs } from "fs";
import * as path from "path";
import { chownSync, mkdirSync, statSync } from "fs";

export interface FileIO {
  /** Reads a whole file. Throws an error whose message names the location when missing. */
  read(location: string): Promise<Uint8Array>;
  /** Writes a whole file (creating parent directories as needed). */
  write(location: string, data: Uint8Array): Promise<void>;
  exists(location: string): Promise<boolean>;
  /** Deletes a file; deleting a missing file is not an error. */
  delete(location: string): Promise<void>;
  /** Optional: every file under a location prefix (for orphan file cleanup). */
  list?(prefix: string): Promise<{ location: string; modifiedMs: number }[]>;
}

/**
 * `file:///a/b` (or `file:/a/b`, or a bare absolute path) -> absolute filesystem path.
 * Table locations are path strings, not URLs: nothing is percent-decoded (a partition directory
 * like `region=a%2Fb` is literally that name, as Java Iceberg and ClickHouse treat it).
 */
export function localPath(location: string): string {
  let p = location;
  if (p.startsWith("file://")) p = p.slice("file://".length);
  else if (p.startsWith("file:")) p = p.slice("file:".length);
  if (path.isAbsolute(p)) return p;
  throw new Error(`location "${location}" is not a file: URI or absolute path`);
}

/** Absolute filesystem path -> `file:///…` location (the path is kept literally). */
export function fileUri(p: string): string {
  return `file://${path.resolve(p)}`;
}

/**
 * mkdir -p, one level at a time from the nearest existing ancestor: Node's recursive mkdir never
 * returns for a path under /proc (the kernel answers ENOENT for the missing parent it just "made",
 * and Node retries for ever), which was the writer's silent hang on such a warehouse. Directories
 * are made 0700, and as root they take their parent's owner: the local warehouse belongs to the
 * server user, whose writer must read and replace what a root CLI (floe maintain) wrote. Returns
 * the owner of `dir`.
 */
export function makeDirectories(dir: string): { uid: number; gid: number } {
  const missing: string[] = [];
  let owner: { uid: number; gid: number };
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      const st = statSync(d);
      if (!st.isDirectory()) throw Object.assign(new Error(`${d} is not a directory`), { code: "ENOTDIR" });
      owner = { uid: st.uid, gid: st.gid };
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || path.dirname(d) === d) throw e;
      missing.unshift(d);
    }
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o700 });
      if (asRoot() && owner.uid !== 0) chownSync(d, owner.uid, owner.gid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !statSync(d).isDirectory()) throw e; // a concurrent write made it
    }
  }
  return owner;
}

const asRoot = () => process.getuid?.() === 0;

/**
 * Files on the local filesystem, readable by their owner only (0600 in 0700 directories: a
 * warehouse holds a copy of the database); as root, a file takes its directory's owner.
 */
export class LocalFileIO implements FileIO {
  async read(location: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await fs.readFile(localPath(location)));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Error(`cannot read ${location}: ${err.code ?? err.message}`);
    }
  }
  async write(location: string, data: Uint8Array): Promise<void> {
    const p = localPath(location);
    const owner = makeDirectories(path.dirname(p));
    const tmp = `${p}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(tmp, data, { mode: 0o600 });
    if (asRoot() && owner.uid !== 0) await fs.chown(tmp, owner.uid, owner.gid);
    await fs.rename(tmp, p);
  }
  async exists(location: string): Promise<boolean> {
    try {
      await fs.access(localPath(location));
      return true;
    } catch {
      return false;
    }
  }
  async delete(location: string): Promise<void> {
    await fs.rm(localPath(location), { force: true });
  }
  async list(prefix: string): Promise<{ location: string; modifiedMs: number }[]> {
    const root = localPath(prefix);
    const scheme = prefix.startsWith("file:") ? prefix.slice(0, prefix.length - root.length) : "";
    const out: { location: string; modifiedMs: number }[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import("fs").Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) out.push({ location: scheme + p, modifiedMs: (await fs.stat(p)).mtimeMs });
      }
    };
    await walk(root);
    return out;
  }
}
