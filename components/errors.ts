/**
 * Construction-time validation. Every error names the component, the input, the value received and
 * how to fix it, so that a failed `pulumi preview` reads like a review comment.
 */
export class FloeArgError extends Error {
  constructor(
    readonly component: string,
    readonly resourceName: string,
    readonly input: string,
    readonly value: unknown,
    problem: string,
    fix: string,
  ) {
    super(`${component} "${resourceName}": ${input} = ${show(value)} ${problem}. Fix: ${fix}`);
    this.name = "FloeArgError";
  }
}

function show(value: unknown): string {
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** A small validator bound to one component instance. */
export class Validator {
  constructor(
    readonly component: string,
    readonly resourceName: string,
  ) {}

  fail(input: string, value: unknown, problem: string, fix: string): never {
    throw new FloeArgError(this.component, this.resourceName, input, value, problem, fix);
  }

  /** An integer within [min, max]; returns the default when undefined. */
  int(input: string, value: number | undefined, dflt: number, min: number, max: number): number {
    const v = value ?? dflt;
    if (!Number.isInteger(v) || v < min || v > max) {
      this.fail(
        input,
        value,
        `is not an integer between ${min} and ${max}`,
        `set ${input} to a whole number from ${min} to ${max} (or leave it unset for ${dflt})`,
      );
    }
    return v;
  }

  /** One of a documented set of strings; returns the default when undefined. */
  oneOf(input: string, value: string | undefined, dflt: string, allowed: readonly string[]): string {
    const v = value ?? dflt;
    if (!allowed.includes(v)) {
      this.fail(
        input,
        value,
        `is not one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
        `set ${input} to one of ${allowed.map((a) => `"${a}"`).join(", ")} (or leave it unset for "${dflt}")`,
      );
    }
    return v;
  }

  /** A DNS-1123 label (Kubernetes names, most AWS identifiers). */
  dnsLabel(input: string, value: string, maxLen = 63): string {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.length > maxLen) {
      this.fail(
        input,
        value,
        `is not a valid name (lower-case letters, digits and "-", at most ${maxLen} characters, starting and ending with a letter or digit)`,
        `rename it, e.g. "${
          value
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, "-")
            .replace(/^-+|-+$/g, "")
            .slice(0, maxLen) || "floe"
        }"`,
      );
    }
    return value;
  }

  /** A plain SQL identifier (roles, databases, publications). */
  sqlIdentifier(input: string, value: string): string {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
      this.fail(
        input,
        value,
        "is not a plain lower-case SQL identifier",
        `use lower-case letters, digits and "_" (e.g. "${value
          .toLowerCase()
          .replace(/[^a-z0-9_]/g, "_")
          .slice(0, 63)}")`,
      );
    }
    return value;
  }
}
