/**
 * The one config loader: reads a JSON file, expands `${ENV_VAR}` references (so secrets can come
 * from the environment instead of the file), and validates with a zod schema. Errors name the
 * field, the value's problem and the file.
 */
import { readFileSync } from "node:fs";
import type { ZodType, ZodTypeDef } from "zod";

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
    const problems = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
    throw new ConfigError(`${origin} is invalid:\n${problems}`);
  }
  return result.data;
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
