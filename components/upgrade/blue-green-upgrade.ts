/**
 * BlueGreenUpgrade: a zero-downtime major-version upgrade of an existing floe Postgres cluster.
 * It declares green (the new major) and a one-shot run of the orchestrator (`floe upgrade run`)
 * from the runtime image; the orchestrator does the work at run time (docs/upgrade.md):
 * schema copy, logical replication, a budgeted pause behind pgBouncer, reverse replication.
 *
 * - kubernetes: a green CloudNativePG `Cluster` at the new major (logical WAL, slots for the
 *   forward and reverse subscriptions), and a `Job` running the orchestrator. The Job's state file
 *   lives on a PersistentVolumeClaim, so a retried pod resumes (and never leaves the pooler paused).
 *   The orchestrator repoints pgBouncer by rewriting its pgbouncer.ini and RELOAD: the Job mounts
 *   the claim that holds that file (`kubernetes.poolerConfigClaim`), shared with the pgBouncer
 *   Deployment. The operator-managed CNPG `Pooler` is not supported by the orchestrator yet.
 * - aws: a green Aurora PostgreSQL cluster at the new major (`rds.logical_replication=1`, TLS
 *   forced, encrypted) and an ECS Fargate task definition running the orchestrator; start it with
 *   the `runTaskCommand` output. RDS Proxy has no PAUSE: the cutover needs pgBouncer (e.g. on ECS,
 *   its config on EFS, `aws.efsFileSystemId`). RDS Blue/Green Deployments do the same for RDS and
 *   Aurora without floe (switchover "typically under a minute", writes blocked meanwhile, default
 *   timeout 300 s, and no reverse replication for rollback); floe's cutover pauses writes for about
 *   a tenth of a second and keeps rollback possible. Use RDS Blue/Green when neither matters.
 * - local: a green `LocalPostgresServer` at the new major next to blue and a `LocalUpgrade` that
 *   runs the orchestrator in-process during `pulumi up` against the local pgBouncer (its
 *   pgbouncer.ini and admin console). `LocalPlatform` / `DataPlatform` build the same pieces from
 *   their `upgrade` setting; this is for a local stack composed by hand.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import { Validator } from "../errors";
import { deepMerge, labels, password, pgUrl } from "../util";
import { LocalPostgresServer } from "../local/postgresServer";
import { LocalUpgrade } from "../local/upgrade";

/** The runtime image with the `floe` CLI. */
export const DEFAULT_UPGRADE_IMAGE = "ghcr.io/floe-data/floe:0.1.0";
const SUPPORTED_MAJORS = [14, 15, 16, 17, 18];
const AURORA_ENGINE: Record<number, string> = { 14: "14.15", 15: "15.10", 16: "16.6", 17: "17.4" };

export interface BlueGreenUpgradeKubernetesArgs {
  /** Namespace of blue, green and the Job. Defaults to "floe". */
  namespace?: string;
  /** Green instances (primary + replicas). Defaults to 2. */
  instances?: number;
  /** Green's Postgres image. Defaults to ghcr.io/cloudnative-pg/postgresql:<toVersion>. */
  imageName?: string;
  /** Green's volume size. Defaults to "20Gi". */
  storageSize?: string;
  /** Storage class of green's volumes and of the state claim. Defaults to the cluster default. */
  storageClass?: string;
  /** PersistentVolumeClaim (ReadWriteMany) holding the pgbouncer.ini the pooler reads. Required. */
  poolerConfigClaim: pulumi.Input<string>;
  /** Path of pgbouncer.ini inside that claim. Defaults to "pgbouncer.ini". */
  poolerConfigPath?: string;
  /** Escape hatch merged last into green's `Cluster` spec. Defaults to none. */
  spec?: Record<string, unknown>;
}

