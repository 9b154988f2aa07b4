import { PermanentError } from "../../../runtime/core/errors";
import { CommitStateUnknownError } from "../../../runtime/iceberg/catalog";
import { NotAuthorizedError } from "../../../runtime/iceberg/rest-http";
import { classify, postgresOrigin, tagOrigin } from "../../../runtime/cdc/errors";
import { CdcStopError } from "../../../runtime/cdc/state";

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });
const source = postgresOrigin('source "s0"', 'the connectionString of source "s0"', "postgres://floe_cdc:s3cr3t-pw@db.example:5432/app?sslmode=verify-full");
const catalog = postgresOrigin("the SQL catalog", "catalog.uri", "postgres://cat:s3cr3t-pw@cat.example:5432/lake");

describe("CDC error classification", () => {
  it("permanent by SQLSTATE, naming the connection and the fix, never the password", () => {
    const cases: [Error, string, RegExp][] = [
      [
        tagOrigin(pgError("28P01", 'password authentication failed for user "floe_cdc"'), source),
        "auth",
        /source "s0": password authentication failed for user "floe_cdc" at db.example:5432: fix the password/,
      ],
      [tagOrigin(pgError("28000", 'no pg_hba.conf entry for host "10.0.0.1", user "floe_cdc", database "app", no encryption'), source), "auth", /pg_hba.conf/],
      [tagOrigin(pgError("3D000", 'database "app" does not exist'), source), "database", /database "app" does not exist at db.example:5432: create it/],
      [
        tagOrigin(pgError("3D000", 'database "lake" does not exist'), catalog),
        "catalog_database",
        /the SQL catalog's database "lake" does not exist.*CREATE DATABASE lake.*catalog\.uri/,
      ],
      [tagOrigin(pgError("42P01", 'relation "public.nope" does not exist'), source), "table", /remove it from the config's tables/],
      [tagOrigin(pgError("42704", 'publication "floe" does not exist'), source), "publication", /CREATE PUBLICATION/],
      [tagOrigin(pgError("42501", "permission denied to start WAL sender"), source), "permission", /ALTER ROLE floe_cdc REPLICATION/],
      [tagOrigin(pgError("42501", "permission denied for table orders"), source), "permission", /GRANT SELECT ON orders TO floe_cdc/],
      [
        tagOrigin(pgError("42501", "must be owner of table iceberg_tables"), catalog),
        "permission",
        /the SQL catalog: must be owner of table iceberg_tables: .*ALTER TABLE iceberg_tables OWNER TO cat/,
      ],
      [
        tagOrigin(pgError("42501", "permission denied for schema public"), catalog),
        "permission",
        /GRANT CREATE ON SCHEMA public TO cat in the catalog's database/,
      ],
      [tagOrigin(pgError("55000", "logical decoding requires wal_level >= logical"), source), "server_config", /wal_level = logical/],
      [tagOrigin(pgError("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"), source), "tls", /not signed by a CA the writer trusts.*sslrootcert/],
      [
        tagOrigin(pgError("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match certificate's altnames"), source),
        "tls",
        /does not name the host.*verify-ca/,
      ],
      [tagOrigin(new Error("The server does not support SSL connections"), source), "tls", /does not accept TLS/],
      [new NotAuthorizedError("HTTP 401", 401), "catalog_auth", /catalog\.credential/],
      [new Error("cannot write s3://b/k: AccessDenied: Access Denied"), "storage", /object storage refused/],
      [new PermanentError("warehouse", "warehouse /proc/x is not a directory"), "warehouse", /^warehouse \/proc\/x/],
    ];
    for (const [e, kind, message] of cases) {
      const c = classify(e);
      expect({ kind: c.kind, permanent: c.permanent }).toEqual({ kind, permanent: true });
      expect(c.message).toMatch(message);
      expect(c.message).not.toMatch(/s3cr3t-pw/);
    }
  });

  it("the innermost origin and code win through wrappers (cause)", () => {
    const inner = tagOrigin(pgError("42P01", 'relation "public.x" does not exist'), source);
    const c = classify(new Error("tables public.x are configured but ... failed", { cause: inner }));
    expect(c).toEqual(expect.objectContaining({ kind: "table", permanent: true }));
    expect(c.message).toMatch(/^source "s0": relation "public.x" does not exist/);
  });

  it("transient: connections refused, reset or ended, servers restarting, a held slot, an unknown commit outcome", () => {
    const cases: [Error, string][] = [
      [pgError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"), "connection"],
      [pgError("ECONNRESET", "read ECONNRESET"), "connection"],
      [new Error("Connection terminated unexpectedly"), "connection"],
      [pgError("57P01", "terminating connection due to administrator command"), "server"],
      [pgError("57P03", "the database system is starting up"), "server"],
      [pgError("53300", "sorry, too many clients already"), "server"],
      [pgError("55006", 'replication slot "floe_s0" is active for PID 42'), "slot_in_use"],
      [new CommitStateUnknownError("commit to floe.t: Connection terminated"), "catalog"],
      [pgError("ENOTDIR", "ENOTDIR: not a directory"), "storage"],
      [new TypeError("x is undefined"), "other"],
    ];
    for (const [e, kind] of cases) expect(classify(e)).toEqual(expect.objectContaining({ kind, permanent: false }));
  });

  it("a change the writer cannot follow stays its own case (exit 1)", () => {
    expect(classify(new CdcStopError("t.v: type changed"))).toEqual(expect.objectContaining({ kind: "stop" }));
  });
});
