import { main, usage } from "../../../runtime/upgrade/cli";

describe("floe upgrade CLI usage", () => {
  let stderr: jest.SpyInstance;
  beforeEach(() => (stderr = jest.spyOn(process.stderr, "write").mockImplementation(() => true)));
  afterEach(() => stderr.mockRestore());
  const printed = () => stderr.mock.calls.map((c) => String(c[0])).join("");

  it.each([
    [[], /a command is required/],
    [["upgrade-it"], /unknown command "upgrade-it"/],
    [["run"], /--green is required \(or set FLOE_UPGRADE_GREEN_URL\)/],
    [["run", "--green", "postgres://g/app"], /--blue is required/],
    [["run", "--green", "postgres://g/app", "--blue", "postgres://b/app"], /--pooler-admin is required/],
    [
      [
        "run",
        "--green",
        "postgres://g/app",
        "--blue",
        "postgres://b/app",
        "--pooler-admin",
        "postgres://p/pgbouncer",
        "--pooler-ini",
        "/x",
        "--budget-ms",
        "soon",
      ],
      /--budget-ms must be a non-negative integer, got "soon"/,
    ],
    [["run", "--bogus"], /Unknown option '--bogus'/],
  ])("%j exits 2 and says why", async (argv, why) => {
    expect(await main(argv as string[])).toBe(2);
    expect(printed()).toMatch(why as RegExp);
  });

  it("documents every command and the budget default", () => {
    for (const w of ["plan", "run", "status", "rollback", "cleanup", "--budget-ms", "Defaults to 1000", "--json"]) expect(usage).toContain(w);
  });
});
