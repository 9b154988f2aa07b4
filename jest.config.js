// Tiers: unit (mocks, seconds), integration (real Postgres, pgbouncer, chdb), e2e (pulumi up), engines (independent readers).
const transform = { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.jest.json", diagnostics: false }] };
// Jest's per-test timeout is a last resort, not the judge: on a loaded 2-core machine a correct test
// may run many times slower. Tests wait on progress (test/helpers/wait.ts) and fail, naming what
// they waited for, when nothing advanced for a while; this only ends a test that hangs outright.
const testTimeout = 30 * 60_000;
// The local platform's data (examples/local/.floe-local, while `npm run up` runs) holds Postgres's
// logical-decoding *.snap files: jest must not take them for obsolete test snapshots (and offer to delete them).
const modulePathIgnorePatterns = ["<rootDir>/examples/local/\\.floe-local/"];
const common = { preset: undefined, testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"], modulePathIgnorePatterns };
module.exports = {
  testTimeout,
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    { ...common, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/test/e2e/**/*.test.ts"] },
    // Independent readers (pyiceberg, DuckDB, Spark, polars, chdb) against Postgres; one reader process for the tier.
    {
      ...common,
      displayName: "engines",
      testMatch: ["<rootDir>/test/engines/**/*.test.ts"],
      globalSetup: "<rootDir>/test/helpers/engines-setup.ts",
      globalTeardown: "<rootDir>/test/helpers/engines-teardown.ts",
    },
  ],
};
