/**
 * DataPlatform on kubernetes: a namespace, MinIO (or your S3 endpoint), CloudNativePG with the
 * catalog's database, a CNPG Pooler or a pgBouncer Deployment, Lakekeeper (or your catalog), Trino
 * and ClickHouse, the CDC writer, the application connection Secret, and with `upgrade` a
 * BlueGreenUpgrade driving the pgBouncer Deployment.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import { labels, pgUrl } from "../util";
import type { DataPlatformArgs } from "./args";
import { cdcCommon, checkCloudArgs, cloudUpgradeArgs, type CatalogView } from "./common";
import type { PlatformBuild, PlatformPieces } from "./pieces";
import { platformNetworkPolicies } from "./networkPolicies";
import { platformTls } from "./tls";
import { DEFAULT_TOKEN_AUDIENCE } from "../catalog/kubernetes";

/** The port of an endpoint URL (its scheme's default when it names none). */
function urlPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}

export function wireKubernetes(ctx: BuildContext<DataPlatformArgs>, make: PlatformPieces): PlatformBuild {
  const { name, args, v, parent } = ctx;
  checkCloudArgs(v, "kubernetes", args);
  if (args.upgrade && args.pooler?.implementation !== "pgbouncer") {
    v.fail(
      "pooler.implementation",
      args.pooler?.implementation,
      'is not "pgbouncer": the cutover PAUSEs pgBouncer and rewrites its pgbouncer.ini, which the CNPG Pooler does not expose',
      'set pooler.implementation: "pgbouncer" (a pgBouncer Deployment with its config on a ReadWriteMany claim) before adding upgrade',
    );
  }
  const pgArgs = args.postgres ?? {};
  const ro = pgArgs.roles ?? {};
  const q = args.query ?? {};
  const cat = args.catalog ?? {};
  const byoCatalog = cat.existingUri !== undefined;
  const ns = v.dnsLabel("namespace", args.namespace ?? "floe");
  const netpol = args.networkPolicies?.enabled ?? true;
  const nsRes =
    (args.createNamespace ?? true)
      ? new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: ns, labels: labels("platform", name) } }, { parent })
      : undefined;
  const ko = { dependsOn: nsRes ? [nsRes] : [] };
  // TLS between the pieces: the issuer of MinIO's and Lakekeeper's certificates and the CA their clients trust
  const tls = platformTls(make.name, ns, args.tls, v, { parent, ...ko });
  const tlsArgs = tls && { issuerName: tls.issuerName, issuerKind: tls.issuerKind, caSecretName: tls.caSecretName };
  const tlsOpts = { dependsOn: [...ko.dependsOn, ...(tls?.dependsOn ?? [])] };
  const byoStorage = args.storage?.kubernetes?.existingEndpoint !== undefined;

  const storage = make.storage(
    { ...args.storage, kubernetes: { ...(byoStorage ? {} : { tls: tlsArgs }), ...args.storage?.kubernetes, namespace: ns } },
    tlsOpts,
  );
  /** floe's MinIO serves TLS: its CA Secret, for its clients. */
  const storageTls = byoStorage ? undefined : (args.storage?.kubernetes?.tls ?? tlsArgs);
  const storageCa = storageTls?.caSecretName;
  const postgres = make.postgres(
    {
      ...pgArgs,
      roles: { ...ro, extraDatabases: [...(ro.extraDatabases ?? []), ...(byoCatalog ? [] : ["lakekeeper"])] },
      kubernetes: {
        ...pgArgs.kubernetes,
        namespace: ns,
        backup: pgArgs.kubernetes?.backup ?? {
          destinationPath: pulumi.interpolate`s3://${storage.bucket}/backups`,
          endpointUrl: storage.endpoint as pulumi.Output<string>,
          credentialsSecretName: storage.credentialsSecretName as pulumi.Output<string>,
          ...(storageCa !== undefined ? { endpointCaSecretName: storageCa } : {}),
        },
      },
    },
    ko,
  );
  const roles = postgres.roles!;
  const { implementation, configStorageClass, ...p } = args.pooler ?? {};
  const pooler = make.pooler(
    {
      ...p,
      kubernetes: {
        namespace: ns,
        implementation,
        configStorageClass,
        clusterName: postgres.clusterName as pulumi.Output<string>,
        ...(implementation === "pgbouncer"
          ? { host: postgres.host, database: pgArgs.database ?? "app", users: [{ username: roles.appUsername, password: roles.appPassword }] }
          : {}),
      },
    },
    ko,
  );
  let cv: CatalogView;
  let catalog;
  if (byoCatalog) {
    cv = { uri: pulumi.output(cat.existingUri!), warehouse: pulumi.output(cat.existingWarehouse!), sigv4Service: cat.existingSigv4Service };
  } else {
    const lk = roles.extraDatabases.apply((d) => d["lakekeeper"]);
    catalog = make.catalog(
      {
        warehouse: cat.warehouse,
        namespace: cat.namespace,
        storage: {
          bucket: storage.bucket,
          endpoint: storage.endpoint as pulumi.Output<string>,
          region: storage.region,
          credentialsSecretName: storage.credentialsSecretName as pulumi.Output<string>,
        },
        kubernetes: {
          namespace: ns,
          replicas: cat.replicas,
          helmValues: cat.helmValues,
          tls: tlsArgs,
          // SSL_CERT_FILE replaces Lakekeeper's public CAs: only for floe's MinIO, whose CA is the one it needs
          trustedCaSecretName: storageCa,
          authentication: cat.authentication,
          tokenAudience: cat.tokenAudience,
          openIdProviderUri: cat.openIdProviderUri,
          openIdAudience: cat.openIdAudience,
          database: {
            host: postgres.host,
            port: postgres.port,
            database: "lakekeeper",
            username: lk.apply((x) => x.username),
            password: pulumi.secret(lk.apply((x) => x.password)),
            // verify-full against the CA that signs the cluster's certificate (the coordinator's, when sharded)
            caSecretName: pulumi.all([postgres.clusterName, pgArgs.kubernetes?.serverCASecret]).apply(([c, own]) => own ?? `${c}-ca`),
          },
        },
      },
      tlsOpts,
    );
    cv = { uri: catalog.uri, warehouse: catalog.warehouse };
  }
  // what the clients of floe's catalog and MinIO are given: the token audience, the CAs
  // (plain values: whether a client mounts a token or a CA is decided at construction)
  const catalogAudience = catalog && (cat.authentication ?? "kubernetes") === "kubernetes" ? (cat.tokenAudience ?? DEFAULT_TOKEN_AUDIENCE) : undefined;
  const catalogCa = catalog && tlsArgs ? tlsArgs.caSecretName : undefined;
  const engineCa = catalogCa ?? storageCa;
  const query = make.query(
    {
      trino: q.trino,
      clickhouse: q.clickhouse,
      athena: q.athena,
      catalog: { uri: cv.uri, warehouse: cv.warehouse, name: "floe", tokenAudience: catalogAudience },
      storage: {
        bucket: storage.bucket,
        endpoint: storage.endpoint as pulumi.Output<string>,
        region: storage.region,
        credentialsSecretName: storage.credentialsSecretName as pulumi.Output<string>,
        accessKeyId: storage.accessKeyId as pulumi.Output<string>,
        secretAccessKey: storage.secretAccessKey as pulumi.Output<string>,
      },
      kubernetes: { ...(engineCa ? { trustedCaSecretName: engineCa } : {}), ...q.kubernetes, namespace: ns },
      aws: q.aws,
    },
    ko,
  );
  const cdc = make.cdc(
    {
      ...cdcCommon(postgres, storage, pgArgs.shards ?? 1, args.cdc ?? {}, ro.publication ?? "floe"),
      storage: {
        endpoint: storage.endpoint as pulumi.Output<string>,
        region: storage.region,
        forcePathStyle: true,
        accessKeyId: storage.accessKeyId as pulumi.Output<string>,
        secretAccessKey: storage.secretAccessKey as pulumi.Output<string>,
        caSecretName: storageCa,
      },
      catalog: { uri: cv.uri, warehouse: cv.warehouse, sigv4Service: cv.sigv4Service, caSecretName: catalogCa, tokenAudience: catalogAudience },
      kubernetes: { namespace: ns, networkPolicy: !netpol },
    },
    ko,
  );
  if (netpol) {
    const np = args.networkPolicies ?? {};
    const installOperator = pgArgs.kubernetes?.installOperator ?? true;
    for (const c of np.apiServerCidrs ?? [])
      if (!/^[0-9a-f.:]+\/\d+$/i.test(c))
        v.fail("networkPolicies.apiServerCidrs", c, "is not a CIDR", 'write it as an address and a prefix length, e.g. "172.20.0.10/32"');
    for (const n of np.clientNamespaces ?? []) v.dnsLabel("networkPolicies.clientNamespaces", n);
    platformNetworkPolicies(
      name,
      {
        namespace: ns,
        ownedNamespaces: [...(nsRes ? [ns] : []), ...(installOperator ? ["cnpg-system"] : [])],
        operatorNamespace: installOperator ? "cnpg-system" : undefined,
        storageRelease: byoStorage ? undefined : `${make.name}-storage-minio`,
        externalStoragePort: byoStorage ? pulumi.output(args.storage!.kubernetes!.existingEndpoint!).apply(urlPort) : undefined,
        catalogRelease: byoCatalog ? undefined : `${make.name}-catalog-lakekeeper`,
        catalogBootstrap: byoCatalog ? undefined : `${make.name}-catalog`,
        catalogTls: !byoCatalog && tlsArgs !== undefined,
        catalogTokenReview: !byoCatalog && (cat.authentication ?? "kubernetes") === "kubernetes",
        externalCatalogPort: byoCatalog ? pulumi.output(cat.existingUri!).apply(urlPort) : undefined,
        trinoRelease: (q.trino ?? true) ? `${make.name}-query-trino` : undefined,
        clickhouseRelease: (q.clickhouse ?? true) ? `${make.name}-query-clickhouse` : undefined,
        cdcName: `${make.name}-cdc`,
        pooler: { implementation: implementation ?? "cnpg", name: `${make.name}-pooler` },
        citusJob: (pgArgs.shards ?? 1) > 1 ? `${make.name}-postgres` : undefined,
        upgradeJob: args.upgrade && (args.upgrade.run ?? true) ? `${make.name}-upgrade` : undefined,
        apiServerCidrs: np.apiServerCidrs ?? ["0.0.0.0/0"],
        clientNamespaces: np.clientNamespaces ?? [],
      },
      { parent, ...ko },
      { parent, dependsOn: [postgres] },
    );
  }
  const connectionString = pgUrl(roles.appUsername, roles.appPassword, pooler.host, pooler.port, postgres.database);
  const secret = new k8s.core.v1.Secret(
    `${name}-app-connection`,
    {
      metadata: { name: `${name}-app-connection`, namespace: ns, labels: labels("platform", name) },
      stringData: {
        uri: connectionString,
        host: pooler.host,
        port: pooler.port.apply(String),
        database: postgres.database,
        username: roles.appUsername,
        password: roles.appPassword,
      },
    },
    { parent, ...ko },
  );
  const upgrades = [];
  const up = args.upgrade;
  if (up) {
    const db = pgArgs.database ?? "app";
    upgrades.push(
      make.upgrade(
        {
          ...cloudUpgradeArgs(postgres, up, db, ro.publication ?? "floe"),
          poolerAdminUrl: pooler.adminUrl as pulumi.Output<string>,
          kubernetes: {
            namespace: args.namespace ?? "floe",
            poolerConfigClaim: pooler.configClaim as pulumi.Output<string>,
            // green's certificate from blue's CA: the writer's mounted CA verifies it after the handoff
            blueCaSecretName: postgres.sources.apply((s) => s[0].caSecretName!),
          },
        },
        { dependsOn: [cdc] },
      ),
    );
  }
  return {
    postgres,
    pooler,
    storage,
    catalog,
    query,
    cdc,
    upgrades,
    poolerEndpoint: pulumi.interpolate`${pooler.host}:${pooler.port}`,
    connectionString,
    connectionSecret: secret.metadata.name,
    catalogUri: cv.uri,
    warehouse: cv.warehouse,
    warehouseLocation: storage.warehouseLocation,
    upgradeStatePaths: pulumi.output(up ? ["/state/floe-upgrade-state.json"] : []),
  };
}
