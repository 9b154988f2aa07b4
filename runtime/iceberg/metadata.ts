/**
 * Pure table-metadata logic shared by every catalog: the first metadata of a new table,
 * checking commit requirements, and applying commit updates (REST semantics) to produce the
 * next metadata. Catalogs that commit client-side (SQL) call these; the REST server does the
 * same on its side.
 */
import { randomBytes, randomUUID } from "crypto";
import { CommitConflictError, CorruptMetadataError, ValidationError, type CreateTableRequest, type TableRequirement, type TableUpdate } from "./catalog";
import { parseIcebergJson, type PartitionSpec, type Schema, type Snapshot, type SortOrder, type TableMetadata } from "./spec";
import { assertWritableSchema, maxFieldId } from "./types";

/** A random positive 63-bit snapshot id. */
export function newSnapshotId(): bigint {
  const b = randomBytes(8);
  b[0] &= 0x7f;
  const id = b.readBigInt64BE();
  return id === 0n ? 1n : id;
}

export const UNPARTITIONED: PartitionSpec = { "spec-id": 0, fields: [] };
export const UNSORTED: SortOrder = { "order-id": 0, fields: [] };

/** Format versions this library reads and writes (3: deletion vectors and row lineage). */
export const FORMAT_VERSIONS = [2, 3] as const;

/**
 * The format version a create request asks for: the reserved table property "format-version" (as
 * in Java Iceberg and the REST spec), 2 when absent. The property itself is not stored.
 */
export function requestedFormatVersion(properties: Record<string, string> | undefined): 2 | 3 {
  const v = properties?.["format-version"];
  if (v === undefined) return 2;
  if (v === "2" || v === "3") return Number(v) as 2 | 3;
  throw new ValidationError(`table property format-version is "${v}": this writer creates format version 2 or 3 tables`);
}

/** The first metadata of a new table (REST CreateTableRequest semantics). */
export function newTableMetadata(request: CreateTableRequest, location: string, now = Date.now()): TableMetadata {
  assertWritableSchema(request.schema);
  const formatVersion = requestedFormatVersion(request.properties);
  const { "format-version": _fv, ...properties } = request.properties ?? {};
  const schema: Schema = { ...request.schema, "schema-id": 0 };
  const spec: PartitionSpec = { ...(request["partition-spec"] ?? UNPARTITIONED), "spec-id": 0 };
  const order: SortOrder = request["write-order"] && request["write-order"].fields.length > 0 ? { ...request["write-order"], "order-id": 1 } : UNSORTED;
  return {
    "format-version": formatVersion,
    "table-uuid": randomUUID(),
    location: location.replace(/\/+$/, ""),
    "last-sequence-number": 0,
    "last-updated-ms": now,
    "last-column-id": maxFieldId(schema),
    schemas: [schema],
    "current-schema-id": 0,
    "partition-specs": [spec],
    "default-spec-id": 0,
    "last-partition-id": spec.fields.reduce((m, f) => Math.max(m, f["field-id"]), 999),
    properties,
    "current-snapshot-id": null,
    snapshots: [],
    "snapshot-log": [],
    "metadata-log": [],
    "sort-orders": order["order-id"] === 0 ? [UNSORTED] : [UNSORTED, order],
    "default-sort-order-id": order["order-id"],
    refs: {},
    ...(formatVersion >= 3 ? { "next-row-id": 0 } : {}),
  };
}

/** Same fields and identifier fields: the same schema. */
function sameSchema(a: Schema, b: Schema): boolean {
  return (
    JSON.stringify(a.fields) === JSON.stringify(b.fields) && JSON.stringify(a["identifier-field-ids"] ?? []) === JSON.stringify(b["identifier-field-ids"] ?? [])
  );
}

/** The id a schema gets when added: an identical existing schema's (as Java Iceberg reuses it), else one above every id. */
export function schemaIdFor(schemas: readonly Schema[], s: Schema): number {
  return schemas.find((x) => sameSchema(x, s))?.["schema-id"] ?? Math.max(-1, ...schemas.map((x) => x["schema-id"])) + 1;
}

