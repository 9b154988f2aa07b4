#!/usr/bin/env bash
# `npm run down`: `pulumi destroy` of examples/local: stops every process of the local platform,
# frees its ports and removes its data directory. The stack itself (its config and history in
# examples/local/.pulumi-state, no resources) stays, so the next `npm run up` reuses its settings;
# `npm run down -- --remove` removes the stack too. FLOE_STACK picks the stack (default local).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m[floe down]\033[0m %s\n' "$*" >&2; }
remove=()
for a in "$@"; do
  case "$a" in
    --remove) remove=(--remove) ;;
    *) say "unknown argument '$a' (the only one is --remove: remove the stack's state too)"; exit 2 ;;
  esac
done
source scripts/node-env.sh
if ! PULUMI_BIN="$(bash scripts/install-pulumi.sh --no-build)"; then
  say "no Pulumi CLI installed: nothing was brought up with npm run up here"
  exit 0
fi
export PATH="$PULUMI_BIN:$PATH"
source scripts/pulumi-env.sh
cd examples/local
STACK="${FLOE_STACK:-local}"
if ! pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  say "no stack $STACK: nothing to destroy"
  exit 0
fi
# Pulumi's closing hint names a bare `pulumi stack rm`; say what works from here instead.
pulumi destroy --yes --non-interactive --skip-preview --suppress-progress "${remove[@]}" |
  sed -E 's/run `pulumi stack rm ([^`]*)`/run `npm run down -- --remove` (or `npm run -s pulumi -- stack rm \1`)/'
if ((${#remove[@]} == 0)); then
  say "stack $STACK kept in examples/local/.pulumi-state (config and history; no resources): npm run up brings it back"
else
  say "stack $STACK removed"
fi