export interface BlueGreenUpgradeAwsArgs {
  /** VPC of blue. Required. */
  vpcId: pulumi.Input<string>;
  /** Private subnets (two AZs or more) for green and the orchestrator task. Required. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Security groups given to green and the task; they must reach blue, green and pgBouncer. Required. */
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** ECS cluster to run the task in. Defaults to a new cluster. */
  ecsClusterArn?: pulumi.Input<string>;
  /** Green's instance class. Defaults to "db.r6g.large". */
  instanceClass?: pulumi.Input<string>;
  /** Green's instances. Defaults to 2. */
  instances?: number;
  /** Aurora engine version of green. Defaults to the newest floe has tested for toVersion. */
  engineVersion?: pulumi.Input<string>;
  /** KMS key for green's storage. Defaults to the AWS-managed key. */
  kmsKeyId?: pulumi.Input<string>;
  /** EFS file system holding pgbouncer.ini, mounted at /pooler. Defaults to none (then poolerIniPath must be reachable otherwise). */
  efsFileSystemId?: pulumi.Input<string>;
}

export interface BlueGreenUpgradeRoleArgs {
  /** Role name, as on blue. Required. */
  username: pulumi.Input<string>;
  /** Its password, as on blue; pass a secret. Required. */
  password: pulumi.Input<string>;
  /** Whether it is the CDC writer's replication role (REPLICATION, or rds_replication on Aurora). Defaults to false. */
  replication?: boolean;
}

export interface BlueGreenUpgradeLocalArgs {
  /** Absolute directory for green's data directory (`green-<toVersion>`), the state file and the orchestrator's log. Required. */
  dataDir: string;
  /** Directory of the local pgBouncer (a LocalPgBouncer's `dir`): its pgbouncer.ini is repointed, its listen_port is the admin console's. Required. */
  poolerDir: pulumi.Input<string>;
  /** Other [databases] entries that point at blue's database; they pause and move with it. Defaults to none. */
  poolerAliases?: string[];
  /** Green's superuser, application and replication passwords: pass blue's, so clients, pgBouncer and the CDC writer keep theirs. Kept secret. Required. */
  passwords: pulumi.Input<{ admin: pulumi.Input<string>; app: pulumi.Input<string>; replication: pulumi.Input<string> }>;
  /** Application role on green (it owns `database`). Defaults to "app". */
  appUsername?: string;
  /** Replication role of the CDC writer on green. Defaults to "floe_replication". */
  replicationUsername?: string;
  /** Extra postgresql.conf settings of green. Defaults to none. */
  settings?: Record<string, string>;
}

export interface BlueGreenUpgradeArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "kubernetes". */
  target?: string;
  /** Green's major version; must be newer than blue's (the orchestrator checks). Required. */
  toVersion: number;
  /** Database to upgrade (the pgBouncer [databases] entry of the same name). Defaults to "app". */
  database?: string;
  /** Blue's superuser URL including the database, as green and the orchestrator reach it. Required; kept secret. */
  blueUrl: pulumi.Input<string>;
  /** pgBouncer admin console URL (postgres://user@host:port/pgbouncer). Required; kept secret. */
  poolerAdminUrl: pulumi.Input<string>;
  /** Hard budget (ms) for green to apply blue's final LSN while the pooler is paused. Defaults to 1000. */
  budgetMs?: number;
  /** Whether the orchestrator runs now. When false, only green is created. Defaults to true. */
  run?: boolean;
  /** Runtime image. Defaults to DEFAULT_UPGRADE_IMAGE. */
  image?: pulumi.Input<string>;
  /**
   * The CDC writer's publication and slot on blue: the orchestrator recreates them on green before
   * the pause and writes the handoff the writer follows by itself. Defaults to none (no writer).
   */
  cdc?: { publication: pulumi.Input<string>; slot: pulumi.Input<string> };
  /**
   * Login roles to create on green with blue's passwords, before the cutover: the application role
   * pgBouncer logs in with and the CDC writer's replication role (`replication: true`). Without
   * them, clients and the writer cannot log in to green after the switch. kubernetes: CNPG managed
   * roles; aws: through the postgresql provider (like DatabaseRoles on blue). Unused on local (the
   * green server has the platform's roles). Defaults to none.
   */
  roles?: BlueGreenUpgradeRoleArgs[];
  /** Local-only settings. Required when target is "local". */
  local?: BlueGreenUpgradeLocalArgs;
  /** Kubernetes-only settings. Required when target is "kubernetes". */
  kubernetes?: BlueGreenUpgradeKubernetesArgs;
  /** AWS-only settings. Required when target is "aws". */
  aws?: BlueGreenUpgradeAwsArgs;
}

