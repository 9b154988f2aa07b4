/**
 * TLS between `floe cdc run` and Postgres, with libpq's sslmode meanings
 * (runtime/core/postgres-tls.ts), against a server with ssl=on and a certificate from a CA made
 * here with openssl (what CloudNativePG does by default). The replication role may only connect
 * over TLS (pg_hba hostnossl ... reject), and pg_stat_ssl shows the walsender's session encrypted.
 *
 * - require without a root certificate: a warning at start, then it connects and replicates;
 * - verify-full with sslrootcert = the CA (sources and the SQL catalog): connects and replicates;
 * - verify-full with no sslrootcert (the public CAs), verify-ca with another CA, verify-full
 *   through an address the certificate does not name, an unreadable sslrootcert: exit 2 with one
 *   message naming the problem and the fix, never retried.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, handOver } from "../../../runtime/local/process";
import { healthz, icebergLines, runToExit, startWriterProcess, WriterProcess } from "../../helpers/cdc-cli";
import { lines, readPostgres } from "../../helpers/compare";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { waitUntil, walProgress } from "../../helpers/wait";
import { makeCertificates as makeTestCertificates, type TestCertificates } from "../../helpers/certificates";

jest.setTimeout(240_000);

/** The test certificates, readable by the Postgres server's user (which refuses a key others may read). */
function makeCertificates(dir: string): TestCertificates {
  const certs = makeTestCertificates(dir);
  for (const f of [certs.cert, certs.key]) handOver(f);
  chmodSync(certs.key, 0o600);
  handOver(dir);
  return certs;
}

