/**
 * Database branches on the local target: create, list, delete, reset; two strategies.
 *
 *   - "instance" (the default): a new Postgres server from a physical copy of the running parent
 *     server (branch-instance.ts). The parent's sessions are never blocked, waited on or
 *     terminated; the branch holds exactly the parent's WAL before its reported LSN; it can be made
 *     as of a past LSN or time when the parent archives its WAL. Its URL has its own port.
 *   - "file_copy" / "wal_log": a new database on the parent's server with CREATE DATABASE …
 *     TEMPLATE (branch-template.ts). Postgres copies a template only while nobody else is connected
 *     to it, so this waits for the parent's sessions or terminates them; fast for small idle
 *     databases, and it works against a server that is not on this machine.
 *
 * Branches never share writes with their parent. list and delete find both kinds; a name is an
 * instance branch when the parent's branch directory holds it, else a template branch database.
 */
import { BranchStrategy, CreateBranchOptions, CreatedBranch, BranchInfo, BranchInterrupted, databaseUrl, STRATEGIES } from "./branch-common";
import { createInstanceBranch, deleteInstanceBranch, findInstanceBranch, listInstanceBranches, resetInstanceBranch } from "./branch-instance";
import { createTemplateBranch, deleteTemplateBranch, listTemplateBranches, repairInterrupted } from "./branch-template";
import { createLogger } from "../core/log";

export * from "./branch-common";
export { repairInterrupted, createInstanceBranch, createTemplateBranch };
export { takeBranchBackup, listBranchBackups, branchStore } from "./branch-instance";

const log = createLogger({ component: "schema-branch" });

/** The strategy a create uses: as asked; else "file_copy" when only a template create's options are given (they imply it), else "instance". */
export function strategyOf(opts: Pick<CreateBranchOptions, "strategy" | "terminateConnections" | "timeoutMs">): BranchStrategy {
  return opts.strategy ?? (opts.terminateConnections || opts.timeoutMs !== undefined ? "file_copy" : "instance");
}

export async function createBranch(parentUrl: string, opts: CreateBranchOptions = {}): Promise<CreatedBranch> {
  const strategy = strategyOf(opts);
  if (!STRATEGIES.includes(strategy)) throw new Error(`strategy must be one of ${STRATEGIES.join(", ")} (got "${strategy}")`);
  if (strategy === "instance") {
    if (opts.terminateConnections)
      throw new Error(`terminateConnections is for the template strategies (file_copy, wal_log): an instance branch never touches the parent's sessions`);
    return createInstanceBranch(parentUrl, { name: opts.name, copy: opts.copy, at: opts.at, port: opts.port, signal: opts.signal });
  }
  if (opts.at) throw new Error(`a branch as of a past LSN or time needs the instance strategy (CREATE DATABASE … TEMPLATE copies the database as it is now)`);
  return createTemplateBranch(parentUrl, {
    name: opts.name,
    terminateConnections: opts.terminateConnections,
    timeoutMs: opts.timeoutMs,
    strategy,
    signal: opts.signal,
  });
}

/**
 * Every branch of the server: its template branch databases, and the instance branches made from
 * it (when the caller may read the server's data_directory: a superuser URL).
 */
export async function listBranches(serverUrl: string): Promise<BranchInfo[]> {
  const template = await listTemplateBranches(serverUrl);
  let instance: BranchInfo[] = [];
  try {
    instance = await listInstanceBranches(serverUrl);
  } catch (e) {
    log.warn("instance branches not listed", { error: (e as Error).message });
  }
  return [...template, ...instance].sort((a, b) => a.name.localeCompare(b.name));
}

async function kindOf(serverUrl: string, name: string): Promise<"instance" | "template"> {
  const found = await findInstanceBranch(serverUrl, name).catch((e) => {
    log.debug("no instance branches looked up", { error: (e as Error).message });
    return undefined;
  });
  if (found) return "instance";
  return "template";
}

/** Deletes a branch: stops and removes an instance branch's server, or drops a template branch database (only floe's). */
export async function deleteBranch(serverUrl: string, name: string): Promise<void> {
  if ((await kindOf(serverUrl, name)) === "instance") return deleteInstanceBranch(serverUrl, name);
  return deleteTemplateBranch(serverUrl, name);
}

/**
 * Makes a branch again from its parent as it is now, under the same name (an instance branch keeps
 * its port, so its URL stays valid). A template branch is dropped and copied again (its parent must
 * be free of other sessions, or `terminateConnections`).
 */
export async function resetBranch(
  serverUrl: string,
  name: string,
  opts: { terminateConnections?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<CreatedBranch> {
  if ((await kindOf(serverUrl, name)) === "instance") return resetInstanceBranch(serverUrl, name, opts.signal);
  const list = await listTemplateBranches(serverUrl);
  const b = list.find((x) => x.name === name);
  if (!b) throw new Error(`branch "${name}" does not exist (no instance branch of that name, and no database with floe's branch comment)`);
  await deleteTemplateBranch(serverUrl, name);
  return createTemplateBranch(databaseUrl(serverUrl, b.parent), {
    name,
    terminateConnections: opts.terminateConnections,
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
  });
}

export { BranchInterrupted };
