/**
 * An in-process catalog (metadata files on a FileIO, pointers in memory) with the same
 * compare-and-swap semantics as the SQL catalog. For unit tests and tools; not durable.
 */
import {
  CommitConflictError,
  NoSuchNamespaceError,
  NoSuchTableError,
  TableAlreadyExistsError,
  tableIdString,
  type Catalog,
  type CreateTableRequest,
  type LoadTableResult,
  type TableIdentifier,
  type TableRequirement,
  type TableUpdate,
} from "./catalog";
import { LocalFileIO, type FileIO } from "./io";
import { applyUpdates, checkRequirements, metadataFileLocation, metadataVersion, newTableMetadata, parseMetadata } from "./metadata";
import { stringifyMetadata } from "./sql-catalog";

export class MemoryCatalog implements Catalog {
  readonly name: string;
  readonly writesMetadataFiles = true;
  private readonly namespaces = new Set<string>();
  private readonly tables = new Map<string, string>();

  constructor(
    readonly warehouse: string,
    private readonly io: FileIO = new LocalFileIO(),
    name = "memory",
  ) {
    this.name = name;
  }

  fileIO(): FileIO {
    return this.io;
  }
  async createNamespace(ns: string[]): Promise<void> {
    this.namespaces.add(ns.join("."));
  }
  async namespaceExists(ns: string[]): Promise<boolean> {
    return this.namespaces.has(ns.join("."));
  }
  async listNamespaces(): Promise<string[][]> {
    return [...this.namespaces].sort().map((n) => n.split("."));
  }
  async dropNamespace(ns: string[]): Promise<void> {
    this.namespaces.delete(ns.join("."));
  }
  async listTables(ns: string[]): Promise<TableIdentifier[]> {
    const p = ns.join(".") + ".";
    return [...this.tables.keys()].filter((k) => k.startsWith(p) && !k.slice(p.length).includes(".")).map((k) => ({ namespace: ns, name: k.slice(p.length) }));
  }
  async tableExists(id: TableIdentifier): Promise<boolean> {
    return this.tables.has(tableIdString(id));
  }
  async createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadTableResult> {
    if (!this.namespaces.has(id.namespace.join("."))) throw new NoSuchNamespaceError(`namespace ${id.namespace.join(".")} does not exist`);
    if (this.tables.has(tableIdString(id))) throw new TableAlreadyExistsError(`table ${tableIdString(id)} already exists`);
    const metadata = newTableMetadata(request, request.location ?? `${this.warehouse.replace(/\/+$/, "")}/${id.namespace.join("/")}/${id.name}`);
    const loc = metadataFileLocation(metadata.location, 0);
    await this.io.write(loc, Buffer.from(stringifyMetadata(metadata)));
    this.tables.set(tableIdString(id), loc);
    return { "metadata-location": loc, metadata };
  }
  async loadTable(id: TableIdentifier): Promise<LoadTableResult> {
    const loc = this.tables.get(tableIdString(id));
    if (!loc) throw new NoSuchTableError(`table ${tableIdString(id)} does not exist`);
    return { "metadata-location": loc, metadata: parseMetadata(Buffer.from(await this.io.read(loc)).toString("utf8"), loc) };
  }
  async commitTable(id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[]): Promise<LoadTableResult> {
    const base = await this.loadTable(id);
    checkRequirements(base.metadata, requirements);
    const next = applyUpdates(base.metadata, updates, base["metadata-location"]);
    const loc = metadataFileLocation(next.location, metadataVersion(base["metadata-location"]) + 1);
    await this.io.write(loc, Buffer.from(stringifyMetadata(next)));
    if (this.tables.get(tableIdString(id)) !== base["metadata-location"]) {
      await this.io.delete(loc);
      throw new CommitConflictError(`commit to ${tableIdString(id)} lost the race`);
    }
    this.tables.set(tableIdString(id), loc);
    return { "metadata-location": loc, metadata: next };
  }
  async dropTable(id: TableIdentifier): Promise<void> {
    this.tables.delete(tableIdString(id));
  }
}
