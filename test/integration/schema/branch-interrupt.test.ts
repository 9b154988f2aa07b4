/**
 * `floe branch create --terminate-connections` interrupted from outside never leaves the parent
 * closed: the built CLI runs as a child process against a real Postgres whose parent database is
 * large enough that the copy takes a while (WAL_LOG strategy), and the test signals it while
 * pg_stat_activity shows its CREATE DATABASE running and the parent refuses connections.
 *   - SIGTERM / SIGINT: the child cancels the copy, re-opens the parent, exits 143 / 130, and says
 *     it was interrupted while copying; nothing is left behind.
 *   - kill -9 (no handler runs): the parent stays closed until the next floe branch command
 *     (list, or a re-run of create) repairs it from the marker the create left.
 *   - kill -9 after the copy, while the branch is not yet marked (its COMMENT held on a lock): the
 *     next command re-opens the parent and marks the half-made branch, and delete drops it.
 * Faults are counted and asserted to have landed where meant.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { listBranches } from "../../../runtime/schema/branch";

const CLI = join(__dirname, "../../../dist/runtime/cli.js");
/** Parent size: enough rows that a WAL_LOG copy takes seconds, not milliseconds. */
const PARENT_ROWS = Number(process.env.FLOE_TEST_BRANCH_ROWS ?? 300_000);

let pg: TestPostgres;
const faults = { sigterm: 0, sigint: 0, kill9MidCopy: 0, kill9BeforeMark: 0, sigtermDuringCheck: 0, ownerSigterm: 0, ownerKill9: 0, orphanCopyCompleted: 0 };

interface Run {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function floe(args: string[]): Run {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, stdout: () => out, exit };
}

async function floeDone(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const r = floe(args);
  const { code } = await r.exit;
  return { code, out: r.stdout(), err: r.stderr() };
}

/** Polls until `probe` returns a value; fails naming what it waited for if `alive` turns false first. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, alive: () => boolean | string = () => true): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    const a = alive();
    if (a !== true) throw new Error(`gave up waiting for ${what}: ${a || "the process it depends on ended"}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const allowsConnections = async (db = "big") => (await pg.sql("SELECT datallowconn FROM pg_database WHERE datname = $1", [db]))[0]?.datallowconn as boolean;
const exists = async (db: string) => (await pg.sql("SELECT 1 FROM pg_database WHERE datname = $1", [db])).length > 0;
/** floe's in-progress markers: per-database settings, and lines of database comments (a non-superuser's create). */
const markers = async () => [
  ...(await pg.sql("SELECT cfg FROM pg_db_role_setting s, unnest(s.setconfig) cfg WHERE cfg LIKE 'floe.branch%'")).map((r) => String(r.cfg)),
  ...(
    await pg.sql("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '%floe-branch-pending%'")
  ).map((r) => String(r.c)),
];
const comment = async (db: string) =>
  (await pg.sql("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1", [db]))[0]?.c as string | null;
