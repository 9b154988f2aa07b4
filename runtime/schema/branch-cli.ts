/**
 * `floe branch create|list|delete|reset|backup`: database branches on the local target (a running Postgres).
 * Exit codes: 0 ok, 1 the operation failed, 2 bad usage.
 */
import { BranchInterrupted, createBranch, deleteBranch, listBranches, redact, resetBranch, STRATEGIES, takeBranchBackup, BranchStrategy } from "./branch";
import { parseTarget } from "../local/wal";
import { onSignals } from "./interrupt";

export const usage = `usage:
  floe branch create --from POSTGRES_URL [--name NAME] [--strategy instance|file_copy|wal_log]
                     [--at LSN|TIME] [--copy auto|clone|copy] [--port PORT]
                     [--terminate-connections] [--timeout SECONDS] [--json]
  floe branch list   --server POSTGRES_URL [--json]
  floe branch delete --server POSTGRES_URL NAME...
  floe branch reset  --server POSTGRES_URL NAME [--terminate-connections] [--json]
  floe branch backup --server POSTGRES_URL [--keep N] [--copy auto|clone|copy] [--json]

create makes a branch of the database named in POSTGRES_URL (a superuser URL) and prints its URL.
  --strategy instance (the default): a new Postgres server from a physical copy of the running
    server, on this machine; the parent's sessions are never blocked, waited on or terminated. The
    files are cloned (reflinks) where the filesystem can, else copied (--copy). The branch reports
    the LSN it holds the parent's WAL up to; every database of the server is in it.
    --at LSN|TIME: the branch as the parent was then (the WAL before the LSN, or the commits at or
    before the time, e.g. 2026-05-01T12:00:00Z); needs the parent to archive its WAL and a base
    backup older than the target (floe branch backup).
  --strategy file_copy|wal_log: a new database on the parent's server (CREATE DATABASE ... TEMPLATE,
    that copy strategy). Postgres needs the parent free of other sessions while it copies: create
    waits for them (--timeout, default 30 s) or, with --terminate-connections, blocks and
    terminates them. Fast for small idle databases. --terminate-connections or --timeout without
    --strategy means file_copy.
Ctrl-C / SIGTERM stop a create cleanly (exit 130 / 143). If a create dies where it cannot clean up
(kill -9), the next create, list or delete repairs a parent a template create closed, and lists
the half-made branch as "interrupted" so that delete removes it.
delete only removes branches created by floe branch create (stopping an instance branch's server).
reset makes the branch again from the parent as it is now (same name; an instance branch keeps its port).
backup takes a base backup into the server's WAL archive, the start of --at branches; --keep N then
  keeps the newest N and removes the archived WAL older than the oldest kept one.`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "--json" || a === "--terminate-connections") flags[a.slice(2)] = true;
    else if (["--from", "--server", "--name", "--strategy", "--timeout", "--at", "--copy", "--port", "--keep"].includes(a)) {
      const v = rest[++i];
      if (v === undefined) return fail(`${a} needs a value`);
      flags[a.slice(2)] = v;
    } else if (a.startsWith("--")) return fail(`unknown option ${a}`);
    else positional.push(a);
  }
  const json = flags.json === true;
  const print = (b: { url: string }) => ({ ...b, url: redact(b.url) });
  try {
    if (command === "create") {
      if (typeof flags.from !== "string") return fail("create needs --from POSTGRES_URL (the parent database)");
      // --terminate-connections and --timeout belong to the template strategies: alone, they pick file_copy
      const strategy = (flags.strategy as string | undefined) ?? (flags["terminate-connections"] || flags.timeout !== undefined ? "file_copy" : "instance");
      if (!STRATEGIES.includes(strategy as BranchStrategy)) return fail(`--strategy must be ${STRATEGIES.join(", ")} (got "${strategy}")`);
      const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout);
      if (timeout !== undefined && !(timeout > 0)) return fail(`--timeout must be a positive number of seconds (got "${flags.timeout}")`);
      const copy = flags.copy as string | undefined;
      if (copy !== undefined && !["auto", "clone", "copy"].includes(copy)) return fail(`--copy must be auto, clone or copy (got "${copy}")`);
      const port = flags.port === undefined ? undefined : Number(flags.port);
      if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) return fail(`--port must be a TCP port (got "${flags.port}")`);
      if (typeof flags.at === "string") {
        try {
          parseTarget(flags.at);
        } catch (e) {
          return fail(`--at: ${(e as Error).message}`);
        }
      }
      if (strategy === "instance" && (flags["terminate-connections"] || timeout !== undefined))
        return fail("--terminate-connections and --timeout are for --strategy file_copy|wal_log: an instance branch never waits on the parent's sessions");
      if (strategy !== "instance" && (flags.at || copy || port !== undefined)) return fail("--at, --copy and --port are for --strategy instance");
      const stop = onSignals("floe branch create");
      let b;
      try {
        b = await createBranch(flags.from, {
          name: flags.name as string | undefined,
          strategy: strategy as BranchStrategy,
          at: flags.at as string | undefined,
          copy: copy as "auto" | "clone" | "copy" | undefined,
          port,
          terminateConnections: flags["terminate-connections"] === true,
          timeoutMs: timeout === undefined ? undefined : timeout * 1000,
          signal: stop.signal,
        });
      } catch (e) {
        if (!(e instanceof BranchInterrupted)) throw e;
        process.stderr.write(
          `floe branch create: ${e.message}; the copy was stopped${strategy === "instance" ? " and removed" : " and the parent re-opened"}\n`,
        );
        return stop.exitCode();
      } finally {
        stop.dispose();
      }
      process.stdout.write(
        json
          ? JSON.stringify(print(b), null, 2) + "\n"
          : `created branch ${b.name} of ${b.parent} in ${b.elapsedMs} ms (${b.strategy}${b.lsn ? `, at LSN ${b.lsn}` : ""})\n${redact(b.url)}\n`,
      );
      return 0;
    }
    if (command === "list") {
      if (typeof flags.server !== "string") return fail("list needs --server POSTGRES_URL");
      const list = await listBranches(flags.server);
      if (json) process.stdout.write(JSON.stringify(list.map(print), null, 2) + "\n");
      else if (!list.length) process.stdout.write("no branches\n");
      else
        for (const b of list) {
          const where =
            b.kind === "instance"
              ? ` ${b.running ? "running" : "stopped"} ${redact(b.url)}${b.lsn ? ` lsn=${b.lsn}` : ""}${b.asOf ? ` as-of=${b.asOf}` : ""}`
              : ` size=${b.sizeBytes}`;
          process.stdout.write(
            `${b.name.padEnd(40)} ${b.kind.padEnd(8)} parent=${b.parent} created=${b.created}${where}${b.interrupted ? " interrupted (delete it)" : ""}\n`,
          );
        }
      return 0;
    }
    if (command === "delete") {
      if (typeof flags.server !== "string") return fail("delete needs --server POSTGRES_URL");
      if (!positional.length) return fail("delete needs at least one branch NAME");
      for (const name of positional) {
        await deleteBranch(flags.server, name);
        if (!json) process.stdout.write(`deleted branch ${name}\n`);
      }
      if (json) process.stdout.write(JSON.stringify({ deleted: positional }) + "\n");
      return 0;
    }
    if (command === "reset") {
      if (typeof flags.server !== "string") return fail("reset needs --server POSTGRES_URL");
      if (positional.length !== 1) return fail("reset needs one branch NAME");
      const stop = onSignals("floe branch reset");
      let b;
      try {
        b = await resetBranch(flags.server, positional[0], { terminateConnections: flags["terminate-connections"] === true, signal: stop.signal });
      } catch (e) {
        if (!(e instanceof BranchInterrupted)) throw e;
        process.stderr.write(`floe branch reset: ${e.message}; the branch is gone (create it again)\n`);
        return stop.exitCode();
      } finally {
        stop.dispose();
      }
      process.stdout.write(
        json
          ? JSON.stringify(print(b), null, 2) + "\n"
          : `reset branch ${b.name} of ${b.parent} in ${b.elapsedMs} ms${b.lsn ? ` (at LSN ${b.lsn})` : ""}\n${redact(b.url)}\n`,
      );
      return 0;
    }
    if (command === "backup") {
      if (typeof flags.server !== "string") return fail("backup needs --server POSTGRES_URL");
      const keep = flags.keep === undefined ? undefined : Number(flags.keep);
      if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) return fail(`--keep must be a whole number, at least 1 (got "${flags.keep}")`);
      const copy = flags.copy as string | undefined;
      if (copy !== undefined && !["auto", "clone", "copy"].includes(copy)) return fail(`--copy must be auto, clone or copy (got "${copy}")`);
      const b = await takeBranchBackup(flags.server, { keep, copy: copy as "auto" | "clone" | "copy" | undefined });
      process.stdout.write(
        json
          ? JSON.stringify(b, null, 2) + "\n"
          : `base backup ${b.id}: consistent at LSN ${b.stopLsn} (${b.stopTime}), ${b.method}, ${b.elapsedMs} ms${b.removed.length ? `; removed ${b.removed.length} older backup(s) and ${b.walRemoved} WAL file(s)` : ""}\n`,
      );
      return 0;
    }
    return fail(`unknown subcommand "${command ?? ""}"`);
  } catch (e) {
    process.stderr.write(`floe branch ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}

function fail(msg: string): number {
  process.stderr.write(`floe branch: ${msg}\n\n${usage}\n`);
  return 2;
}
