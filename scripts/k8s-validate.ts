/**
 * Strict validation of Kubernetes objects against the real schemas: the Kubernetes OpenAPI v3
 * schemas (k8s.io/kubernetes api/openapi-spec/v3) and the CRDs of the operators floe uses
 * (CloudNativePG config/crd/bases, cert-manager deploy/crds), installed by scripts/install-k8s-schemas.sh. Also renders
 * the Helm charts that installer could obtain (`helm template`) and checks the values passed to them.
 *
 * Strict means what the API server does with `fieldValidation=Strict` (kubectl's default):
 *  - a field the schema does not declare is an error (`additionalProperties: false` is added to
 *    every object schema with `properties`; on CRDs to every object schema that neither declares
 *    `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`, since the server prunes
 *    those fields and strict validation reports each pruned one);
 *  - types, `required`, `enum`, `pattern`, min/max and the int32/int64/byte/date-time formats;
 *    quantities must parse (the API machinery's quantity syntax);
 *  - an apiVersion/kind with no schema is an error (no silent pass for an unknown kind);
 *  - metadata.name is present and a DNS-1123 subdomain (a DNS-1123 label for Namespace and
 *    Service), label keys and values have the syntax the API server accepts.
 *  - the CRDs' CEL rules (`x-kubernetes-validations`, @bufbuild/cel; a rule that needs a function
 *    of Kubernetes' CEL libraries this evaluator lacks is reported, not skipped), except
 *    transition rules (oldSelf), which only run on update.
 * Not checked: the built-in types' validation written in Go beyond what the schemas say, admission
 * webhooks.
 *
 * CLI: node dist/scripts/k8s-validate.js [--kubernetes v1.37.2] FILE.yaml... (exit 1 on a problem)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { isCelError, run as runCel, type CelInput } from "@bufbuild/cel";
import * as YAML from "yaml";

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

export interface Problem {
  /** kind/namespace/name of the object, or the chart and values path. */
  object: string;
  /** JSON pointer of the offending field, e.g. /spec/template/spec/containers/0/imagePullPolicyy. */
  path: string;
  message: string;
}

export interface SchemaVersions {
  kubernetes: { version: string; dir: string; module: string }[];
  cnpg: { version: string; dir: string; module: string };
  /** cert-manager's CRDs (Issuer, Certificate, …), for TLS between the pieces. */
  certManager: { version: string; dir: string; module: string };
  charts: Record<string, { dir: string; module: string }>;
  helm: { version: string; bin: string; module: string };
  /** An independent validator (kubernetes-validate from PyPI) to compare verdicts with. */
  peer: { name: string; version: string; bin: string };
}

const QUANTITY = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";
const OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/** Schema ids (absolute, so that references between the built-in and the CRD schemas resolve). */
const K8S_ID = "https://schemas.floe.invalid/kubernetes";
const crdId = (gvk: string) => `https://schemas.floe.invalid/crd/${gvk}`;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
/** Kinds whose names must be DNS-1123 labels (the others: subdomains). */
const LABEL_NAMED = new Set(["v1/Namespace", "v1/Service"]);
/** Kinds whose names are path segments (RBAC: any name but "." and "..", without "/" or "%", e.g. "cert-manager:leaderelection"). */
const PATH_SEGMENT_NAMED = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"].map((k) => `rbac.authorization.k8s.io/v1/${k}`));

/** Runs scripts/install-k8s-schemas.sh (idempotent; builds helm the first time) and returns what it installed. */
export function installSchemas(root = path.resolve(__dirname, "..")): { dir: string; versions: SchemaVersions } {
  const script = path.join(root.endsWith(`${path.sep}dist`) ? path.dirname(root) : root, "scripts", "install-k8s-schemas.sh");
  const dir = execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
    .trim()
    .split("\n")
    .pop()!;
  return { dir, versions: JSON.parse(fs.readFileSync(path.join(dir, "versions.json"), "utf8")) as SchemaVersions };
}

type Schema = Record<string, any>;

/** A schema node made strict the way the API server treats built-in types (see the file comment). */
function strictBuiltin(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(strictBuiltin);
  if (!s || typeof s !== "object") return s;
  const out: Schema = {};
  for (const [k, v] of Object.entries(s as Schema)) {
    if (k === "description" || k === "default" || k.startsWith("x-kubernetes-")) continue;
    if (k === "$ref" && typeof v === "string") out.$ref = v.replace("#/components/schemas/", "#/definitions/");
    else if (k === "properties") out.properties = Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, strictBuiltin(ps)]));
    else out[k] = strictBuiltin(v);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** A CRD's CEL rule and where it applies ("*" stands for every list item or map value). */
