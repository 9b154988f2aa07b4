// The whole platform on Kubernetes. `pulumi up` in this directory (after `npm install` at the root).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { DataPlatform } from "../../components";

const config = new pulumi.Config();
const kubeconfig = config.get("kubeconfig");
const shards = config.getNumber("shards") ?? 1;
const citusImage = config.get("citusImage");

// An explicit provider: every child of the platform uses it (no ambient-context surprises).
const provider = new k8s.Provider("k8s", kubeconfig ? { kubeconfig } : {});

const platform = new DataPlatform(
  "floe",
  {
    target: "kubernetes",
    namespace: "floe",
    postgres: {
      version: 16,
      shards,
      instances: 2,
      kubernetes: { storageSize: "50Gi", ...(citusImage ? { citusImage } : {}) },
      // Pulumi manages roles through this host: run `kubectl -n floe port-forward svc/floe-postgres-rw 5432`
      // first, or point it at a LoadBalancer / bastion.
      roles: { adminHost: config.get("adminHost") ?? "127.0.0.1", publicationTables: [] },
    },
    pooler: { poolMode: "transaction", instances: 2 },
    query: { trino: true, clickhouse: true },
    cdc: { tables: [] },
  },
  { providers: { kubernetes: provider } },
);

export const poolerEndpoint = platform.poolerEndpoint;
export const connectionString = platform.connectionString; // secret
export const connectionSecret = platform.connectionSecret;
export const catalogUri = platform.catalogUri;
export const warehouseLocation = platform.warehouseLocation;
export const trinoEndpoint = platform.trinoEndpoint;
export const clickhouseEndpoint = platform.clickhouseEndpoint;
