// runtime/pgbouncer: the one pgbouncer.ini renderer and parser every target uses.
import {
  databaseEntry,
  entryTarget,
  IGNORE_STARTUP_PARAMETERS,
  listenPort,
  renderIni,
  renderUserlist,
  repointDatabase,
} from "../../../runtime/pgbouncer/config";
import { localIni, localUserlist } from "../../../runtime/pgbouncer/process";

describe("local pgBouncer config", () => {
  const spec = {
    dir: "/d",
    port: 6543,
    databases: [
      { name: "app", host: "127.0.0.1", port: 5433, dbname: "app" },
      { name: "app_shard1", host: "127.0.0.1", port: 5434, dbname: "app" },
    ],
    users: [{ name: "app", password: 'p"w' }],
    adminUsers: ["postgres"],
  };

  it("listens on 127.0.0.1 only, with SCRAM and one line per database", () => {
    const ini = localIni(spec);
    expect(ini).toContain("listen_addr = 127.0.0.1\nlisten_port = 6543");
    expect(ini).toContain("auth_type = scram-sha-256");
    expect(ini).toContain("app = host=127.0.0.1 port=5433 dbname=app\napp_shard1 = host=127.0.0.1 port=5434 dbname=app");
    expect(ini).toContain("pool_mode = transaction");
    expect(ini).toContain("pidfile = /d/pgbouncer.pid");
    expect(ini).toContain("auth_file = /d/userlist.txt");
  });

  it("quotes userlist entries", () => {
    expect(localUserlist(spec)).toBe('"app" "p""w"\n');
  });
});

describe("pgbouncer.ini, one renderer for every target", () => {
  const container = renderIni({
    databases: [{ name: "app", host: "pg-rw.floe.svc", port: 5432 }],
    listenAddr: "0.0.0.0",
    listenPort: 5432,
    authFile: "/etc/pgbouncer/userlist.txt",
    adminUsers: ["floe_pooler_admin"],
    serverTlsSslmode: "require",
    parameters: { max_client_conn: "50", server_idle_timeout: "30" },
  });

  it("accepts the same startup parameters on every target", () => {
    const local = localIni({ dir: "/d", port: 1, databases: [], users: [], adminUsers: ["a"] });
    for (const ini of [container, local]) expect(ini).toContain(`ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS}`);
    expect(IGNORE_STARTUP_PARAMETERS.split(",")).toEqual(["extra_float_digits", "options", "search_path"]);
  });

  it("writes no local files for a container, and extra parameters win", () => {
    expect(container).not.toMatch(/pidfile|logfile|unix_socket_dir/);
    expect(container).toContain("server_tls_sslmode = require");
    expect(container).toContain("max_client_conn = 50");
    expect(container).not.toContain("max_client_conn = 1000");
    expect(container).toContain("server_idle_timeout = 30");
  });

  it("parses what it renders: entries, their targets, the listen port; repointing keeps the rest", () => {
    expect(databaseEntry(container, "app")).toBe("host=pg-rw.floe.svc port=5432 dbname=app");
    expect(entryTarget(container, "app")).toEqual({ host: "pg-rw.floe.svc", port: 5432, dbname: "app", user: undefined });
    expect(entryTarget(container, "nope")).toBeNull();
    expect(listenPort(container)).toBe(5432);
    expect(listenPort("[pgbouncer]\n")).toBeNull();
    const moved = repointDatabase(container, "app", { host: "green-rw.floe.svc", port: 5432, dbname: "app" });
    expect(entryTarget(moved, "app")?.host).toBe("green-rw.floe.svc");
    expect(moved.replace("green-rw", "pg-rw")).toBe(container);
  });

  it("quotes users", () => {
    expect(
      renderUserlist([
        { name: "a", password: 'x"y' },
        { name: "b", password: "z" },
      ]),
    ).toBe('"a" "x""y"\n"b" "z"\n');
  });
});
