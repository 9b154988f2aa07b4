/**
 * The target seam. A target is a plain string ("kubernetes", "aws" or "local") so that the public
 * args stay free of union types (see docs/components.md, multi-language consumption). Each piece
 * registers one builder per target, each in its own file; `dispatch` is the only place where a
 * target string is turned into code. A piece's builders live in
 * `components/<piece>/{kubernetes,aws,local}.ts`; adding a target means a builder file per piece
 * and one entry in each piece's builder table.
 */
import * as pulumi from "@pulumi/pulumi";
import { Validator } from "./errors";

/** The documented target names. */
export const TARGETS = ["kubernetes", "aws", "local"] as const;

/** The target used when `target` is unset: the embedded local stack (see DESIGN.md). */
export const DEFAULT_TARGET = "local";

/** What a builder receives: the component it builds into (every child's parent) and its args. */
export interface BuildContext<A> {
  /** The component's name; children are named `${name}-<suffix>`. */
  name: string;
  /** The target this builder is for (validated). */
  target: string;
  args: A;
  /** The component; pass it as `parent` so providers, aliases and protect flow down. */
  parent: pulumi.ComponentResource;
  /** The options every direct child starts from: `{ parent }`. */
  childOpts: pulumi.CustomResourceOptions;
  v: Validator;
}

export type Builder<A, R> = (ctx: BuildContext<A>) => R;

/** One builder per target. */
export interface BuilderTable<A, R> {
  kubernetes: Builder<A, R>;
  aws: Builder<A, R>;
  local: Builder<A, R>;
}

/** Turns the target string into the builder's result. The one dispatcher. */
export function dispatch<A, R>(
  component: string,
  parent: pulumi.ComponentResource,
  name: string,
  target: string | undefined,
  args: A,
  builders: BuilderTable<A, R>,
): R {
  const v = new Validator(component, name);
  const t = v.oneOf("target", target, DEFAULT_TARGET, TARGETS) as keyof BuilderTable<A, R>;
  return builders[t]({ name, target: t, args, parent, childOpts: { parent }, v });
}

/**
 * Fails when settings for another target are set (`{ kubernetes: {…} }` with target "aws"): they
 * would be silently ignored. `keys` are the args' per-target blocks.
 */
export function rejectOtherTargets<A>(ctx: BuildContext<A>, keys: readonly string[] = TARGETS): void {
  const args = ctx.args as Record<string, unknown>;
  for (const other of keys) {
    if (other !== ctx.target && args[other] !== undefined)
      ctx.v.fail(other, "{…}", `is set but target is "${ctx.target}"`, `remove it or set target to "${other}"`);
  }
}

/** Validates a target string without building (used by DataPlatform before it creates anything). */
export function checkTarget(component: string, name: string, target: string | undefined): string {
  return new Validator(component, name).oneOf("target", target, DEFAULT_TARGET, TARGETS);
}