/** Throws CommitConflictError naming the first requirement `base` does not meet. */
export function checkRequirements(base: TableMetadata | undefined, requirements: TableRequirement[]): void {
  for (const r of requirements) {
    if (r.type === "assert-create") {
      if (base) throw new CommitConflictError("requirement failed: table already exists");
      continue;
    }
    if (!base) throw new CommitConflictError(`requirement ${r.type} failed: table does not exist`);
    switch (r.type) {
      case "assert-table-uuid":
        if (base["table-uuid"] !== r.uuid) throw new CommitConflictError(`requirement failed: table uuid is ${base["table-uuid"]}, expected ${r.uuid}`);
        break;
      case "assert-ref-snapshot-id": {
        const ref = base.refs[r.ref];
        const actual = ref ? BigInt(ref["snapshot-id"]) : null;
        const expected = r["snapshot-id"] === null || r["snapshot-id"] === undefined ? null : BigInt(r["snapshot-id"]);
        if (actual !== expected)
          throw new CommitConflictError(`requirement failed: branch ${r.ref} is at snapshot ${actual ?? "none"}, expected ${expected ?? "none"}`);
        break;
      }
      case "assert-last-assigned-field-id":
        if (base["last-column-id"] !== r["last-assigned-field-id"])
          throw new CommitConflictError(`requirement failed: last assigned field id is ${base["last-column-id"]}, expected ${r["last-assigned-field-id"]}`);
        break;
      case "assert-current-schema-id":
        if (base["current-schema-id"] !== r["current-schema-id"])
          throw new CommitConflictError(`requirement failed: current schema id is ${base["current-schema-id"]}, expected ${r["current-schema-id"]}`);
        break;
      case "assert-last-assigned-partition-id":
        if (base["last-partition-id"] !== r["last-assigned-partition-id"])
          throw new CommitConflictError("requirement failed: last assigned partition id changed");
        break;
      case "assert-default-spec-id":
        if (base["default-spec-id"] !== r["default-spec-id"]) throw new CommitConflictError("requirement failed: default partition spec changed");
        break;
      case "assert-default-sort-order-id":
        if (base["default-sort-order-id"] !== r["default-sort-order-id"]) throw new CommitConflictError("requirement failed: default sort order changed");
        break;
    }
  }
}

/**
 * Applies updates to `base`, returning new metadata (base is not modified). `metadataLocation`
 * is base's own file, appended to the metadata log.
 */
