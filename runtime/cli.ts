#!/usr/bin/env node
/**
 * `floe`: one CLI for every runtime program. Each command group lives in its own module
 * (runtime/<group>/cli.ts) exporting `main(argv): Promise<number>` (the exit code) and `usage`.
 * Exit codes: 0 ok, 1 the command ran and found a failure (e.g. lint violations), 2 bad usage or input.
 */
import { exitWhenFlushed } from "./core/exit";

type Group = { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number>; usage: string }> };

const GROUPS: Record<string, Group> = {
  cdc: { summary: "run the CDC writer (Postgres logical replication -> Iceberg)", load: () => import("./cdc/cli") },
  maintain: { summary: "show or run Iceberg table maintenance (compaction, manifests, snapshot expiry, orphans)", load: () => import("./cdc/maintain-cli") },
  schema: { summary: "lint and check schema migrations against policy and a database branch", load: () => import("./schema/cli") },
  branch: { summary: "create, list and delete database branches", load: () => import("./schema/branch-cli") },
  upgrade: { summary: "zero-downtime major upgrade: blue/green behind pgBouncer (plan|run|status|rollback|cleanup)", load: () => import("./upgrade/cli") },
  query: { summary: "query the platform's Iceberg tables with chdb", load: () => import("./query/cli") },
  "token-endpoint": {
    summary: "serve a projected service-account token as an OAuth2 token endpoint on 127.0.0.1 (for engines' catalog clients)",
    load: () => import("./token/cli"),
  },
};

export const USAGE = `floe: the runtime programs of the floe data platform

usage: floe <command> [args] [--json] [--help]

commands:
${Object.entries(GROUPS)
  .map(([name, g]) => `  ${name.padEnd(14)} ${g.summary}`)
  .join("\n")}

Run "floe <command> --help" for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [group, ...rest] = argv;
  if (!group || group === "--help" || group === "-h" || group === "help") {
    process.stdout.write(USAGE + "\n");
    return group ? 0 : 2;
  }
  const entry = GROUPS[group];
  if (!entry) {
    process.stderr.write(`floe: unknown command "${group}"\n\n${USAGE}\n`);
    return 2;
  }
  let mod;
  try {
    mod = await entry.load();
  } catch (e) {
    process.stderr.write(`floe ${group}: this command is not available in this build (${(e as Error).message})\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(mod.usage + "\n");
    return 0;
  }
  return mod.main(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => exitWhenFlushed(code),
    (e) => {
      process.stderr.write(`floe: ${(e as Error).stack ?? e}\n`);
      exitWhenFlushed(2);
    },
  );
}
