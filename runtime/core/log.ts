/**
 * The one structured logger for every runtime program: one JSON object per line on stderr,
 * so stdout stays free for command output (`--json`). Level from FLOE_LOG_LEVEL (default info).
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function threshold(): number {
  const level = (process.env.FLOE_LOG_LEVEL ?? "info") as LogLevel;
  return ORDER[level] ?? ORDER.info;
}

/** Whether lines of `level` are written (FLOE_LOG_LEVEL): a caller skips building costly debug fields otherwise. */
export function logs(level: LogLevel): boolean {
  return ORDER[level] >= threshold();
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, name: value.name };
  if (typeof value === "bigint") return value.toString();
  return value;
}

export function createLogger(base: Record<string, unknown> = {}, sink: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < threshold()) return;
    const record: Record<string, unknown> = { ts: new Date().toISOString(), level, msg, ...base };
    for (const [k, v] of Object.entries(fields ?? {})) record[k] = serialise(v);
    sink(JSON.stringify(record));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, sink),
  };
}

export const log = createLogger();
