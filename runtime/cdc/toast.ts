/**
 * The previous version of a row, for the columns pgoutput leaves out of an update (unchanged
 * TOAST values). The table's primary-key index says which data file and position hold the live
 * version; that row's columns are read back from the Parquet file by field id. Files read are
 * cached (a few, most recent first) because TOAST updates tend to come in runs.
 */
import { initialDefault } from "../iceberg/defaults";
import { readColumnsByIdOptional } from "../iceberg/parquet";
import type { Table } from "../iceberg/table";
import { canonicalFromPhysical } from "../iceberg/values";

const CACHE_FILES = 4;

export class PreviousVersions {
  private cache = new Map<string, Map<number, unknown[] | undefined>>();

  constructor(private readonly table: Table) {}

  /** Forget cached files (after the table changed underneath, e.g. a truncate). */
  clear(): void {
    this.cache.clear();
  }

  /** The live row with this key as canonical values by column name, or null when there is none. */
  async lookup(key: Record<string, unknown>): Promise<Record<string, unknown> | null> {
    const index = this.table.pkIndex;
    if (!index) return null;
    const loc = index.get(this.table.keyOf(key));
    if (!loc) return null;
    const fields = this.table.schema().fields;
    let columns = this.cache.get(loc.path);
    if (!columns) {
      const io = this.table.catalog.fileIO({ "metadata-location": this.table.metadataLocation, metadata: this.table.metadata });
      const ids = fields.map((f) => f.id);
      // A column added after this file was written is missing from it: it reads as its initial-default (v3) or null, as Iceberg defines.
      const read = await readColumnsByIdOptional(await io.read(loc.path), ids, `data file ${loc.path}`);
      columns = new Map(ids.map((id, i) => [id, read[i]]));
      this.cache.set(loc.path, columns);
      if (this.cache.size > CACHE_FILES) this.cache.delete(this.cache.keys().next().value as string);
    }
    const row: Record<string, unknown> = {};
    for (const f of fields) {
      const col = columns.get(f.id);
      row[f.name] = col ? canonicalFromPhysical(f.type, col[loc.pos]) : initialDefault(f);
    }
    return row;
  }
}
