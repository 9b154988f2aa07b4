/**
 * `floe branch create|list|delete`: database branches on the local target (a running Postgres).
 * Exit codes: 0 ok, 1 the operation failed, 2 bad usage.
 */
import { BranchInterrupted, createBranch, deleteBranch, listBranches, redact } from "./branch";
import { onSignals } from "./interrupt";

export const usage = `usage:
  floe branch create --from POSTGRES_URL [--name NAME] [--terminate-connections]
                     [--strategy file_copy|wal_log] [--timeout SECONDS] [--json]
  floe branch list   --server POSTGRES_URL [--json]
  floe branch delete --server POSTGRES_URL NAME...

create copies the database named in POSTGRES_URL (CREATE DATABASE ... TEMPLATE) and prints the
branch's URL. Postgres needs the parent free of other sessions while it copies: create waits for
them (--timeout, default 30 s) or, with --terminate-connections, blocks and terminates them.
Ctrl-C / SIGTERM stop a create cleanly (copy cancelled, parent re-opened; exit 130 / 143). If a
create dies where it cannot clean up (kill -9), the next create, list or delete re-opens the parent
and marks the half-made branch "interrupted" so that delete can drop it.
delete only drops databases created by floe branch create.`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "--json" || a === "--terminate-connections") flags[a.slice(2)] = true;
    else if (["--from", "--server", "--name", "--strategy", "--timeout"].includes(a)) {
      const v = rest[++i];
      if (v === undefined) return fail(`${a} needs a value`);
      flags[a.slice(2)] = v;
    } else if (a.startsWith("--")) return fail(`unknown option ${a}`);
    else positional.push(a);
  }
  const json = flags.json === true;
  try {
    if (command === "create") {
      if (typeof flags.from !== "string") return fail("create needs --from POSTGRES_URL (the parent database)");
      const strategy = flags.strategy as string | undefined;
      if (strategy && strategy !== "file_copy" && strategy !== "wal_log") return fail(`--strategy must be file_copy or wal_log (got "${strategy}")`);
      const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout);
      if (timeout !== undefined && !(timeout > 0)) return fail(`--timeout must be a positive number of seconds (got "${flags.timeout}")`);
      const stop = onSignals("floe branch create");
      let b;
      try {
        b = await createBranch(flags.from, {
          name: flags.name as string | undefined,
          terminateConnections: flags["terminate-connections"] === true,
          strategy: strategy as "file_copy" | "wal_log" | undefined,
          timeoutMs: timeout === undefined ? undefined : timeout * 1000,
          signal: stop.signal,
        });
      } catch (e) {
        if (!(e instanceof BranchInterrupted)) throw e;
        process.stderr.write(`floe branch create: ${e.message}; the copy was stopped and the parent re-opened\n`);
        return stop.exitCode();
      } finally {
        stop.dispose();
      }
      process.stdout.write(json ? JSON.stringify({ ...b, url: redact(b.url) }, null, 2) + "\n" : `created branch ${b.name} of ${b.parent} in ${b.elapsedMs} ms (${b.strategy})\n${redact(b.url)}\n`);
      return 0;
    }
    if (command === "list") {
      if (typeof flags.server !== "string") return fail("list needs --server POSTGRES_URL");
      const list = await listBranches(flags.server);
      if (json) process.stdout.write(JSON.stringify(list.map((b) => ({ ...b, url: redact(b.url) })), null, 2) + "\n");
      else if (!list.length) process.stdout.write("no branches\n");
      else for (const b of list) process.stdout.write(`${b.name.padEnd(40)} parent=${b.parent} created=${b.created} size=${b.sizeBytes}${b.interrupted ? " interrupted (delete it)" : ""}\n`);
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
