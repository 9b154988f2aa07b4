// floe's lint rules (npm run lint; CI runs it). Formatting is prettier's (.prettierrc.json);
// eslint-config-prettier turns off every rule that would argue with it. Each rule below is here
// because its absence has cost us something, or because the code already follows it and should
// keep doing so:
//   - no-floating-promises / no-misused-promises: an unhandled promise rejection ends the process;
//     a bench once left writer.run()'s promise unhandled and a reset socket crashed it (EPIPE).
//   - no `as any` in product code: only where a library's types are wrong, each with an
//     eslint-disable comment saying why (tests may use it to reach into internals). Declared `any`
//     (a JSON document, a pg row) is allowed: it is honest about what is known.
//   - eqeqeq (null comparisons allowed), prefer-const, no-var: the code's own habits, kept.
//   - no-unused-vars with `_` for deliberately unused parameters and rest siblings.
//   - no-require-imports, except in components/: a Pulumi dynamic provider's functions are
//     serialized with their closures, so they require() what they use inside the function.
//   Off, deliberately: preserve-caught-error (our wrappers put the cause's message in their own;
//     attaching `cause` changes how runtime/cdc/errors.ts classifies, which walks the cause chain, so
//     it is a choice per site, not a rule) and no-useless-assignment (it flags `let x = default`
//     before a try that assigns it, a habit we keep for the catch path's benefit).
//   - switch-exhaustiveness-check: a new catalog kind, target or change kind must be handled
//     everywhere it is switched on, not fall through silently.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "examples/**", "**/*.js", "**/*.mjs", "bench/out/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "@typescript-eslint/no-explicit-any": "off",
      "no-restricted-syntax": ["error", { selector: "TSAsExpression > TSAnyKeyword", message: "`as any` hides a type error: fix the type, or say in an eslint-disable comment which library's types are wrong" }],
      "preserve-caught-error": "off",
      "no-useless-assignment": "off",
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    files: ["components/**/*.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: { "no-restricted-syntax": "off", "@typescript-eslint/no-require-imports": "off" },
  },
  prettier,
);
