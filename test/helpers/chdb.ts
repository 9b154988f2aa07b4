/**
 * Reading Iceberg tables back with chdb (ClickHouse's own Iceberg reader). chdb only reads files
 * under its user_files_path, which is the process's working directory: the query runs with the
 * cwd switched to the table's directory. Position deletes need no extra settings.
 */
import { localPath } from "../../runtime/iceberg/io";

let chdb: { query(sql: string, format?: string): string } | undefined;

export function chdbRows(tableLocation: string, select: string, tail = ""): Record<string, string | null>[] {
  chdb ??= require("chdb");
  const dir = localPath(tableLocation);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const out = chdb!.query(`SELECT ${select} FROM icebergLocal('${dir}') ${tail}`, "JSONEachRow");
    return out
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  } finally {
    process.chdir(cwd);
  }
}
