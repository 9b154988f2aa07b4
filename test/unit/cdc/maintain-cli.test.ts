/**
 * `floe maintain`: the command line (flags, policy flags, durations, what is refused and why, exit
 * codes). Runs against real tables in test/integration/cdc/maintain-cli.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDuration, parseMaintainArgs, usage } from "../../../runtime/cdc/maintain-cli";
import { main as floe } from "../../../runtime/cli";

/** Runs `floe maintain ...argv`, capturing stdout and stderr. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = jest.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await floe(["maintain", ...argv]), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe("floe maintain: command line", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "floe-maintain-cli-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = (catalog: Record<string, unknown>) => {
    const f = join(dir, `c-${Math.random()}.json`);
    writeFileSync(f, JSON.stringify({ sources: [{ name: "pg", connectionString: "postgres://u@127.0.0.1:1/app" }], catalog, warehouse: "file:///tmp/wh" }));
    return f;
  };

  it("--help prints the usage on stdout and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(usage + "\n");
    for (const flag of ["--run", "--orphans", "--every", "--json", "--keep-snapshots", "--max-snapshot-age", "--orphan-min-age", "Exit codes"])
      expect(usage).toContain(flag);
  });

  it("floe --help lists the command", async () => {
    let out = "";
    const o = jest.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    try {
      expect(await floe(["--help"])).toBe(0);
    } finally {
      o.mockRestore();
    }
    expect(out).toMatch(/\n {2}maintain +show or run Iceberg table maintenance/);
  });

  it("bad usage exits 2 naming the flag and the value", async () => {
    const cases: [string[], RegExp][] = [
      [[], /--config FILE is required/],
      [["--config", "x", "--bogus"], /Unknown option '--bogus'/],
      [["--config", "x", "--every", "10s"], /--every needs --run/],
      [["--config", "x", "--run", "--every", "soon"], /--every takes a duration such as .* \(got "soon"\)/],
      [["--config", "x", "--orphans"], /--orphans needs --run/],
      [["--config", "x", "--run", "--orphans", "--orphan-min-age", "10m"], /--orphan-min-age must be at least 1h \(got "10m"\): .*commit in flight/],
      [["--config", "x", "--run", "--orphan-min-age", "2h"], /--orphan-min-age needs --orphans/],
      [["--config", "x", "--keep-snapshots", "0"], /--keep-snapshots is 0: it must be a number >= 1/],
      [["--config", "x", "--keep-snapshots", "2.5"], /--keep-snapshots takes a whole number \(got "2.5"\)/],
      [["--config", "x", "--delete-ratio", "1.5"], /--delete-ratio is 1.5: it must be in \(0, 1\]/],
      [["--config", "x", "--max-manifests", "many"], /--max-manifests takes a number \(got "many"\)/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect({ argv, code: r.code, out: r.out }).toEqual({ argv, code: 2, out: "" });
      expect(r.err).toMatch(message);
    }
  });

  it("a config that does not parse exits 2 with the config's error", async () => {
    const r = await run(["--config", join(dir, "missing.json")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^floe maintain: .*missing\.json/);
  });

  it("--run against S3 Tables is refused (exit 2): it maintains its tables itself", async () => {
    const f = config({ type: "rest", uri: "https://s3tables.us-east-1.amazonaws.com/iceberg", sigv4: { region: "us-east-1", service: "s3tables" } });
    const r = await run(["--config", f, "--run"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/S3 Tables, which compacts, expires snapshots and removes unreferenced files itself/);
  });

  it("policy flags become the policy overrides; durations take units", () => {
    const o = parseMaintainArgs([
      "--config",
      "c.json",
      "--table",
      "a",
      "--table",
      "b",
      "--run",
      "--orphans",
      "--every",
      "15m",
      "--keep-snapshots",
      "5",
      "--max-snapshot-age",
      "12h",
      "--orphan-min-age",
      "2d",
      "--delete-ratio",
      "0.25",
      "--max-manifests",
      "3",
      "--min-input-files",
      "2",
      "--target-file-bytes",
      "1048576",
      "--json",
    ]);
    expect(o).toEqual({
      config: "c.json",
      tables: ["a", "b"],
      run: true,
      orphans: true,
      everyMs: 15 * 60_000,
      json: true,
      policy: {
        keepSnapshots: 5,
        maxSnapshotAgeMs: 12 * 3_600_000,
        orphanMinAgeMs: 2 * 86_400_000,
        deleteRatio: 0.25,
        maxManifests: 3,
        minInputFiles: 2,
        targetFileBytes: 1 << 20,
      },
    });
    expect(parseMaintainArgs(["--config", "c.json"])).toEqual({
      config: "c.json",
      tables: [],
      run: false,
      orphans: false,
      everyMs: undefined,
      json: false,
      policy: {},
    });
    expect([
      parseDuration("--x", "1500"),
      parseDuration("--x", "90s"),
      parseDuration("--x", "1.5h"),
      parseDuration("--x", "7d"),
      parseDuration("--x", "250ms"),
    ]).toEqual([1500, 90_000, 5_400_000, 604_800_000, 250]);
  });
});