export function applyUpdates(base: TableMetadata, updates: TableUpdate[], baseMetadataLocation?: string, now = Date.now()): TableMetadata {
  const m: TableMetadata = structuredClone(base);
  let lastAddedSchemaId: number | undefined;
  let changedSnapshot = false;
  for (const u of updates) {
    switch (u.action) {
      case "assign-uuid":
        m["table-uuid"] = u.uuid;
        break;
      case "upgrade-format-version":
        // The format is chosen when a table is created: some engines break on a table upgraded in place.
        if (u["format-version"] !== m["format-version"])
          throw new ValidationError(
            `cannot change format version ${m["format-version"]} to ${u["format-version"]}: the format version is fixed when a table is created`,
          );
        break;
      case "add-schema": {
        assertWritableSchema(u.schema);
        const withDefault = u.schema.fields.find((f) => f["initial-default"] !== undefined || f["write-default"] !== undefined);
        if (withDefault && m["format-version"] < 3) {
          throw new ValidationError(
            `column "${withDefault.name}" has a default value: initial-default and write-default need format version 3 (this table is ${m["format-version"]})`,
          );
        }
        const id = schemaIdFor(m.schemas, u.schema);
        const schema = { ...u.schema, "schema-id": id };
        if (!m.schemas.some((s) => s["schema-id"] === id)) m.schemas.push(schema);
        m["last-column-id"] = Math.max(m["last-column-id"], u["last-column-id"] ?? 0, maxFieldId(schema));
        lastAddedSchemaId = id;
        break;
      }
      case "set-current-schema": {
        const id = u["schema-id"] === -1 ? lastAddedSchemaId : u["schema-id"];
        if (id === undefined || !m.schemas.some((s) => s["schema-id"] === id))
          throw new ValidationError(`set-current-schema: unknown schema id ${u["schema-id"]}`);
        m["current-schema-id"] = id;
        break;
      }
      case "add-spec": {
        const id = Math.max(-1, ...m["partition-specs"].map((s) => s["spec-id"])) + 1;
        m["partition-specs"].push({ ...u.spec, "spec-id": id });
        m["last-partition-id"] = Math.max(m["last-partition-id"], ...u.spec.fields.map((f) => f["field-id"]));
        break;
      }
      case "set-default-spec":
        m["default-spec-id"] = u["spec-id"] === -1 ? m["partition-specs"][m["partition-specs"].length - 1]["spec-id"] : u["spec-id"];
        break;
      case "add-sort-order": {
        const id = Math.max(0, ...m["sort-orders"].map((s) => s["order-id"])) + 1;
        m["sort-orders"].push({ ...u["sort-order"], "order-id": id });
        break;
      }
      case "set-default-sort-order":
        m["default-sort-order-id"] = u["sort-order-id"] === -1 ? m["sort-orders"][m["sort-orders"].length - 1]["order-id"] : u["sort-order-id"];
        break;
      case "add-snapshot": {
        const s = u.snapshot;
        if (m.snapshots.some((x) => BigInt(x["snapshot-id"]) === BigInt(s["snapshot-id"])))
          throw new CommitConflictError(`snapshot ${s["snapshot-id"]} already exists`);
        if (s["sequence-number"] <= m["last-sequence-number"] && s["sequence-number"] !== 0) {
          throw new CommitConflictError(
            `snapshot sequence number ${s["sequence-number"]} is not above the table's last sequence number ${m["last-sequence-number"]}`,
          );
        }
        if (m["format-version"] >= 3) {
          // row lineage: the snapshot's row ids start at the table's next-row-id (or above)
          const next = m["next-row-id"] ?? 0;
          if (s["first-row-id"] === undefined || s["first-row-id"] === null || s["added-rows"] === undefined || s["added-rows"] === null) {
            throw new ValidationError(`snapshot ${s["snapshot-id"]} of a format version 3 table needs first-row-id and added-rows`);
          }
          if (Number(s["first-row-id"]) < next)
            throw new CommitConflictError(`snapshot first-row-id ${s["first-row-id"]} is behind the table's next-row-id ${next}`);
          m["next-row-id"] = Number(s["first-row-id"]) + Number(s["added-rows"]);
        }
        m.snapshots.push(s);
        m["last-sequence-number"] = Math.max(m["last-sequence-number"], s["sequence-number"]);
        m["last-updated-ms"] = s["timestamp-ms"];
        break;
      }
      case "set-snapshot-ref": {
        const { action: _a, "ref-name": name, ...ref } = u;
        if (!m.snapshots.some((x) => BigInt(x["snapshot-id"]) === BigInt(ref["snapshot-id"])))
          throw new ValidationError(`set-snapshot-ref: unknown snapshot ${ref["snapshot-id"]}`);
        m.refs[name] = ref;
        if (name === "main") {
          m["current-snapshot-id"] = ref["snapshot-id"];
          const snap = m.snapshots.find((x) => BigInt(x["snapshot-id"]) === BigInt(ref["snapshot-id"]))!;
          m["snapshot-log"].push({ "snapshot-id": ref["snapshot-id"], "timestamp-ms": snap["timestamp-ms"] });
          changedSnapshot = true;
        }
        break;
      }
      case "remove-snapshots": {
        const ids = new Set(u["snapshot-ids"].map((x) => BigInt(x)));
        m.snapshots = m.snapshots.filter((s) => !ids.has(BigInt(s["snapshot-id"])));
        m["snapshot-log"] = m["snapshot-log"].filter((s) => !ids.has(BigInt(s["snapshot-id"])));
        break;
      }
      case "remove-snapshot-ref":
        delete m.refs[u["ref-name"]];
        if (u["ref-name"] === "main") m["current-snapshot-id"] = null;
        break;
      case "set-location":
        m.location = u.location;
        break;
      case "set-properties":
        Object.assign(m.properties, u.updates);
        break;
      case "remove-properties":
        for (const k of u.removals) delete m.properties[k];
        break;
      default:
        throw new ValidationError(`unknown table update ${(u as { action: string }).action}`);
    }
  }
  if (!changedSnapshot) m["last-updated-ms"] = Math.max(now, m["last-updated-ms"]);
  if (baseMetadataLocation) {
    const keep = Math.max(1, Number(m.properties["write.metadata.previous-versions-max"] ?? 100) || 100);
    m["metadata-log"] = [...m["metadata-log"], { "metadata-file": baseMetadataLocation, "timestamp-ms": base["last-updated-ms"] }].slice(-keep);
  }
  return m;
}

