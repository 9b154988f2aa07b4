// The Pulumi-side half of the schema gate: SchemaMigration lints the migrations at preview and up
// and fails the deployment when the policy refuses one, before anything that depends on it runs.
// Build floe first (npm run build at the repo root); once the package exports it, import
// { SchemaMigration } from "floe" instead.
import * as path from "node:path";
import { SchemaMigration } from "../../dist/components/schema/schema-migration";

const migrations = new SchemaMigration("app-migrations", {
  files: [path.join(__dirname, "migrations")],
  policyFile: path.join(__dirname, "floe-policy.json"),
});

// Wire this into whatever applies the migrations (a Job, a deploy step) so it changes with them.
export const migrationsChecksum = migrations.checksum;
export const lintReport = migrations.report;