export class BlueGreenUpgrade extends pulumi.ComponentResource {
  /** Green's read-write endpoint. */
  readonly greenHost: pulumi.Output<string>;
  /** Green's superuser URL (secret). */
  readonly greenUrl: pulumi.Output<string>;
  /** kubernetes: the orchestrator Job's name. */
  readonly jobName: pulumi.Output<string | undefined>;
  /** aws: the orchestrator's task definition. */
  readonly taskDefinitionArn: pulumi.Output<string | undefined>;
  /** aws: the command that starts the orchestrator task. */
  readonly runTaskCommand: pulumi.Output<string | undefined>;
  /** local: the orchestrator's state file (`floe upgrade status|rollback|cleanup --state`). */
  readonly statePath: pulumi.Output<string | undefined>;
  /** local: the port the pooler entry points at now (green once upgraded): wire your LocalPgBouncer's `databases` to it. */
  readonly poolerPort: pulumi.Output<number | undefined>;
  /** local: the complete `floe upgrade rollback` command (secret: it holds passwords). */
  readonly rollbackCommand: pulumi.Output<string | undefined>;

  constructor(name: string, args: BlueGreenUpgradeArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:BlueGreenUpgrade", name, {}, opts);
    const v = new Validator("BlueGreenUpgrade", name);
    const target = v.oneOf("target", args.target, "kubernetes", ["kubernetes", "aws", "local"]);
    if (!SUPPORTED_MAJORS.includes(args.toVersion)) v.fail("toVersion", args.toVersion, `is not one of ${SUPPORTED_MAJORS.join(", ")}`, "set toVersion to the new major version");
    const database = v.sqlIdentifier("database", args.database ?? "app");
    const budgetMs = v.int("budgetMs", args.budgetMs, 1000, 0, 600_000);
    v.dnsLabel("name", name, 40);
    const childOpts: pulumi.CustomResourceOptions = { parent: this };
    for (const other of ["local", "kubernetes", "aws"] as const) {
      if (other !== target && args[other] !== undefined) v.fail(other, "{…}", `is set but target is "${target}"`, `remove it or set target to "${other}"`);
    }
    const none = pulumi.output(undefined);
    const built =
      target === "local"
        ? this.local(name, args, v, database, budgetMs, childOpts)
        : { ...(target === "kubernetes" ? this.kubernetes(name, args, v, database, budgetMs, childOpts) : this.aws(name, args, v, database, budgetMs, childOpts)), statePath: none, poolerPort: none, rollbackCommand: none };
    this.greenHost = built.greenHost;
    this.greenUrl = built.greenUrl;
    this.jobName = built.jobName;
    this.taskDefinitionArn = built.taskDefinitionArn;
    this.runTaskCommand = built.runTaskCommand;
    this.statePath = built.statePath;
    this.poolerPort = built.poolerPort;
    this.rollbackCommand = built.rollbackCommand;
    this.registerOutputs({
      greenHost: this.greenHost,
      greenUrl: this.greenUrl,
      jobName: this.jobName,
      taskDefinitionArn: this.taskDefinitionArn,
      runTaskCommand: this.runTaskCommand,
      statePath: this.statePath,
      poolerPort: this.poolerPort,
      rollbackCommand: this.rollbackCommand,
    });
  }

  /** The orchestrator's flags for the CDC handoff. */
  private cdcFlags(args: BlueGreenUpgradeArgs): pulumi.Output<string[]> {
    if (!args.cdc) return pulumi.output([]);
    return pulumi.all([args.cdc.publication, args.cdc.slot]).apply(([p, s]) => ["--cdc-publication", p, "--cdc-slot", s]);
  }

