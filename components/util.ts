import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/** Deep merge for Helm values and CR specs: `override` wins; arrays are replaced, not merged. */
export function deepMerge<T extends Record<string, unknown>>(base: T, override?: Record<string, unknown>): T {
  if (!override) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    if (isPlainObject(b) && isPlainObject(v)) out[k] = deepMerge(b, v);
    else out[k] = v;
  }
  return out as T;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !pulumi.Output.isInstance(x) && Object.getPrototypeOf(x) === Object.prototype;
}

/** A generated password, exposed only as a secret. Special characters are limited to URL-safe ones. */
export function password(name: string, opts: pulumi.CustomResourceOptions, length = 32): random.RandomPassword {
  return new random.RandomPassword(name, { length, special: true, overrideSpecial: "-_.~" }, opts);
}

/** A libpq URL, secret. */
export function pgUrl(
  user: pulumi.Input<string>,
  pass: pulumi.Input<string>,
  host: pulumi.Input<string>,
  port: pulumi.Input<number>,
  database: pulumi.Input<string>,
  sslmode: string = "require",
): pulumi.Output<string> {
  return pulumi.secret(
    pulumi
      .all([user, pass, host, port, database])
      .apply(([u, p, h, po, d]) => `postgresql://${encodeURIComponent(u)}:${encodeURIComponent(p)}@${h}:${po}/${encodeURIComponent(d)}?sslmode=${sslmode}`),
  );
}

/** A URL with these query parameters set (or removed, when undefined). */
export function withUrlParams(url: string, params: Record<string, string | undefined>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params))
    if (v === undefined) u.searchParams.delete(k);
    else u.searchParams.set(k, v);
  return u.toString();
}

/** Standard labels for Kubernetes objects floe creates. */
export function labels(component: string, name: string): Record<string, string> {
  return { "app.kubernetes.io/name": component, "app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "floe" };
}
