// Tiers: unit (mocks, seconds), integration (real Postgres, pgbouncer, chdb), e2e (pulumi up), engines (independent readers).
const transform = { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.jest.json", diagnostics: false }] };
const common = { preset: undefined, testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };
module.exports = {
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
