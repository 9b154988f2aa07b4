/**
 * The schema copy runs as the superuser; the orchestrator gives green blue's owners, grants and
 * default privileges before the cutover, so applications logging in as their own roles keep
 * working on green, and tables they create there get the grants they got on blue.
 */
import { join } from "node:path";
import { Upgrade } from "../../../runtime/upgrade/orchestrator";
import { startWorld, World } from "./workload";

describe("owners and privileges across the upgrade", () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ preloadRows: 100, clients: 1 });
    for (const pg of [w.blue, w.green]) await pg.sql("CREATE ROLE app_owner LOGIN; CREATE ROLE reader LOGIN", [], "app");
    await w.blue.sql(
      `ALTER TABLE items OWNER TO app_owner; ALTER TABLE tickets OWNER TO app_owner; ALTER TYPE mood OWNER TO app_owner;
       GRANT SELECT ON counters TO reader; GRANT CREATE ON SCHEMA public TO app_owner;
       ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public GRANT SELECT ON TABLES TO reader;`,
      [],
      "app",
    );
    await w.green.sql("GRANT CREATE ON SCHEMA public TO app_owner", [], "app");
  });
  afterAll(async () => w?.stop());

  it("green has blue's owners, grants and default privileges after the cutover", async () => {
    await new Upgrade({
      blueUrl: w.blue.url("app"),
      greenUrl: w.green.url("app"),
      pooler: w.bouncer.control,
      statePath: join(w.dir, "state.json"),
      budgetMs: 5000,
    }).run();
    const owners = `SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c WHERE c.relname IN ('items', 'tickets', 'counters') ORDER BY 1`;
    expect(await w.green.sql(owners, [], "app")).toEqual(await w.blue.sql(owners, [], "app"));
    expect(await w.green.sql("SELECT pg_get_userbyid(typowner) AS owner FROM pg_type WHERE typname = 'mood'", [], "app")).toEqual([{ owner: "app_owner" }]);
    expect(await w.green.sql("SELECT has_table_privilege('reader', 'counters', 'SELECT') AS ok", [], "app")).toEqual([{ ok: true }]);
    // a table the owner creates on green after the upgrade is readable by reader, as it would be on blue
    await w.green.sql("SET ROLE app_owner; CREATE TABLE later (id int); RESET ROLE", [], "app");
    expect(await w.green.sql("SELECT has_table_privilege('reader', 'later', 'SELECT') AS ok", [], "app")).toEqual([{ ok: true }]);
  });
});