describe("floe cdc run over TLS (libpq sslmode meanings)", () => {
  let pg: TestPostgres;
  let dir: string;
  let certs: ReturnType<typeof makeCertificates>;
  const url = (host = "127.0.0.1", db = "app") => `postgres://floe_cdc:right@${host}:${pg.port}/${db}`;
  const config = (name: string, source: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
    sources: [{ name, connectionString: url(), publication: "pub_t", ...source }],
    catalog: { type: "sql", uri: pg.url(`lake_${name}`) },
    warehouse: `file://${join(dir, `warehouse-${name}`)}`,
    commit: { intervalMs: 100 },
    http: { port: 0 },
    tables: [{ source: "public.t" }],
    ...over,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "floe-cdc-tls-"));
    certs = makeCertificates(mkdtempSync(join(tmpdir(), "floe-tls-certs-")));
    pg = await startPostgres({
      major: 17,
      password: "admin-pw",
      // 127.0.0.2 reaches the same server through an address its certificate does not name.
      settings: { ssl: "on", ssl_cert_file: certs.cert, ssl_key_file: certs.key, listen_addresses: "127.0.0.1,127.0.0.2" },
    });
    // The replication role may only come in over TLS (and from 127.0.0.2 too), first match wins.
    const hba = join(pg.dataDir, "pg_hba.conf");
    const rules = [
      "hostnossl all floe_cdc 0.0.0.0/0 reject",
      "hostnossl replication floe_cdc 0.0.0.0/0 reject",
      "hostssl all floe_cdc 127.0.0.2/32 scram-sha-256",
      "hostssl replication floe_cdc 127.0.0.2/32 scram-sha-256",
    ];
    writeFileSync(hba, rules.join("\n") + "\n" + readFileSync(hba, "utf8"));
    await pg.sql("SELECT pg_reload_conf()");
    await pg.sql("CREATE DATABASE app");
    for (const n of ["require", "full", "system", "wrongca", "host", "unreadable"]) await pg.sql(`CREATE DATABASE lake_${n}`);
    await pg.sql(
      `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g;
       CREATE ROLE floe_cdc LOGIN REPLICATION PASSWORD 'right';
       GRANT SELECT ON t TO floe_cdc;
       CREATE PUBLICATION pub_t FOR TABLE t;`,
      [],
      "app",
    );
  });
  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (certs) rmSync(join(certs.ca, ".."), { recursive: true, force: true });
  });

  it("the server refuses the replication role without TLS (what makes every connect below a TLS one)", async () => {
    const r = await runToExit(config("require", { sslmode: "disable" }), dir);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(/source "require": the server refused the connection at 127\.0\.0\.1:\d+: .*no encryption/);
  });

  /** Runs a writer until Iceberg equals Postgres and /healthz says streaming over an encrypted walsender; returns its stderr. */
  const replicates = async (name: string, source: Record<string, unknown>, over: Record<string, unknown> = {}): Promise<string> => {
    const port = await freePort();
    const cfg = config(name, source, { http: { host: "127.0.0.1", port }, ...over });
    const w: WriterProcess = startWriterProcess(cfg, dir);
    // A writer that exits (a permanent error) fails the wait at once, with its message.
    const died = new Promise<never>((_, reject) =>
      w.child.once("exit", (code) => reject(new Error(`writer "${name}" exited with ${code}: ${w.stderr().slice(-2000)}`))),
    );
    died.catch(() => undefined);
    try {
      await Promise.race([
        died,
        waitUntil(`/healthz of writer "${name}" to say streaming`, async () => ((await healthz(port)).body.state === "streaming" ? true : undefined)),
      ]);
      await pg.sql(`INSERT INTO t VALUES (${1000 + name.length}, 'for ${name}') ON CONFLICT (id) DO UPDATE SET v = excluded.v`, [], "app");
      await Promise.race([
        died,
        waitUntil(
          `Iceberg (writer "${name}") to equal Postgres`,
          async () => {
            const want = lines(await readPostgres(pg.url("app"), "t"));
            const have = await icebergLines(pg.url(`lake_${name}`), cfg.warehouse, "t");
            return JSON.stringify(want) === JSON.stringify(have) ? have : undefined;
          },
          { progress: () => walProgress(pg) },
        ),
      ]);
      const ssl = await pg.sql(
        `SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'floe_cdc' AND a.backend_type = 'walsender'`,
        [],
        "app",
      );
      expect(ssl).toEqual([{ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
      return w.stderr();
    } finally {
      await w.kill();
    }
  };

  it("sslmode=require without a root certificate: warns at start, then connects encrypted", async () => {
    const stderr = await replicates("require", { sslmode: "require" });
    expect(stderr).toMatch(/source \\"require\\": sslmode=require encrypts but does not check the server's certificate/);
  });

  it("verify-full with sslrootcert = the CA, for the source and the SQL catalog: connects, no warning", async () => {
    const catalogUri = `postgres://floe_cdc:right@127.0.0.1:${pg.port}/lake_full?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`;
    await pg.sql("GRANT ALL ON SCHEMA public TO floe_cdc", [], "lake_full");
    const stderr = await replicates(
      "full",
      { connectionString: `${url()}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}` },
      { catalog: { type: "sql", uri: catalogUri } },
    );
    expect(stderr).not.toMatch(/does not check the server's certificate/);
    // the catalog's sessions were encrypted too (the role cannot come in otherwise)
    expect(stderr).not.toMatch(/writer fault/);
  });

  const refused = async (name: string, source: Record<string, unknown>, expected: RegExp) => {
    const r = await runToExit(config(name, source), dir);
    expect({ code: r.code, message: r.message }).toEqual({ code: 2, message: expect.stringMatching(expected) });
    expect(r.message.split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/writer fault, restarting/); // never retried
  };

  it("verify-full without sslrootcert (the public CAs): exit 2, naming the CA to set", async () => {
    await refused(
      "system",
      { sslmode: "verify-full" },
      /^floe cdc run: source "system": the server's certificate at 127\.0\.0\.1:\d+ is not signed by a CA the writer trusts \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\): set sslrootcert .*CloudNativePG's <cluster>-ca secret; aws: "aws-rds"/,
    );
  });

  it("verify-ca with another CA: exit 2", async () => {
    await refused(
      "wrongca",
      { sslmode: "verify-ca", sslrootcert: certs.otherCa },
      /^floe cdc run: source "wrongca": the server's certificate at 127\.0\.0\.1:\d+ is not signed by a CA the writer trusts/,
    );
  });

  it("verify-full through an address the certificate does not name: exit 2; verify-ca there connects", async () => {
    await refused(
      "host",
      { connectionString: url("127.0.0.2"), sslmode: "verify-full", sslrootcert: certs.ca },
      /^floe cdc run: source "host": the server's certificate does not name the host the writer connects to \(.*127\.0\.0\.2.*\): connect through a name the certificate lists, or use sslmode=verify-ca/,
    );
    // The same address with verify-ca: the CA is checked, not the name.
    await replicates("host", { connectionString: url("127.0.0.2"), sslmode: "verify-ca", sslrootcert: certs.ca });
  });

  it("an sslrootcert that cannot be read: exit 2 naming the file", async () => {
    const missing = join(dir, "no-such-ca.crt");
    await refused(
      "unreadable",
      { sslmode: "verify-full", sslrootcert: missing },
      new RegExp(
        `^floe cdc run: source "unreadable": sslrootcert ${missing.replace(/[.]/g, "\\.")} cannot be read \\(ENOENT\\): mount the CA certificate \\(PEM\\) there`,
      ),
    );
  });
});