  private local(name: string, args: BlueGreenUpgradeArgs, v: Validator, database: string, budgetMs: number, childOpts: pulumi.CustomResourceOptions) {
    const la = args.local;
    if (!la) return v.fail("local", undefined, 'is required when target is "local"', "pass local: { dataDir, poolerDir, passwords } (blue's passwords)");
    if (typeof la.dataDir !== "string" || !path.isAbsolute(la.dataDir)) v.fail("local.dataDir", la.dataDir, "must be an absolute path", 'pass e.g. path.resolve(".floe-upgrade")');
    if (args.roles !== undefined) v.fail("roles", "[…]", 'is not used on target "local": the green server has the platform\'s roles', "remove it; set local.appUsername / local.replicationUsername and local.passwords instead");
    if (args.toVersion < 17) v.fail("toVersion", args.toVersion, "is older than 17: local blue/green upgrades start from Postgres 16 (the CDC handoff needs pgoutput's origin option)", "set toVersion to 17 or newer");
    const green = new LocalPostgresServer(
      `${name}-green`,
      {
        dataDir: path.join(la.dataDir, `green-${args.toVersion}`),
        major: args.toVersion,
        database,
        appUsername: la.appUsername,
        replicationUsername: la.replicationUsername,
        publication: args.cdc ? args.cdc.publication : undefined,
        settings: la.settings,
        passwords: la.passwords,
      },
      childOpts,
    );
    const greenUrl = pulumi.secret(pulumi.interpolate`postgresql://${green.adminUsername}:${green.adminPassword}@127.0.0.1:${green.port}/${database}`);
    const none = pulumi.output(undefined);
    if (!(args.run ?? true)) {
      return { greenHost: pulumi.output("127.0.0.1"), greenUrl, jobName: none, taskDefinitionArn: none, runTaskCommand: none, statePath: none, poolerPort: none, rollbackCommand: none };
    }
    const admin = pulumi.output(args.poolerAdminUrl).apply((u) => {
      const url = new URL(u);
      return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    });
    const run = new LocalUpgrade(
      `${name}-run`,
      {
        blueUrl: args.blueUrl,
        greenUrl,
        poolerDir: la.poolerDir,
        poolerAdmin: pulumi.secret(admin),
        poolerDatabase: database,
        poolerAliases: la.poolerAliases ?? [],
        statePath: path.join(la.dataDir, `upgrade-to-${args.toVersion}.json`),
        budgetMs,
        cdc: args.cdc,
      },
      { ...childOpts, dependsOn: [green] },
    );
    return {
      greenHost: pulumi.output("127.0.0.1"),
      greenUrl,
      jobName: none,
      taskDefinitionArn: none,
      runTaskCommand: none,
      statePath: run.statePath as pulumi.Output<string | undefined>,
      poolerPort: run.poolerTarget.apply((t) => t.port as number | undefined),
      rollbackCommand: run.rollbackCommand as pulumi.Output<string | undefined>,
    };
  }

  private orchestratorEnv(args: BlueGreenUpgradeArgs, greenUrl: pulumi.Output<string>, budgetMs: number, iniPath: string, statePath: string): pulumi.Output<Record<string, string>> {
    return pulumi.secret(
      pulumi.all([pulumi.output(args.blueUrl), greenUrl, pulumi.output(args.poolerAdminUrl)]).apply(([blue, green, admin]): Record<string, string> => ({
        FLOE_UPGRADE_BLUE_URL: blue,
        FLOE_UPGRADE_GREEN_URL: green,
        FLOE_UPGRADE_POOLER_ADMIN: admin,
        FLOE_UPGRADE_POOLER_INI: iniPath,
        FLOE_UPGRADE_STATE: statePath,
        FLOE_UPGRADE_BUDGET_MS: String(budgetMs),
      })),
    );
  }

  private kubernetes(name: string, args: BlueGreenUpgradeArgs, v: Validator, database: string, budgetMs: number, childOpts: pulumi.CustomResourceOptions) {
    const ka = args.kubernetes;
    if (!ka) return v.fail("kubernetes", undefined, 'is required when target is "kubernetes"', "pass kubernetes: { poolerConfigClaim } (the claim holding pgbouncer.ini)");
    if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'remove it or set target to "aws"');
    const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
    const instances = v.int("kubernetes.instances", ka.instances, 2, 1, 9);
    const green = `${name}-green`;
    const lbl = labels("blue-green-upgrade", name);