interface CelRule {
  at: string[];
  rule: string;
  message?: string;
}

/** A CRD schema node made strict the way the API server prunes and validates custom resources. */
function strictCrd(s: unknown, k8sRef: string, rules: CelRule[], at: string[], root = false): unknown {
  if (Array.isArray(s)) return s.map((e) => strictCrd(e, k8sRef, rules, at));
  if (!s || typeof s !== "object") return s;
  const src = s as Schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === "description" || k === "default") continue;
    if (k === "x-kubernetes-validations") {
      for (const r of v as { rule: string; message?: string }[]) rules.push({ at, rule: r.rule, message: r.message });
      continue;
    }
    if (k.startsWith("x-kubernetes-")) continue;
    if (k === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(v as Schema).map(([p, ps]) => [
          p,
          root && p === "metadata" ? { $ref: `${k8sRef}#/definitions/${OBJECT_META}` } : strictCrd(ps, k8sRef, rules, [...at, p]),
        ]),
      );
    } else if (k === "items") out.items = strictCrd(v, k8sRef, rules, [...at, "*"]);
    else if (k === "additionalProperties" && typeof v === "object") out.additionalProperties = strictCrd(v, k8sRef, rules, [...at, "*"]);
    else out[k] = strictCrd(v, k8sRef, rules, at);
  }
  if (src["x-kubernetes-int-or-string"] && !src.anyOf && !src.type) out.anyOf = [{ type: "integer" }, { type: "string" }];
  if (src["x-kubernetes-embedded-resource"]) {
    out.properties = {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { $ref: `${k8sRef}#/definitions/${OBJECT_META}` },
      ...(out.properties ?? {}),
    };
  }
  const isObject = src.type === "object" || src.properties !== undefined;
  if (isObject && src.additionalProperties === undefined && !src["x-kubernetes-preserve-unknown-fields"]) out.additionalProperties = false;
  return out;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, allowUnionTypes: true });
  const int = (bits: number) => ({ type: "number" as const, validate: (x: number) => Number.isInteger(x) && Math.abs(x) <= 2 ** (bits - 1) });
  ajv.addFormat("int32", int(32));
  ajv.addFormat("int64", int(64));
  ajv.addFormat("double", { type: "number", validate: (x: number) => Number.isFinite(x) });
  ajv.addFormat("float", { type: "number", validate: (x: number) => Number.isFinite(x) });
  ajv.addFormat("byte", /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i);
  ajv.addFormat("int-or-string", true);
  ajv.addFormat("quantity", new RegExp(QUANTITY)); // applies to strings; a number is a valid quantity
  return ajv;
}

/** The validator for one Kubernetes version (plus the CRDs). */
export class K8sValidator {
  readonly kubernetesVersion: string;
  readonly cnpgVersion: string;
  readonly certManagerVersion: string;
  private readonly ajv: Ajv;
  private readonly byGvk = new Map<string, string>();
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly rules = new Map<string, CelRule[]>();

  constructor(dir: string, versions: SchemaVersions, kubernetesVersion: string) {
    const k = versions.kubernetes.find((x) => x.version === kubernetesVersion);
    if (!k) throw new Error(`no Kubernetes ${kubernetesVersion} schemas in ${dir} (have ${versions.kubernetes.map((x) => x.version).join(", ")})`);
    this.kubernetesVersion = kubernetesVersion;
    this.cnpgVersion = versions.cnpg.version;
    this.certManagerVersion = versions.certManager.version;
    this.ajv = newAjv();

    const defs: Schema = {};
    const kdir = path.join(dir, k.dir);
    for (const f of fs
      .readdirSync(kdir)
      .filter((x) => x.endsWith(".json"))
      .sort()) {
      const doc = JSON.parse(fs.readFileSync(path.join(kdir, f), "utf8"));
      for (const [name, s] of Object.entries<Schema>(doc.components?.schemas ?? {})) {
        if (defs[name]) continue;
        defs[name] = name === "io.k8s.apimachinery.pkg.api.resource.Quantity" ? { type: ["string", "number"], format: "quantity" } : strictBuiltin(s);
        for (const g of (s["x-kubernetes-group-version-kind"] ?? []) as { group: string; version: string; kind: string }[]) {
          const gvk = `${g.group ? `${g.group}/` : ""}${g.version}/${g.kind}`;
          if (!this.byGvk.has(gvk) && s.properties?.kind) this.byGvk.set(gvk, `${K8S_ID}#/definitions/${name}`);
        }
      }
    }
    if (!defs[OBJECT_META]) throw new Error(`${kdir} has no ${OBJECT_META}: not an OpenAPI v3 spec directory`);
    this.ajv.addSchema({ $id: K8S_ID, definitions: defs });

    for (const cdir of [versions.cnpg.dir, versions.certManager.dir].map((d) => path.join(dir, d))) this.addCrds(cdir);
  }