/** `<location>/metadata/<version>-<uuid>.metadata.json` (Java-compatible naming). */
export function metadataFileLocation(tableLocation: string, version: number): string {
  return `${tableLocation.replace(/\/+$/, "")}/metadata/${String(version).padStart(5, "0")}-${randomUUID()}.metadata.json`;
}

/** The version number in a metadata file name (-1 if none). */
export function metadataVersion(location: string | undefined): number {
  const m = location ? /\/(\d+)-[^/]*\.metadata\.json$/.exec(location) : null;
  return m ? Number(m[1]) : -1;
}

/** Parses and sanity-checks a metadata file. */
export function parseMetadata(text: string, location: string): TableMetadata {
  let m: TableMetadata;
  try {
    m = parseIcebergJson<TableMetadata>(text);
  } catch (e) {
    throw new CorruptMetadataError(`metadata file ${location} is not valid JSON: ${(e as Error).message}`);
  }
  if (!m || typeof m !== "object" || !FORMAT_VERSIONS.includes(m["format-version"]) || !Array.isArray(m.schemas) || typeof m.location !== "string") {
    throw new CorruptMetadataError(
      `metadata file ${location} is not Iceberg v2 or v3 table metadata (format-version ${(m as { "format-version"?: unknown } | undefined)?.["format-version"]})`,
    );
  }
  if (m["format-version"] >= 3) m["next-row-id"] ??= 0;
  m.snapshots ??= [];
  m["snapshot-log"] ??= [];
  m["metadata-log"] ??= [];
  m.refs ??= {};
  m.properties ??= {};
  if (m["current-snapshot-id"] === -1n || (m["current-snapshot-id"] as unknown) === -1) m["current-snapshot-id"] = null;
  return m;
}

/** The table's current snapshot (main), or undefined for a table without one. */
export function currentSnapshot(m: TableMetadata): Snapshot | undefined {
  const id = m["current-snapshot-id"];
  if (id === null || id === undefined) return undefined;
  return m.snapshots?.find((s) => BigInt(s["snapshot-id"]) === BigInt(id));
}

/**
 * Custom snapshot summary keys with this prefix are table state (the CDC writer's LSNs, follow
 * records): every floe snapshot carries them forward, and they are found through the snapshot
 * ancestry when the current snapshot was written by an engine that does not carry them (a Spark
 * or pyiceberg compaction, S3 Tables maintenance).
 */
export const STATE_PREFIX = "floe.";

const carriesState = (s: Snapshot): boolean => Object.keys(s.summary ?? {}).some((k) => k.startsWith(STATE_PREFIX));

const snapshotIndex = new WeakMap<TableMetadata, Map<bigint, Snapshot>>();

/** The snapshot with this id (a map built once per metadata object). */
export function snapshotById(m: TableMetadata, id: bigint | number | null | undefined): Snapshot | undefined {
  if (id === null || id === undefined) return undefined;
  let byId = snapshotIndex.get(m);
  if (!byId) snapshotIndex.set(m, (byId = new Map(m.snapshots.map((s) => [BigInt(s["snapshot-id"]), s]))));
  return byId.get(BigInt(id));
}

/**
 * The newest ancestor of main (the current snapshot included) whose summary carries state keys
 * (STATE_PREFIX), or undefined when no retained ancestor does.
 */
export function stateSnapshot(m: TableMetadata): Snapshot | undefined {
  for (let s = currentSnapshot(m); s; s = snapshotById(m, s["parent-snapshot-id"])) if (carriesState(s)) return s;
  return undefined;
}

/** Whether a snapshot's summary carries state keys (STATE_PREFIX). */
export function snapshotCarriesState(s: Snapshot): boolean {
  return carriesState(s);
}
