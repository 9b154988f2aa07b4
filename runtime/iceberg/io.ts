/**
 * File IO for table files. Locations are URIs: `file:///abs/path` (LocalFileIO) or
 * `s3://bucket/key` (S3FileIO in s3.ts). Writers always create new, unique files; nothing is
 * overwritten in place, so a failed commit only ever leaves orphan files that it deletes.
 */
import { promises as fs } from "fs";
import * as path from "path";
import { fileURLToPath, pathToFileURL } from "url";

export interface FileIO {
  /** Reads a whole file. Throws an error whose message names the location when missing. */
  read(location: string): Promise<Uint8Array>;
  /** Writes a whole file (creating parent directories as needed). */
  write(location: string, data: Uint8Array): Promise<void>;
  exists(location: string): Promise<boolean>;
  /** Deletes a file; deleting a missing file is not an error. */
  delete(location: string): Promise<void>;
}

/** `file:///a/b` or a bare absolute path -> absolute filesystem path. */
export function localPath(location: string): string {
  if (location.startsWith("file:")) return fileURLToPath(location);
  if (path.isAbsolute(location)) return location;
  throw new Error(`location "${location}" is not a file: URI or absolute path`);
}

/** Absolute filesystem path -> `file:///…` URI. */
export function fileUri(p: string): string {
  return pathToFileURL(path.resolve(p)).href;
}

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
    await fs.mkdir(path.dirname(p), { recursive: true });
    const tmp = `${p}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(tmp, data);
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
}
