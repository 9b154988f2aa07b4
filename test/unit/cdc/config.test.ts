import { parseCdcConfig, type CdcConfigInput } from "../../../runtime/cdc/config";
import { nearest } from "../../../runtime/core/config";

const base = (): Record<string, any> => ({
  sources: [{ name: "pg", connectionString: "postgres://u@127.0.0.1:5432/app" }],
  catalog: { type: "sql", uri: "postgres://u@127.0.0.1:5432/lake" },
  warehouse: "file:///tmp/wh",
});

/** The one problem line the config error names for `raw`. */
function problem(raw: unknown): string {
  try {
    parseCdcConfig(raw);
  } catch (e) {
    const lines = (e as Error).message.split("\n").slice(1);
    expect(lines).toHaveLength(1);
    return lines[0].trim();
  }
  throw new Error("the config parsed");
}

describe("CDC config: unknown keys are errors, never ignored", () => {
  it("a misspelt tables is refused, naming the key and the valid one (it used to replicate every table)", () => {
    const raw = { ...base(), tabels: [{ source: "public.orders" }] };
    expect(problem(raw)).toBe('tabels: unknown key "tabels"; did you mean "tables"?');
  });

  it("names the path and the nearest key at every level", () => {
    const cases: [(c: Record<string, any>) => void, string][] = [
      [(c) => (c.sources[0].slto = "x"), 'sources.0.slto: unknown key "slto"; did you mean "slot"?'],
      [(c) => (c.sources[0].publications = "x"), 'sources.0.publications: unknown key "publications"; did you mean "publication"?'],
      [(c) => (c.tables = [{ source: "public.a", mdoe: "changelog" }]), 'tables.0.mdoe: unknown key "mdoe"; did you mean "mode"?'],
      [(c) => (c.catalog.url = c.catalog.uri), 'catalog.url: unknown key "url"; did you mean "uri"?'],
      [(c) => (c.commit = { intervalMS: 100 }), 'commit.intervalMS: unknown key "intervalMS"; did you mean "intervalMs"?'],
      [(c) => (c.snapshot = { enable: false }), 'snapshot.enable: unknown key "enable"; did you mean "enabled"?'],
      [(c) => (c.http = { prot: 1 }), 'http.prot: unknown key "prot"; did you mean "port"?'],
      [(c) => (c.storage = { endpont: "http://x" }), 'storage.endpont: unknown key "endpont"; did you mean "endpoint"?'],
      [(c) => (c.namepsace = "x"), 'namepsace: unknown key "namepsace"; did you mean "namespace"?'],
    ];
    for (const [change, expected] of cases) {
      const raw = base();
      change(raw);
      expect(problem(raw)).toBe(expected);
    }
  });

  it("follows the catalog's type: a REST catalog's keys are offered for a REST catalog", () => {
    const rest = { ...base(), catalog: { type: "rest", uri: "http://127.0.0.1:8181/catalog", credentials: "a:b" } };
    expect(problem(rest)).toBe('catalog.credentials: unknown key "credentials"; did you mean "credential"?');
    const sigv4 = { ...base(), catalog: { type: "rest", uri: "http://127.0.0.1:8181/catalog", sigv4: { region: "eu-west-1", servce: "glue" } } };
    expect(problem(sigv4)).toBe('catalog.sigv4.servce: unknown key "servce"; did you mean "service"?');
  });

  it("a key like no valid one lists the valid keys", () => {
    expect(problem({ ...base(), http: { zzzzzz: 1 } })).toBe('http.zzzzzz: unknown key "zzzzzz"; valid keys here: host, port');
  });

  it("the valid config still parses, with the runtime's defaults", () => {
    const c = parseCdcConfig(base() as CdcConfigInput);
    expect(c.tables).toEqual([]);
    expect(c.sources[0].publication).toBe("floe");
  });

  it("nearest: a typo, a swap, a case difference; nothing for an unrelated word", () => {
    expect(nearest("tabels", ["sources", "tables", "catalog"])).toBe("tables");
    expect(nearest("PORT", ["host", "port"])).toBe("port");
    expect(nearest("warehuose", ["warehouse", "storage"])).toBe("warehouse");
    expect(nearest("banana", ["host", "port"])).toBeUndefined();
  });
});