    const pw = password(`${name}-green-superuser-password`, childOpts);
    new k8s.core.v1.Secret(
      `${name}-green-superuser`,
      { metadata: { name: `${green}-superuser`, namespace: ns, labels: lbl }, type: "kubernetes.io/basic-auth", stringData: { username: "postgres", password: pw.result } },
      childOpts,
    );
    // blue's login roles, with their passwords, managed by CNPG on green (spec.managed.roles)
    const managedRoles = (args.roles ?? []).map((r, i) => {
      const secret = new k8s.core.v1.Secret(
        `${name}-green-role-${i}`,
        { metadata: { name: `${green}-role-${i}`, namespace: ns, labels: lbl }, type: "kubernetes.io/basic-auth", stringData: { username: r.username, password: pulumi.secret(r.password) } },
        childOpts,
      );
      return pulumi.all([pulumi.output(r.username), secret.metadata.name]).apply(([username, secretName]) => ({
        name: username,
        ensure: "present",
        login: true,
        ...(r.replication ? { replication: true } : {}),
        passwordSecret: { name: secretName },
      }));
    });
    const spec = {
      ...(managedRoles.length ? { managed: { roles: pulumi.all(managedRoles) } } : {}),
      instances,
      imageName: ka.imageName ?? `ghcr.io/cloudnative-pg/postgresql:${args.toVersion}`,
      enableSuperuserAccess: true,
      superuserSecret: { name: `${green}-superuser` },
      bootstrap: { initdb: { database, owner: `${database}_owner` } },
      postgresql: {
        // forward subscription on green, reverse slot for rollback, CDC writer slots after cutover
        parameters: { wal_level: "logical", max_replication_slots: "16", max_wal_senders: "20", max_logical_replication_workers: "8", max_slot_wal_keep_size: "20GB" },
        pg_hba: ["hostssl all all all scram-sha-256"],
      },
      storage: { size: ka.storageSize ?? "20Gi", ...(ka.storageClass ? { storageClass: ka.storageClass } : {}) },
    };
    const cluster = new k8s.apiextensions.CustomResource(
      `${name}-green`,
      { apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", metadata: { name: green, namespace: ns, labels: lbl }, spec: deepMerge(spec as Record<string, unknown>, ka.spec) },
      childOpts,
    );
    const greenHost = pulumi.output(`${green}-rw.${ns}.svc.cluster.local`);
    const greenUrl = pgUrl("postgres", pw.result, greenHost, 5432, database);

    let jobName: pulumi.Output<string | undefined> = pulumi.output(undefined);
    if (args.run ?? true) {
      const iniPath = `/pooler/${ka.poolerConfigPath ?? "pgbouncer.ini"}`;
      const env = new k8s.core.v1.Secret(
        `${name}-env`,
        { metadata: { namespace: ns, labels: lbl }, stringData: this.orchestratorEnv(args, greenUrl, budgetMs, iniPath, "/state/floe-upgrade-state.json") },
        childOpts,
      );
      const state = new k8s.core.v1.PersistentVolumeClaim(
        `${name}-state`,
        { metadata: { namespace: ns, labels: lbl }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } }, ...(ka.storageClass ? { storageClassName: ka.storageClass } : {}) } },
        childOpts,
      );
      const sa = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata: { namespace: ns, labels: lbl }, automountServiceAccountToken: false }, childOpts);
      const job = new k8s.batch.v1.Job(
        `${name}-run`,
        {
          metadata: { namespace: ns, labels: lbl },
          spec: {
            // a retried pod re-reads the state file: resumes, and resumes a paused pooler first
            backoffLimit: 3,
            template: {
              metadata: { labels: lbl },
              spec: {
                restartPolicy: "Never",
                serviceAccountName: sa.metadata.name,
                automountServiceAccountToken: false,
                securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                  {
                    name: "upgrade",
                    image: args.image ?? DEFAULT_UPGRADE_IMAGE,
                    args: this.cdcFlags(args).apply((f) => ["upgrade", "run", "--budget-ms", String(budgetMs), ...f, "--json"]),
                    envFrom: [{ secretRef: { name: env.metadata.name } }],
                    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
                    volumeMounts: [
                      { name: "state", mountPath: "/state" },
                      { name: "pooler", mountPath: "/pooler" },
                    ],
                  },
                ],
                volumes: [
                  { name: "state", persistentVolumeClaim: { claimName: state.metadata.name } },
                  { name: "pooler", persistentVolumeClaim: { claimName: ka.poolerConfigClaim } },
                ],
              },
            },
          },
        },
        { ...childOpts, dependsOn: [cluster] },
      );
      jobName = job.metadata.name;
    }
    return { greenHost, greenUrl, jobName, taskDefinitionArn: pulumi.output(undefined), runTaskCommand: pulumi.output(undefined) };
  }

  private aws(name: string, args: BlueGreenUpgradeArgs, v: Validator, database: string, budgetMs: number, childOpts: pulumi.CustomResourceOptions) {
    const aa = args.aws;
    if (!aa) return v.fail("aws", undefined, 'is required when target is "aws"', "pass aws: { vpcId, subnetIds, securityGroupIds }");
    if (args.kubernetes) v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'remove it or set target to "kubernetes"');
    if (!aa.engineVersion && !AURORA_ENGINE[args.toVersion]) v.fail("toVersion", args.toVersion, "has no Aurora engine version known to floe", "set aws.engineVersion explicitly");
    const instances = v.int("aws.instances", aa.instances, 2, 1, 15);

    const subnets = new aws.rds.SubnetGroup(`${name}-green-subnets`, { subnetIds: aa.subnetIds }, childOpts);
    const params = new aws.rds.ClusterParameterGroup(
      `${name}-green-params`,
      {
        family: `aurora-postgresql${args.toVersion}`,
        description: `floe ${name}: green of a blue/green upgrade (logical replication both ways)`,
        parameters: [
          { name: "rds.logical_replication", value: "1", applyMethod: "pending-reboot" },
          { name: "max_replication_slots", value: "16", applyMethod: "pending-reboot" },
          { name: "max_wal_senders", value: "20", applyMethod: "pending-reboot" },
          { name: "rds.force_ssl", value: "1", applyMethod: "immediate" },
        ],
      },
      childOpts,
    );
    const pw = password(`${name}-green-admin-password`, childOpts);
    const cluster = new aws.rds.Cluster(
      `${name}-green`,
      {
        engine: "aurora-postgresql",
        engineVersion: aa.engineVersion ?? AURORA_ENGINE[args.toVersion],
        databaseName: database,
        masterUsername: "floe_admin",
        masterPassword: pw.result,
        dbSubnetGroupName: subnets.name,
        vpcSecurityGroupIds: aa.securityGroupIds,
        dbClusterParameterGroupName: params.name,
        storageEncrypted: true,
        ...(aa.kmsKeyId ? { kmsKeyId: aa.kmsKeyId } : {}),
        backupRetentionPeriod: 7,
        copyTagsToSnapshot: true,
        deletionProtection: true,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: `${name}-green-final`,
      },
      childOpts,
    );
    const instanceResources: aws.rds.ClusterInstance[] = [];
    for (let i = 0; i < instances; i++) {
      instanceResources.push(new aws.rds.ClusterInstance(
        `${name}-green-${i}`,
        { clusterIdentifier: cluster.id, engine: "aurora-postgresql", engineVersion: cluster.engineVersion, instanceClass: aa.instanceClass ?? "db.r6g.large", dbSubnetGroupName: subnets.name, publiclyAccessible: false },
        childOpts,
      ));
    }
    const greenHost = cluster.endpoint;
    const greenUrl = pgUrl("floe_admin", pw.result, greenHost, 5432, database);
    if (args.roles?.length) {
      // blue's login roles on green, through a postgresql provider on green's endpoint
      const provider = new postgresql.Provider(
        `${name}-green-postgresql`,
        { host: greenHost, port: 5432, database, username: "floe_admin", password: pw.result, sslmode: "require", superuser: false },
        { parent: this, dependsOn: instanceResources },
      );
      args.roles.forEach((r, i) => {
        new postgresql.Role(
          `${name}-green-role-${i}`,
          { name: r.username, login: true, password: pulumi.secret(r.password), ...(r.replication ? { roles: ["rds_replication"] } : {}) },
          { parent: this, provider },
        );
      });
    }

    let taskDefinitionArn: pulumi.Output<string | undefined> = pulumi.output(undefined);
    let runTaskCommand: pulumi.Output<string | undefined> = pulumi.output(undefined);
    if (args.run ?? true) {
      const region = aws.getRegionOutput({}, { parent: this }).name;
      const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/floe/${name}`, retentionInDays: 30 }, childOpts);
      const env = new aws.secretsmanager.Secret(`${name}-env`, { description: `floe upgrade ${name}: orchestrator settings`, recoveryWindowInDays: 7 }, childOpts);
      new aws.secretsmanager.SecretVersion(
        `${name}-env`,
        { secretId: env.id, secretString: this.orchestratorEnv(args, greenUrl, budgetMs, "/pooler/pgbouncer.ini", "/pooler/floe-upgrade-state.json").apply((e) => JSON.stringify(e)) },
        childOpts,
      );
      const assume = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }] });
      const exec = new aws.iam.Role(`${name}-execution`, { assumeRolePolicy: assume }, childOpts);
      new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: exec.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" }, childOpts);
      new aws.iam.RolePolicy(
        `${name}-execution-secret`,
        { role: exec.id, policy: env.arn.apply((arn) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [arn] }] })) },
        childOpts,
      );
      const keys = ["FLOE_UPGRADE_BLUE_URL", "FLOE_UPGRADE_GREEN_URL", "FLOE_UPGRADE_POOLER_ADMIN", "FLOE_UPGRADE_POOLER_INI", "FLOE_UPGRADE_STATE"];
      const task = new aws.ecs.TaskDefinition(
        `${name}-task`,
        {
          family: `${name}-upgrade`,
          requiresCompatibilities: ["FARGATE"],
          networkMode: "awsvpc",
          cpu: "512",
          memory: "1024",
          executionRoleArn: exec.arn,
          runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
          ...(aa.efsFileSystemId ? { volumes: [{ name: "pooler", efsVolumeConfiguration: { fileSystemId: aa.efsFileSystemId, transitEncryption: "ENABLED" } }] } : {}),
          containerDefinitions: pulumi.all([pulumi.output(args.image ?? DEFAULT_UPGRADE_IMAGE), env.arn, logs.name, region, this.cdcFlags(args)]).apply(([image, arn, group, r, cdcFlags]) =>
            JSON.stringify([
              {
                name: "upgrade",
                image,
                essential: true,
                command: ["upgrade", "run", "--budget-ms", String(budgetMs), ...cdcFlags, "--json"],
                secrets: keys.map((k) => ({ name: k, valueFrom: `${arn}:${k}::` })),
                ...(aa.efsFileSystemId ? { mountPoints: [{ sourceVolume: "pooler", containerPath: "/pooler" }] } : {}),
                logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": group, "awslogs-region": r, "awslogs-stream-prefix": "upgrade" } },
              },
            ]),
          ),
        },
        { ...childOpts, dependsOn: [cluster] },
      );
      const ecsCluster = aa.ecsClusterArn !== undefined ? pulumi.output(aa.ecsClusterArn) : new aws.ecs.Cluster(`${name}-cluster`, {}, childOpts).arn;
      taskDefinitionArn = task.arn;
      runTaskCommand = pulumi
        .all([ecsCluster, task.arn, pulumi.output(aa.subnetIds), pulumi.output(aa.securityGroupIds)])
        .apply(
          ([c, t, s, g]) =>
            `aws ecs run-task --launch-type FARGATE --cluster ${c} --task-definition ${t} --network-configuration 'awsvpcConfiguration={subnets=[${s.join(",")}],securityGroups=[${g.join(",")}],assignPublicIp=DISABLED}'`,
        );
    }
    return { greenHost, greenUrl, jobName: pulumi.output(undefined) as pulumi.Output<string | undefined>, taskDefinitionArn, runTaskCommand };
  }
}
