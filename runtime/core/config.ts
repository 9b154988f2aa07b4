/**
 * The one config loader: reads a JSON file, expands `${ENV_VAR}` references (so secrets can come
 * from the environment instead of the file), and validates with a zod schema. Errors name the
 * field, the value's problem and the file.
 */
import { readFileSync } from "node:fs";
import { z, type ZodIssue, type ZodType, type ZodTypeDef } from "zod";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function expandEnv(value: unknown, env: NodeJS.ProcessEnv = process.env, path = "$"): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${path}: environment variable ${name} is referenced but not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, `${path}.${k}`)]));
  }
  return value;
}

export function parseConfig<T>(schema: ZodType<T, ZodTypeDef, unknown>, raw: unknown, origin = "config"): T {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.flatMap((i) => describeIssue(schema, raw, i)).join("\n");
    throw new ConfigError(`${origin} is invalid:\n${problems}`);
  }
  return result.data;
}

const pathString = (path: (string | number)[]): string => path.join(".") || "(root)";

/**
 * One line per problem. An unknown key (the schemas are strict: a typo must never fall back to a
 * default, e.g. `tabels` replicating every table) names its path and the nearest valid key.
 */
function describeIssue(schema: ZodType<unknown, ZodTypeDef, unknown>, raw: unknown, issue: ZodIssue): string[] {
  if (issue.code !== "unrecognized_keys") return [`  ${pathString(issue.path)}: ${issue.message}`];
  const valid = objectKeysAt(schema, raw, issue.path);
  return issue.keys.map((key) => {
    const near = valid ? nearest(key, valid) : undefined;
    const hint = near ? `did you mean "${near}"?` : valid ? `valid keys here: ${valid.join(", ")}` : "remove it";
    return `  ${pathString([...issue.path, key])}: unknown key "${key}"; ${hint}`;
  });
}

/** The keys an object schema accepts at `path` of the input (wrappers, arrays and discriminated unions followed). */
export function objectKeysAt(schema: ZodType<unknown, ZodTypeDef, unknown>, raw: unknown, path: (string | number)[]): string[] | undefined {
  let s: unknown = schema;
  let value = raw;
  for (let depth = 0; ;) {
    if (s instanceof z.ZodEffects) s = s.innerType();
    else if (s instanceof z.ZodDefault) s = s.removeDefault();
    else if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodDiscriminatedUnion) {
      const tag = value && typeof value === "object" ? (value as Record<string, unknown>)[s.discriminator] : undefined;
      s = s.optionsMap.get(tag as never);
      if (!s) return undefined;
    } else if (depth === path.length) return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
    else {
      const step = path[depth++];
      value = value && typeof value === "object" ? (value as Record<string | number, unknown>)[step] : undefined;
      if (s instanceof z.ZodObject) s = s.shape[step];
      else if (s instanceof z.ZodArray) s = s.element;
      else return undefined;
    }
  }
}

/** The candidate closest to `key` by edit distance (case-insensitive), if it is close enough to be a typo. */
export function nearest(key: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(key.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** Damerau-Levenshtein distance (optimal string alignment: a swap of two neighbours costs 1). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

export function loadConfigFile<T>(schema: ZodType<T, ZodTypeDef, unknown>, file: string, env: NodeJS.ProcessEnv = process.env): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(schema, expandEnv(raw, env), file);
}