/** A URL as another role (the test cluster trusts local connections). */
const as = (user: string, db: string) => pg.url(db).replace("//postgres@", `//${user}@`);
/** The backend running a statement that starts with `prefix`, with its state and wait event. */
const running = async (prefix: string) =>
  (await pg.sql("SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [prefix + "%"]))[0] as
    { pid: number; state: string; wait_event_type: string | null } | undefined;

/** A session on the parent, as an application would hold one (create --terminate-connections ends it). */
async function holdParent(url = pg.url("big")): Promise<Client> {
  const c = new Client({ connectionString: url });
  await c.connect();
  c.on("error", () => undefined);
  await c.query("SET application_name = 'busy-app'");
  return c;
}

/** Starts create, waits until its CREATE DATABASE copies while the parent is closed; returns the run. */
async function createMidCopy(name: string, parentUrl = pg.url("big")): Promise<Run> {
  const parent = new URL(parentUrl).pathname.slice(1);
  const held = await holdParent(parentUrl);
  const run = floe(["branch", "create", "--from", parentUrl, "--name", name, "--terminate-connections", "--strategy", "wal_log"]);
  let exited = false;
  void run.exit.then(() => (exited = true));
  const copy = await waitFor(
    `the CREATE DATABASE of ${name} to run`,
    () => running(`CREATE DATABASE "${name}"`).then((r) => (r?.state === "active" ? r : undefined)),
    () => (exited ? `floe exited early: ${run.stderr()}` : true),
  );
  expect(copy.state).toBe("active");
  expect(await allowsConnections(parent)).toBe(false); // the parent is closed while it copies: the fault lands there
  await expect(held.query("SELECT 1")).rejects.toThrow(); // its session was terminated
  await held.end().catch(() => undefined);
  return run;
}

/**
 * After a kill -9 mid-copy the server cancels the orphaned CREATE DATABASE within its
 * client_connection_check_interval (1 s), unless the copy finished first (a fast disk): then the
 * database exists with no floe-branch mark. Waits for the statement to end and says which happened.
 */
async function orphanedCopyEnds(name: string): Promise<"cancelled" | "completed"> {
  await waitFor("the server to end the orphaned CREATE DATABASE", async () => ((await running(`CREATE DATABASE "${name}"`)) ? undefined : true));
  if (!(await exists(name))) return "cancelled";
  faults.orphanCopyCompleted++;
  return "completed";
}

/** After a repair: a cancelled copy left nothing; a completed one is listed as an interrupted branch, and delete drops it. */
async function expectOrphanRepaired(name: string, outcome: "cancelled" | "completed", serverUrl = pg.url()): Promise<void> {
  if (outcome === "completed") {
    expect((await listBranches(serverUrl)).filter((b) => b.name === name).map((b) => b.interrupted)).toEqual([true]);
    expect((await floeDone(["branch", "delete", "--server", serverUrl, name])).code).toBe(0);
  }
  expect(await exists(name)).toBe(false);
}

beforeAll(async () => {
  pg = await startPostgres({ major: 17 });
  await pg.sql("CREATE DATABASE big");
  await pg.sql("CREATE TABLE filler (id bigint PRIMARY KEY, s text)", [], "big");
  await pg.sql("INSERT INTO filler SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, $1::int) g", [PARENT_ROWS], "big");
  await pg.sql("CHECKPOINT");
});
afterAll(async () => {
  await pg?.stop();
  // Every fault this file injects, counted: each was asserted to land mid-copy (or before the mark).
  process.stderr.write(`branch-interrupt faults: ${JSON.stringify(faults)}\n`);
});

describe("an interrupted floe branch create never leaves the parent closed", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s while copying: the copy is cancelled, the parent re-opened, nothing left (exit %i)", async (sig, exitCode) => {
    const name = `br_${sig.toLowerCase()}`;
    const run = await createMidCopy(name);
    // Another floe command while the create is alive leaves its marker and the closed parent alone.
    await listBranches(pg.url());
    const during = await pg.sql(
      `SELECT datallowconn, EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE DATABASE "${name}"%') AS copying FROM pg_database WHERE datname = 'big'`,
    );
    if (during[0].copying) expect(during[0].datallowconn).toBe(false);
    expect((await markers()).length).toBe(1);
    run.child.kill(sig);
    faults[sig === "SIGTERM" ? "sigterm" : "sigint"]++;
    const { code } = await run.exit;
    expect(run.stderr()).toContain(`interrupted (${sig}) while copying`);
    expect(code).toBe(exitCode);
    expect(await allowsConnections()).toBe(true);
    const c = await pg.connect("big");
    await c.end();
    expect(await exists(name)).toBe(false);
    expect(await markers()).toEqual([]);
    expect(await running(`CREATE DATABASE "${name}"`)).toBeUndefined();
  });

  it("kill -9 while copying: the next list re-opens the parent; a re-run of create repairs and succeeds", async () => {
    const run = await createMidCopy("br_kill_list");
    run.child.kill("SIGKILL");
    faults.kill9MidCopy++;
    expect((await run.exit).signal).toBe("SIGKILL");
    // No handler ran: the parent stays closed until a floe command repairs it.
    expect(await allowsConnections()).toBe(false);
    // The server cancels the orphaned copy itself (client_connection_check_interval), or it finished first.
    const listed = await orphanedCopyEnds("br_kill_list");
    expect(await allowsConnections()).toBe(false);
    const list = await floeDone(["branch", "list", "--server", pg.url()]);
    expect(list.code).toBe(0);
    expect(list.err).toContain(`re-opened \\"big\\" to connections`);
    expect(await allowsConnections()).toBe(true);
    expect(await markers()).toEqual([]);
    await expectOrphanRepaired("br_kill_list", listed);

    // Again, and this time the repair comes from re-running create itself.
    const again = await createMidCopy("br_kill_rerun");
    again.child.kill("SIGKILL");
    faults.kill9MidCopy++;
    await again.exit;
    expect(await allowsConnections()).toBe(false);
    const rerunOutcome = await orphanedCopyEnds("br_kill_rerun");
    const createAgain = () => floeDone(["branch", "create", "--from", pg.url("big"), "--name", "br_kill_rerun", "--terminate-connections", "--json"]);
    let rerun = await createAgain();
    expect(rerun.err).toContain("re-opened");
    if (rerunOutcome === "completed") {
      // The orphan finished its copy: the re-run repairs, then refuses the taken name; delete frees it.
      expect(rerun.code).toBe(1);
      expect(rerun.err).toContain('a database named "br_kill_rerun" already exists');
      await expectOrphanRepaired("br_kill_rerun", rerunOutcome);
      rerun = await createAgain();
    }
    expect(rerun.code).toBe(0);
    expect(await allowsConnections()).toBe(true);
    expect(await markers()).toEqual([]);
    expect((await listBranches(pg.url())).map((b) => [b.name, b.interrupted ?? false])).toEqual([["br_kill_rerun", false]]);
    expect((await floeDone(["branch", "delete", "--server", pg.url(), "br_kill_rerun"])).code).toBe(0);
  });

  it("kill -9 after the copy, before the branch is marked: list re-opens the parent and shows it, delete drops it", async () => {
    // Hold writes to pg_shdescription so the create's COMMENT ON DATABASE (the floe-branch mark) waits.
    const lock = await pg.connect();
    await lock.query("BEGIN");
    await lock.query("LOCK TABLE pg_catalog.pg_shdescription IN EXCLUSIVE MODE");
    const held = await holdParent();
    const run = floe(["branch", "create", "--from", pg.url("big"), "--name", "br_half", "--terminate-connections", "--strategy", "file_copy"]);
    let exited = false;
    void run.exit.then(() => (exited = true));
    const comment = await waitFor(
      "the branch's COMMENT to wait on the lock",
      () => running('COMMENT ON DATABASE "br_half"').then((r) => (r?.wait_event_type === "Lock" ? r : undefined)),
      () => (exited ? `floe exited early: ${run.stderr()}` : true),
    );
    expect(comment.wait_event_type).toBe("Lock");
    expect(await exists("br_half")).toBe(true);
    expect(await allowsConnections()).toBe(false);
    run.child.kill("SIGKILL");
    faults.kill9BeforeMark++;
    await run.exit;
    await held.end().catch(() => undefined);
    // The orphaned session ends on its own (client gone) while still waiting: the mark never lands.
    await waitFor("the server to end the orphaned COMMENT", async () => ((await running('COMMENT ON DATABASE "br_half"')) ? undefined : true));
    await lock.query("ROLLBACK");
    await lock.end();
    expect(await allowsConnections()).toBe(false);
    const before = await pg.sql("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'br_half'");
    expect(before).toEqual([{ c: null }]); // half-made: a database with no floe-branch mark

    const list = await floeDone(["branch", "list", "--server", pg.url(), "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out)).toEqual([expect.objectContaining({ name: "br_half", parent: "big", interrupted: true })]);
    expect(await allowsConnections()).toBe(true);
    expect(await markers()).toEqual([]);
    const del = await floeDone(["branch", "delete", "--server", pg.url(), "br_half"]);
    expect(del.code).toBe(0);
    expect(del.out).toContain("deleted branch br_half");
    expect(await exists("br_half")).toBe(false);
  });

  it("SIGTERM during floe schema check: the running migration is cancelled and the branch deleted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "floe-check-int-"));
    try {
      const file = join(dir, "001_slow.sql");
      writeFileSync(file, "SELECT pg_sleep(600);\n");
      const run = floe(["schema", "check", "--against", pg.url("big"), "--terminate-connections", file]);
      let exited = false;
      void run.exit.then(() => (exited = true));
      const [applying] = await waitFor(
        "the migration to run on the branch",
        async () => {
          const r = await pg.sql("SELECT datname FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%' AND state = 'active'");
          return r.length ? r : undefined;
        },
        () => (exited ? `floe exited early: ${run.stderr()}` : true),
      );
      expect(String(applying.datname)).toMatch(/^big_br_/);
      run.child.kill("SIGTERM");
      faults.sigtermDuringCheck++;
      const { code } = await run.exit;
      expect(run.stderr()).toContain("interrupted (SIGTERM) while checking");
      expect(code).toBe(143);
      expect(await exists(applying.datname)).toBe(false);
      expect(await allowsConnections()).toBe(true);
      expect(await markers()).toEqual([]);
      expect(await pg.sql("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%'")).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a parent owner that is not superuser: the marker is a comment line, and the parent's own comment comes back", async () => {
    await pg.sql("CREATE ROLE app_owner LOGIN CREATEDB");
    await pg.sql("CREATE DATABASE owned TEMPLATE big OWNER app_owner STRATEGY FILE_COPY");
    await pg.sql("COMMENT ON DATABASE owned IS 'orders, owned by the app team'");
    const parentUrl = as("app_owner", "owned");

    const term = await createMidCopy("own_br_term", parentUrl);
    expect(await comment("owned")).toMatch(/^orders, owned by the app team\nfloe-branch-pending \{"branch":"own_br_term"/);
    term.child.kill("SIGTERM");
    faults.ownerSigterm++;
    expect((await term.exit).code).toBe(143);
    expect(term.stderr()).toContain("interrupted (SIGTERM) while copying");
    expect(await allowsConnections("owned")).toBe(true);
    expect(await comment("owned")).toBe("orders, owned by the app team");

    const killed = await createMidCopy("own_br_kill", parentUrl);
    killed.child.kill("SIGKILL");
    faults.ownerKill9++;
    await killed.exit;
    const ownOutcome = await orphanedCopyEnds("own_br_kill");
    expect(await allowsConnections("owned")).toBe(false);
    expect(await markers()).toHaveLength(1);
    const list = await floeDone(["branch", "list", "--server", as("app_owner", "postgres")]);
    expect(list.code).toBe(0);
    expect(list.err).toContain(`re-opened \\"owned\\" to connections`);
    expect(await allowsConnections("owned")).toBe(true);
    expect(await comment("owned")).toBe("orders, owned by the app team");
    expect(await markers()).toEqual([]);
    await expectOrphanRepaired("own_br_kill", ownOutcome, as("app_owner", "postgres"));
  });

  it("repair marks only a database made after the marker, and re-opens only a parent that was open", async () => {
    // A marker left by a create whose session is gone (pid 1 with another start time), naming a
    // database that existed before the marker: it is not a branch, so it stays unmarked.
    await pg.sql("CREATE DATABASE not_a_branch");
    await pg.sql("CREATE DATABASE closed_on_purpose ALLOW_CONNECTIONS false");
    const [{ xid }] = await pg.sql("SELECT txid_current()::text AS xid");
    const marker = (branch: string, parent: string, allow: boolean) =>
      JSON.stringify({
        branch,
        parent,
        allowConnections: allow,
        closes: true,
        pid: 1,
        backendStart: "2000-01-01T00:00:00Z",
        xid,
        started: "2000-01-01T00:00:00Z",
      });
    await pg.sql(`ALTER DATABASE big SET "floe.branch_test1" = '${marker("not_a_branch", "big", true)}'`);
    await pg.sql(`ALTER DATABASE closed_on_purpose SET "floe.branch_test2" = '${marker("nothing", "closed_on_purpose", false)}'`);
    await pg.sql("ALTER DATABASE big ALLOW_CONNECTIONS false");
    expect(await listBranches(pg.url())).toEqual([]);
    expect(await allowsConnections("big")).toBe(true);
    expect(await allowsConnections("closed_on_purpose")).toBe(false);
    expect(await markers()).toEqual([]);
    expect(await pg.sql("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'not_a_branch'")).toEqual([{ c: null }]);
    const del = await floeDone(["branch", "delete", "--server", pg.url(), "not_a_branch"]);
    expect(del.code).toBe(1);
    expect(del.err).toMatch(/not a floe branch/);
  });
});
