# Sourced by scripts/up.sh, scripts/down.sh and the e2e tests: how floe runs the Pulumi CLI locally.
# Secrets in the local stack are encrypted with this passphrase; set your own before the first
# `npm run up` (it cannot change afterwards without `pulumi stack change-secrets-provider`).
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-floe-local}"
# No update checks, no plugin downloads (none is possible here; the local target needs none).
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# Typecheck-free TypeScript: the components are already compiled by `npm run build`.
export PULUMI_NODEJS_TRANSPILE_ONLY=true