  /** Every served version of every CRD in a directory of CRD YAML files. */
  private addCrds(cdir: string): void {
    for (const f of fs
      .readdirSync(cdir)
      .filter((x) => x.endsWith(".yaml"))
      .sort()) {
      for (const crd of YAML.parseAllDocuments(fs.readFileSync(path.join(cdir, f), "utf8")).map((d) => d.toJS())) {
        if (crd?.kind !== "CustomResourceDefinition") continue;
        for (const v of crd.spec.versions as { name: string; served: boolean; schema?: { openAPIV3Schema: Schema } }[]) {
          if (!v.served || !v.schema) continue;
          const gvk = `${crd.spec.group}/${v.name}/${crd.spec.names.kind}`;
          const rules: CelRule[] = [];
          const schema = strictCrd(v.schema.openAPIV3Schema, K8S_ID, rules, [], true) as Schema;
          this.ajv.addSchema({ ...schema, $id: crdId(gvk) });
          this.byGvk.set(gvk, crdId(gvk));
          this.rules.set(gvk, rules);
        }
      }
    }
  }

  /** Whether a schema exists for this apiVersion and kind. */
  knows(apiVersion: string, kind: string): boolean {
    return this.byGvk.has(`${apiVersion}/${kind}`);
  }

  /** The CEL rules of a CRD kind ("path: rule"); those about an update (oldSelf) are not evaluated. */
  celRules(apiVersion: string, kind: string): string[] {
    return (this.rules.get(`${apiVersion}/${kind}`) ?? []).map((r) => `/${r.at.join("/")}: ${r.rule}`);
  }

  /** Every problem with one object; empty when it is valid. */
  validate(m: Manifest): Problem[] {
    const id = describe(m);
    if (!m || typeof m !== "object" || typeof m.apiVersion !== "string" || typeof m.kind !== "string") {
      return [{ object: id, path: "", message: "is not a Kubernetes object (apiVersion and kind must be strings)" }];
    }
    const gvk = `${m.apiVersion}/${m.kind}`;
    const ref = this.byGvk.get(gvk);
    if (!ref)
      return [
        {
          object: id,
          path: "/apiVersion",
          message: `no schema for ${gvk} in Kubernetes ${this.kubernetesVersion}, CloudNativePG ${this.cnpgVersion} or cert-manager ${this.certManagerVersion} (unknown kind, or its CRD is not one floe's schemas cover)`,
        },
      ];
    let fn = this.compiled.get(ref);
    if (!fn) {
      fn = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, fn);
    }
    const problems: Problem[] = [];
    if (!fn(m)) problems.push(...simplify(fn.errors ?? []).map((e) => ({ object: id, path: e.instancePath, message: explain(e) })));
    // CEL rules run on objects whose shape is valid (as on the server, an ill-typed field fails first)
    else for (const r of this.rules.get(gvk) ?? []) problems.push(...celProblems(m, id, r));
    problems.push(...metadataProblems(m, id, LABEL_NAMED.has(gvk) ? "label" : PATH_SEGMENT_NAMED.has(gvk) ? "path segment" : "subdomain"));
    return problems;
  }
}

/** JSON as CEL sees a custom resource: objects are maps, integers are ints. */
function toCel(x: unknown): CelInput {
  if (Array.isArray(x)) return x.map(toCel);
  if (x && typeof x === "object") return new Map(Object.entries(x).map(([k, v]) => [k, toCel(v)]));
  if (typeof x === "number" && Number.isInteger(x)) return BigInt(x);
  return x as string | number | boolean | null; // JSON scalars
}

