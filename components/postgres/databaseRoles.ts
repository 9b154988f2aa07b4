import * as pulumi from "@pulumi/pulumi";
import * as postgresql from "@pulumi/postgresql";
import { Validator } from "../errors";
import { password } from "../util";

export interface DatabaseRolesArgs {
  /** Host the roles are managed through: the primary (or the Citus coordinator). Required. */
  host: pulumi.Input<string>;
  /** Port of `host`. Defaults to 5432. */
  port?: pulumi.Input<number>;
  /** Database that holds the application's tables and the publication. Required. */
  database: pulumi.Input<string>;
  /** Administrative user the provider connects as. Required. */
  adminUsername: pulumi.Input<string>;
  /** Password of `adminUsername`; pass a secret. Required. */
  adminPassword: pulumi.Input<string>;
  /** libpq sslmode for the admin connection. Defaults to "require". */
  sslmode?: pulumi.Input<string>;
  /** Name of the application role (login, owns nothing, gets CONNECT). Defaults to "app". */
  appUsername?: string;
  /** Name of the CDC writer's replication role. Defaults to "floe_replication". */
  replicationUsername?: string;
  /** Publication the CDC writer reads. Defaults to "floe". */
  publication?: string;
  /** Tables in the publication as "schema.table". Defaults to every table (FOR ALL TABLES). */
  publicationTables?: string[];
  /**
   * On Aurora / RDS the REPLICATION attribute cannot be granted: membership in `rds_replication`
   * is used instead. Defaults to false (the REPLICATION attribute).
   */
  rdsReplication?: boolean;
  /** Extra databases, each owned by a dedicated login role of the same name (e.g. "lakekeeper" for the catalog). Defaults to none. */
  extraDatabases?: string[];
}

/**
 * Roles and objects inside Postgres, through @pulumi/postgresql with a provider built from the
 * cluster's outputs: an application role, a least-privilege replication role for the CDC writer
 * (REPLICATION + SELECT for the initial snapshot, nothing else) and the publication it reads.
 * Pass `providers: { postgresql: myProvider }` to manage them through your own provider instead.
 */
export class DatabaseRoles extends pulumi.ComponentResource {
  readonly appUsername: pulumi.Output<string>;
  /** Secret. */
  readonly appPassword: pulumi.Output<string>;
  readonly replicationUsername: pulumi.Output<string>;
  /** Secret. */
  readonly replicationPassword: pulumi.Output<string>;
  readonly publication: pulumi.Output<string>;
  /** Extra database name → { username, password (secret) }. */
  readonly extraDatabases: pulumi.Output<Record<string, { username: string; password: string }>>;

  constructor(name: string, args: DatabaseRolesArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:DatabaseRoles", name, {}, opts);
    const v = new Validator("DatabaseRoles", name);
    const appUser = v.sqlIdentifier("appUsername", args.appUsername ?? "app");
    const replUser = v.sqlIdentifier("replicationUsername", args.replicationUsername ?? "floe_replication");
    const pub = v.sqlIdentifier("publication", args.publication ?? "floe");
    if (appUser === replUser) v.fail("replicationUsername", replUser, "is the same as appUsername", "give the replication role its own name");
    for (const t of args.publicationTables ?? []) {
      if (!/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(t))
        v.fail("publicationTables", t, 'is not "schema.table"', 'list tables as "schema.table", e.g. "public.orders"');
    }
    const extra = (args.extraDatabases ?? []).map((d) => v.sqlIdentifier("extraDatabases", d));

    const provider =
      this.getProvider("postgresql:index:Role") ??
      new postgresql.Provider(
        `${name}-provider`,
        {
          host: args.host,
          port: args.port ?? 5432,
          database: args.database,
          username: args.adminUsername,
          password: pulumi.secret(args.adminPassword),
          sslmode: args.sslmode ?? "require",
          superuser: false,
        },
        { parent: this },
      );
    const o = { parent: this, provider };

    const appPw = password(`${name}-app-password`, { parent: this });
    const app = new postgresql.Role(`${name}-app`, { name: appUser, login: true, password: appPw.result }, o);
    new postgresql.Grant(`${name}-app-connect`, { database: args.database, role: app.name, objectType: "database", privileges: ["CONNECT", "TEMPORARY"] }, o);
    // The application owns what it creates in schema public (Postgres 15+ no longer grants CREATE to PUBLIC).
    new postgresql.Grant(
      `${name}-app-schema`,
      { database: args.database, role: app.name, schema: "public", objectType: "schema", privileges: ["USAGE", "CREATE"] },
      o,
    );

    const replPw = password(`${name}-replication-password`, { parent: this });
    const repl = new postgresql.Role(
      `${name}-replication`,
      args.rdsReplication
        ? { name: replUser, login: true, password: replPw.result, roles: ["rds_replication"] }
        : { name: replUser, login: true, replication: true, password: replPw.result },
      o,
    );
    new postgresql.Grant(`${name}-replication-connect`, { database: args.database, role: repl.name, objectType: "database", privileges: ["CONNECT"] }, o);
    new postgresql.Grant(
      `${name}-replication-usage`,
      { database: args.database, role: repl.name, schema: "public", objectType: "schema", privileges: ["USAGE"] },
      o,
    );
    // SELECT only, for the snapshot consistent with the slot; no write, no DDL.
    new postgresql.Grant(
      `${name}-replication-select`,
      { database: args.database, role: repl.name, schema: "public", objectType: "table", objects: [], privileges: ["SELECT"] },
      o,
    );

    // ...and on the tables the application creates later.
    new postgresql.DefaultPrivileges(
      `${name}-replication-defaults`,
      { database: args.database, role: repl.name, owner: app.name, schema: "public", objectType: "table", privileges: ["SELECT"] },
      o,
    );

    const tables = args.publicationTables ?? [];
    const publication = new postgresql.Publication(
      `${name}-publication`,
      tables.length
        ? { name: pub, database: args.database, tables, publishParams: ["insert", "update", "delete", "truncate"] }
        : { name: pub, database: args.database, allTables: true, publishParams: ["insert", "update", "delete", "truncate"] },
      o,
    );

    const extras: Record<string, pulumi.Output<{ username: string; password: string }>> = {};
    for (const db of extra) {
      const pw = password(`${name}-${db.replace(/_/g, "-")}-password`, { parent: this });
      const role = new postgresql.Role(`${name}-${db.replace(/_/g, "-")}`, { name: db, login: true, password: pw.result }, o);
      new postgresql.Database(`${name}-${db.replace(/_/g, "-")}-db`, { name: db, owner: role.name }, o);
      extras[db] = pulumi.secret(pulumi.all([role.name, pw.result]).apply(([username, p]) => ({ username, password: p })));
    }

    this.appUsername = app.name;
    this.appPassword = pulumi.secret(appPw.result);
    this.replicationUsername = repl.name;
    this.replicationPassword = pulumi.secret(replPw.result);
    this.publication = publication.name;
    this.extraDatabases = pulumi.secret(pulumi.output(extras));
    this.registerOutputs({
      appUsername: this.appUsername,
      appPassword: this.appPassword,
      replicationUsername: this.replicationUsername,
      replicationPassword: this.replicationPassword,
      publication: this.publication,
      extraDatabases: this.extraDatabases,
    });
  }
}
