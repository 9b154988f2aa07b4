// floe's local target: `npm run up` from the repo root runs `pulumi up` of this program.
// The program imports the compiled components (npm run build) so that Pulumi's dynamic providers
// can find the compiled runtime they drive.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalPlatform } from "../../dist/components";

const config = new pulumi.Config();
const stack = pulumi.getStack();

const platform = new LocalPlatform("floe", {
  // Everything on disk lives here; `pulumi destroy` removes it.
  dataDir: path.resolve(config.get("dataDir") ?? path.join(__dirname, `.floe-${stack}`)),
  postgres: {
    version: config.getNumber("postgresVersion") ?? 16,
    shards: config.getNumber("shards") ?? 1,
    port: config.getNumber("postgresPort"),
  },
  pooler: { port: config.getNumber("poolerPort"), poolMode: config.get("poolMode") },
  // An Iceberg REST catalog server over the same tables (needs a JDK 17+ and Maven), for engines
  // to attach as in production: `pulumi config set restCatalog true`. The writer then commits through it.
  catalog: { rest: config.getBoolean("restCatalog") ?? false, port: config.getNumber("restCatalogPort") },
  cdc: {
    // e.g. `pulumi config set --path 'tables[0]' public.orders`; empty = every table.
    tables: (config.getObject<string[]>("tables") ?? []).map((source) => ({ source })),
    commitIntervalMs: config.getNumber("commitIntervalMs") ?? 500,
  },
  // A zero-downtime major upgrade: `pulumi config set upgradeTo 17` (postgresVersion stays 16).
  // Once green serves: `pulumi config set retireBlue true` stops and removes blue (no rollback after that).
  upgrade: config.getNumber("upgradeTo")
    ? { toVersion: config.requireNumber("upgradeTo"), budgetMs: config.getNumber("upgradeBudgetMs"), retireBlue: config.getBoolean("retireBlue") }
    : undefined,
});

export const poolerEndpoint = platform.poolerEndpoint;
export const connectionString = platform.connectionString;
export const adminConnectionString = platform.adminConnectionString;
export const catalogUri = platform.catalogUri;
export const restCatalogUri = platform.restCatalogUri;
export const restCatalogCredential = platform.restCatalogCredential;
export const warehouseLocation = platform.warehouseLocation;
export const namespace = platform.namespace;
export const cdcHealthUrl = platform.cdcHealthUrl;
export const cdcLog = platform.cdc.logFile;
export const dataDir = platform.root.path;
export const upgradeStatePaths = platform.upgradeStatePaths;
export const upgradeRollbackCommands = platform.upgradeRollbackCommands;