/** Evaluates one rule with `self` bound to every value at its path (absent values are skipped, as on the server). */
function celProblems(m: Manifest, id: string, r: CelRule): Problem[] {
  if (/\boldSelf\b/.test(r.rule)) return []; // a transition rule: only on update
  const out: Problem[] = [];
  const visit = (node: unknown, rest: string[], at: string) => {
    if (node === undefined || node === null) return;
    if (!rest.length) {
      const res = runCel(r.rule, { self: toCel(node) });
      if (res === true) return;
      out.push({
        object: id,
        path: at,
        message: isCelError(res)
          ? `CEL rule could not be evaluated (${String((res as Error).message)}): ${r.rule}`
          : `${r.message ?? "failed"} (CEL: ${r.rule})`,
      });
      return;
    }
    const [head, ...tail] = rest;
    if (head !== "*") return visit((node as Record<string, unknown>)[head], tail, `${at}/${head}`);
    if (Array.isArray(node)) node.forEach((e, i) => visit(e, tail, `${at}/${i}`));
    else if (typeof node === "object") for (const [k, v] of Object.entries(node as Record<string, unknown>)) visit(v, tail, `${at}/${k}`);
  };
  visit(m, r.at, "");
  return out;
}

function describe(m: Manifest): string {
  const md = (m && typeof m === "object" && m.metadata) || {};
  return `${m?.kind ?? "?"} ${md.namespace ? `${md.namespace}/` : ""}${md.name ?? "(no name)"}`;
}

/**
 * Ajv reports the errors of every branch of a failed anyOf/oneOf and then the anyOf itself: fold
 * them into one problem at that field ("must be integer, or must match pattern …").
 */
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const unions = errors.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
  const unionOf = (e: ErrorObject) => unions.find((u) => u !== e && e.schemaPath.startsWith(`${u.schemaPath}/`));
  const out: ErrorObject[] = [];
  const seen = new Set<string>();
  const add = (e: ErrorObject) => {
    const key = `${e.instancePath}|${explain(e)}`;
    if (!seen.has(key)) out.push(e);
    seen.add(key);
  };
  for (const e of errors) {
    if (e.keyword === "if" || unionOf(e)) continue;
    if (!unions.includes(e)) {
      add(e);
      continue;
    }
    const branches = errors.filter((b) => unionOf(b) === e);
    const here = branches.filter((b) => b.instancePath === e.instancePath).map(explain);
    if (here.length) add({ ...e, message: [...new Set(here)].join(", or ") });
    else if (branches.length)
      branches.forEach(add); // every branch failed deeper inside: report those
    else add(e);
  }
  return out;
}

function explain(e: ErrorObject): string {
  if ((e.keyword === "anyOf" || e.keyword === "oneOf") && e.message) return e.message;
  if (e.keyword === "format" && (e.params as { format: string }).format === "quantity") return "is not a quantity (e.g. 500m, 2Gi, 1.5)";
  if (e.keyword === "additionalProperties") return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === "enum") return `${e.message}: ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  return e.message ?? e.keyword;
}

function metadataProblems(m: Manifest, id: string, naming: "label" | "subdomain" | "path segment"): Problem[] {
  const out: Problem[] = [];
  const md = m.metadata ?? {};
  const name = md.name;
  const valid = (n: string) =>
    naming === "label"
      ? DNS1123_LABEL.test(n) && n.length <= 63
      : naming === "subdomain"
        ? DNS1123_SUBDOMAIN.test(n) && n.length <= 253
        : n !== "." && n !== ".." && !/[/%]/.test(n);
  if (typeof name !== "string" || !name) {
    if (typeof md.generateName !== "string") out.push({ object: id, path: "/metadata/name", message: "is missing (and no generateName)" });
  } else if (!valid(name)) {
    out.push({
      object: id,
      path: "/metadata/name",
      message:
        naming === "path segment"
          ? `"${name}" is not a valid path segment name (no "/" or "%", not "." or "..")`
          : `"${name}" is not a DNS-1123 ${naming === "label" ? "label (lower-case alphanumerics and '-', at most 63)" : "subdomain"}`,
    });
  }
  for (const [where, map] of [
    ["labels", md.labels],
    ["annotations", md.annotations],
  ] as const) {
    for (const [key, value] of Object.entries((map ?? {}) as Record<string, unknown>)) {
      const slash = key.lastIndexOf("/");
      const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
      const local = slash >= 0 ? key.slice(slash + 1) : key;
      if ((prefix !== undefined && !(DNS1123_SUBDOMAIN.test(prefix) && prefix.length <= 253)) || !(QUALIFIED_NAME.test(local) && local.length <= 63)) {
        out.push({ object: id, path: `/metadata/${where}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`, message: `"${key}" is not a qualified name` });
      }
      if (where === "labels" && typeof value === "string" && value !== "" && !(QUALIFIED_NAME.test(value) && value.length <= 63)) {
        out.push({
          object: id,
          path: `/metadata/labels/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`,
          message: `value "${value}" is not a valid label value (at most 63 alphanumerics, '-', '_', '.')`,
        });
      }
    }
  }
  return out;
}

/** Parses multi-document YAML (kubectl / helm output) into objects, skipping empty documents. */
export function parseManifests(text: string): Manifest[] {
  return YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`YAML: ${d.errors[0].message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((x): x is Manifest => x !== null && x !== undefined);
}

/** Kinds that live outside namespaces (Helm leaves them without one). */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "PersistentVolume",
  "StorageClass",
  "PriorityClass",
  "IngressClass",
  "APIService",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
  "SecurityContextConstraints",
]);

/**
 * `helm template` of a chart directory with these values; returns the rendered objects, each
 * namespaced one in the release namespace as `helm install` would place it.
 */
export function renderChart(
  helmBin: string,
  chartDir: string,
  release: { name: string; namespace: string; values: unknown },
  kubernetesVersion: string,
): Manifest[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "floe-helm-"));
  try {
    const valuesFile = path.join(tmp, "values.json");
    fs.writeFileSync(valuesFile, JSON.stringify(release.values ?? {}));
    const out = execFileSync(
      helmBin,
      ["template", release.name, chartDir, "--namespace", release.namespace, "--values", valuesFile, "--kube-version", kubernetesVersion.replace(/^v/, "")],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, HELM_CACHE_HOME: path.join(tmp, "cache"), HELM_CONFIG_HOME: path.join(tmp, "config"), HELM_DATA_HOME: path.join(tmp, "data") },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const objects = parseManifests(out);
    for (const m of objects) if (!CLUSTER_SCOPED.has(m.kind) && !m.metadata?.namespace) m.metadata = { ...(m.metadata ?? {}), namespace: release.namespace };
    return objects;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`helm template ${release.name} ${chartDir} failed: ${err.stderr || err.message}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Values the chart would pass straight into a Kubernetes object (`toYaml .Values.resources`): their
 * keys are the object's, not the chart's, and are checked when the rendered output is validated.
 */
const PASSTHROUGH = new Set([
  "resources",
  "securityContext",
  "podSecurityContext",
  "containerSecurityContext",
  "affinity",
  "nodeSelector",
  "tolerations",
  "annotations",
  "labels",
  "podAnnotations",
  "podLabels",
]);

/**
 * Values keys the chart does not have: a misspelt key is silently ignored by Helm (no chart here
 * ships a values.schema.json), so every key floe passes must exist in the chart's values.yaml,
 * except under a map whose default is empty (free-form), under the Kubernetes pass-through keys
 * above, and inside lists (their items are the user's own records).
 */
export function unknownValues(chartDir: string, values: unknown, chart = path.basename(chartDir)): Problem[] {
  const defaults = YAML.parse(fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8")) ?? {};
  const out: Problem[] = [];
  const walk = (v: unknown, d: unknown, at: string) => {
    if (!isMap(v) || !isMap(d)) return;
    if (Object.keys(d).length === 0) return; // free-form map (e.g. extraVolumes: {})
    for (const [k, sub] of Object.entries(v)) {
      if (!(k in d))
        out.push({ object: `chart ${chart} values`, path: `${at}/${k}`, message: `"${k}" is not a value of the chart (misspelt? Helm ignores it)` });
      else if (!PASSTHROUGH.has(k)) walk(sub, d[k], `${at}/${k}`);
    }
  };
  walk(values, defaults, "");
  return out;
}

function isMap(x: unknown): x is Record<string, unknown> {
  return !!x && typeof x === "object" && !Array.isArray(x);
}

/** The version a chart directory declares (Chart.yaml). */
export function chartVersion(chartDir: string): string {
  return String(YAML.parse(fs.readFileSync(path.join(chartDir, "Chart.yaml"), "utf8")).version);
}

/** A reference from one object to another in its namespace, e.g. a Pod template's Secret volume. */
export interface Reference {
  from: string;
  path: string;
  kind: string;
  namespace: string;
  name: string;
  /** For Secret / ConfigMap key references. */
  key?: string;
}

/** The Secrets, ConfigMaps, claims, ServiceAccounts, Roles and CNPG objects an object refers to. */
export function references(m: Manifest): Reference[] {
  const ns = m.metadata?.namespace ?? "default";
  const from = describe(m);
  const out: Reference[] = [];
  const add = (path: string, kind: string, name: unknown, key?: unknown, namespace = ns) => {
    if (typeof name === "string" && name) out.push({ from, path, kind, namespace, name, ...(typeof key === "string" ? { key } : {}) });
  };
  const o = m as Record<string, any>;
  const pod = m.kind === "Pod" ? o.spec : ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(m.kind) ? o.spec?.template?.spec : undefined;
  if (pod) {
    add("/spec/…/serviceAccountName", "ServiceAccount", pod.serviceAccountName);
    (pod.volumes ?? []).forEach((v: any, i: number) => {
      const at = `/spec/…/volumes/${i}`;
      if (v.secret && !v.secret.optional) add(`${at}/secret`, "Secret", v.secret.secretName);
      if (v.configMap && !v.configMap.optional) add(`${at}/configMap`, "ConfigMap", v.configMap.name);
      if (v.persistentVolumeClaim) add(`${at}/persistentVolumeClaim`, "PersistentVolumeClaim", v.persistentVolumeClaim.claimName);
      (v.projected?.sources ?? []).forEach((src: any, j: number) => {
        if (src.secret && !src.secret.optional)
          for (const it of src.secret.items ?? [{}]) add(`${at}/projected/sources/${j}/secret`, "Secret", src.secret.name, it.key);
        if (src.configMap && !src.configMap.optional)
          for (const it of src.configMap.items ?? [{}]) add(`${at}/projected/sources/${j}/configMap`, "ConfigMap", src.configMap.name, it.key);
      });
    });
    for (const [list, cs] of [
      ["initContainers", pod.initContainers],
      ["containers", pod.containers],
    ] as const) {
      (cs ?? []).forEach((c: any, i: number) => {
        (c.envFrom ?? []).forEach((e: any, j: number) => {
          if (e.secretRef && !e.secretRef.optional) add(`/spec/…/${list}/${i}/envFrom/${j}`, "Secret", e.secretRef.name);
          if (e.configMapRef && !e.configMapRef.optional) add(`/spec/…/${list}/${i}/envFrom/${j}`, "ConfigMap", e.configMapRef.name);
        });
        (c.env ?? []).forEach((e: any, j: number) => {
          const s = e.valueFrom?.secretKeyRef;
          const cm = e.valueFrom?.configMapKeyRef;
          if (s && !s.optional) add(`/spec/…/${list}/${i}/env/${j}`, "Secret", s.name, s.key);
          if (cm && !cm.optional) add(`/spec/…/${list}/${i}/env/${j}`, "ConfigMap", cm.name, cm.key);
        });
      });
    }
  }
  if (m.kind === "RoleBinding") {
    if (o.roleRef?.kind === "Role") add("/roleRef", "Role", o.roleRef.name);
    (o.subjects ?? []).forEach(
      (sub: any, i: number) => sub.kind === "ServiceAccount" && add(`/subjects/${i}`, "ServiceAccount", sub.name, undefined, sub.namespace ?? ns),
    );
  }
  if (m.apiVersion === "postgresql.cnpg.io/v1") {
    const sp = o.spec ?? {};
    if (m.kind === "Cluster") {
      add("/spec/superuserSecret", "Secret", sp.superuserSecret?.name);
      const s3 = sp.backup?.barmanObjectStore?.s3Credentials ?? {};
      for (const k of ["accessKeyId", "secretAccessKey", "sessionToken", "region"])
        add(`/spec/backup/barmanObjectStore/s3Credentials/${k}`, "Secret", s3[k]?.name, s3[k]?.key);
      const ca = sp.backup?.barmanObjectStore?.endpointCA;
      add("/spec/backup/barmanObjectStore/endpointCA", "Secret", ca?.name, ca?.key);
      add("/spec/certificates/serverTLSSecret", "Secret", sp.certificates?.serverTLSSecret);
      add("/spec/certificates/serverCASecret", "Secret", sp.certificates?.serverCASecret);
      (sp.managed?.roles ?? []).forEach((r: any, i: number) => add(`/spec/managed/roles/${i}/passwordSecret`, "Secret", r.passwordSecret?.name));
      add("/spec/bootstrap/recovery/backup", "Backup", sp.bootstrap?.recovery?.backup?.name);
      add("/spec/bootstrap/recovery/volumeSnapshots/storage", "VolumeSnapshot", sp.bootstrap?.recovery?.volumeSnapshots?.storage?.name);
    }
    if (m.kind === "Pooler" || m.kind === "ScheduledBackup") add("/spec/cluster", "Cluster", sp.cluster?.name);
  }
  if (m.apiVersion === "cert-manager.io/v1") {
    const sp = o.spec ?? {};
    // a ClusterIssuer is cluster-wide: only a namespaced Issuer must be in the same namespace
    if (m.kind === "Certificate" && (sp.issuerRef?.kind ?? "Issuer") === "Issuer") add("/spec/issuerRef", "Issuer", sp.issuerRef?.name);
    if (m.kind === "Issuer") add("/spec/ca/secretName", "Secret", sp.ca?.secretName, "tls.key");
  }
  return out;
}

/**
 * References that no object in `objects` satisfies (same namespace, kind and name; for a Secret or
 * ConfigMap key, the key is in its data or stringData). `external` lists what the user brings,
 * as "Kind/name" (any namespace). The "default" ServiceAccount always exists.
 */
export function unresolvedReferences(objects: Manifest[], external: string[] = []): Problem[] {
  const index = new Map<string, Manifest>();
  for (const m of objects) index.set(`${m.kind}/${m.metadata?.namespace ?? "default"}/${m.metadata?.name}`, m);
  // Secrets CloudNativePG makes for each Cluster it runs: its CA (unless certificates.serverCASecret
  // names the user's), server certificate (unless serverTLSSecret) and replication client certificate.
  for (const m of objects) {
    if (m.kind !== "Cluster" || !String(m.apiVersion).startsWith("postgresql.cnpg.io/")) continue;
    const certs = (m as Manifest & { spec?: { certificates?: { serverCASecret?: string; serverTLSSecret?: string } } }).spec?.certificates ?? {};
    const made = [certs.serverCASecret ? undefined : "ca", certs.serverTLSSecret ? undefined : "server", "replication"].filter((x) => x !== undefined);
    for (const suffix of made) {
      const name = `${m.metadata?.name}-${suffix}`;
      const key = `Secret/${m.metadata?.namespace ?? "default"}/${name}`;
      const data = suffix === "ca" ? { "ca.crt": "", "ca.key": "" } : { "tls.crt": "", "tls.key": "" };
      if (!index.has(key)) index.set(key, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: m.metadata?.namespace }, data } as Manifest);
    }
  }
  // Secrets cert-manager makes for each Certificate (spec.secretName: tls.crt, tls.key, ca.crt)
  for (const m of objects) {
    if (m.kind !== "Certificate" || m.apiVersion !== "cert-manager.io/v1") continue;
    const name = (m as Manifest & { spec?: { secretName?: string } }).spec?.secretName;
    const key = `Secret/${m.metadata?.namespace ?? "default"}/${name}`;
    if (name && !index.has(key))
      index.set(key, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: m.metadata?.namespace },
        data: { "tls.crt": "", "tls.key": "", "ca.crt": "" },
      } as Manifest);
  }
  const out: Problem[] = [];
  for (const ref of objects.flatMap(references)) {
    if (external.includes(`${ref.kind}/${ref.name}`) || (ref.kind === "ServiceAccount" && ref.name === "default")) continue;
    const target = index.get(`${ref.kind}/${ref.namespace}/${ref.name}`) as (Manifest & { data?: object; stringData?: object }) | undefined;
    if (!target) out.push({ object: ref.from, path: ref.path, message: `refers to ${ref.kind} ${ref.namespace}/${ref.name}, which nothing declares` });
    else if (ref.key !== undefined && !(ref.key in { ...(target.data ?? {}), ...(target.stringData ?? {}) })) {
      out.push({
        object: ref.from,
        path: ref.path,
        message: `refers to key "${ref.key}" of ${ref.kind} ${ref.namespace}/${ref.name}, which has ${Object.keys({ ...(target.data ?? {}), ...(target.stringData ?? {}) }).join(", ") || "no keys"}`,
      });
    }
  }
  return out;
}

/** A resource as recorded by `floe/testing`'s mocks (only what is read here). */
export interface RecordedK8sResource {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, any>;
  /** The state the (mock) provider returned: the auto-generated metadata.name, when there is one. */
  state?: Record<string, any>;
}

export interface HelmRelease {
  /** The Pulumi resource name. */
  resource: string;
  name: string;
  namespace: string;
  chart: string;
  version?: string;
  repo?: string;
  values: Record<string, unknown>;
}

/**
 * The Kubernetes objects and Helm releases a Pulumi program declared, from the inputs the mocks
 * recorded. An object without metadata.name gets the one the provider returned for it (the name
 * the other objects reference), else the resource name plus a suffix, as the provider auto-names. A `kubernetes:` type this function does not know (a Chart or
 * ConfigGroup rendered on the client) is an error rather than a silent skip.
 */
export function manifestsFromResources(resources: RecordedK8sResource[]): { manifests: { resource: string; manifest: Manifest }[]; releases: HelmRelease[] } {
  const manifests: { resource: string; manifest: Manifest }[] = [];
  const releases: HelmRelease[] = [];
  for (const r of resources) {
    if (!r.custom || !r.type.startsWith("kubernetes:")) continue;
    if (r.type === "kubernetes:helm.sh/v3:Release") {
      const i = r.inputs;
      releases.push({
        resource: r.name,
        name: i.name ?? r.name,
        namespace: i.namespace ?? "default",
        chart: i.chart,
        version: i.version,
        repo: i.repositoryOpts?.repo,
        values: i.values ?? {},
      });
      continue;
    }
    const m = /^kubernetes:(?:(.+)\/)?(v[0-9a-z]+):([A-Za-z0-9]+)$/.exec(r.type.replace(/^kubernetes:core\//, "kubernetes:"));
    if (!m || m[3].endsWith("List") || r.type.includes(":yaml/") || r.type.includes("helm.sh/"))
      throw new Error(`${r.type} (${r.name}): not a single Kubernetes object; teach manifestsFromResources how to render it`);
    const apiVersion = m[1] ? `${m[1]}/${m[2]}` : m[2];
    const manifest = JSON.parse(JSON.stringify(r.inputs)) as Manifest;
    if (manifest.apiVersion !== apiVersion || manifest.kind !== m[3])
      throw new Error(`${r.type} (${r.name}): inputs say ${manifest.apiVersion} ${manifest.kind}`);
    manifest.metadata = { ...(manifest.metadata ?? {}) };
    if (manifest.metadata.name === undefined) manifest.metadata.name = r.state?.metadata?.name ?? `${r.name}-${suffix(r.name)}`;
    manifests.push({ resource: r.name, manifest });
  }
  return { manifests, releases };
}

/** A stable stand-in for the provider's random auto-name suffix (8 lower-case alphanumerics). */
function suffix(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(36).padStart(8, "0").slice(-8);
}

function main(argv: string[]): number {
  let version: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--kubernetes") version = argv[++i];
    else files.push(argv[i]);
  }
  if (!files.length) {
    console.error("usage: k8s-validate [--kubernetes vX.Y.Z] FILE.yaml...  (- reads stdin)");
    return 2;
  }
  const { dir, versions } = installSchemas();
  const targets = version ? [version] : versions.kubernetes.map((k) => k.version);
  let bad = 0;
  let count = 0;
  for (const v of targets) {
    const validator = new K8sValidator(dir, versions, v);
    for (const f of files) {
      for (const m of parseManifests(fs.readFileSync(f === "-" ? 0 : f, "utf8"))) {
        count++;
        for (const p of validator.validate(m)) {
          bad++;
          console.log(`${f}: Kubernetes ${v}: ${p.object}: ${p.path || "/"}: ${p.message}`);
        }
      }
    }
  }
  console.log(
    `${count} object checks against Kubernetes ${targets.join(", ")}, CloudNativePG ${versions.cnpg.version} and cert-manager ${versions.certManager.version}: ${bad} problem(s)`,
  );
  return bad ? 1 : 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
