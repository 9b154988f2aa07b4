#!/usr/bin/env bash
# usage: bash scripts/prereqs.sh up|test
#
# Checks, before anything else runs, every program that `npm run up` (up) or `npm test` (test)
# needs from the machine. What Debian provides is installed with apt-get when we are root (or have
# password-less sudo); whatever is still missing ends the run with one message that lists each
# missing piece and the command that installs it. Installs nothing else and stops nothing.
#
#   up and test: pgbouncer; the Postgres client tools (psql for the demo, pg_recvlogical for the
#                benchmarks); Go 1.25+ unless a Pulumi CLI is on PATH or already built by
#                scripts/install-pulumi.sh
#   test also:   a JDK 17+ with javac and Maven (the Apache Iceberg REST catalog fixture, Spark);
#                python3 with venv (moto's S3 server, the independent Iceberg readers); Go 1.25+
#                for scripts/install-k8s-schemas.sh until it has run once
#
# Node.js is not checked here: scripts/node-env.sh brings a supported one when PATH's is too old.
set -euo pipefail
MODE="${1:?usage: prereqs.sh up|test}"
[[ "$MODE" == up || "$MODE" == test ]] || { echo "prereqs.sh: mode must be up or test, got '$MODE'" >&2; exit 2; }
say() { printf '\033[1m[floe setup]\033[0m %s\n' "$*" >&2; }

GO_MIN=1.25
JDK_MIN=17

# version_ge A B: A >= B for dotted versions
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

# The Postgres client tools may live only under /usr/lib/postgresql/<major>/bin (Debian).
pg_tool() { have "$1" || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }

jdk_major() { # major version of `$1 -version` (java or javac), empty when absent
  have "$1" || return 0
  "$1" -version 2>&1 | grep -m 1 -E '(version "|^javac )' | sed -E 's/^[^0-9]*([0-9]+).*/\1/' 
}

pulumi_available() {
  if [[ "${FLOE_PULUMI_BUILD:-}" != "1" ]] && have pulumi; then return 0; fi
  # built before by scripts/install-pulumi.sh (its stamp file)
  compgen -G "${FLOE_CACHE:-$HOME/.cache/floe}/pulumi/bin/.installed-*" >/dev/null
}

missing=() # "what|why|debian package or empty"
check() {
  local what="$1" why="$2" pkg="$3"
  missing+=("$what|$why|$pkg")
}

collect() {
  missing=()
  have pgbouncer || [[ -x /usr/sbin/pgbouncer ]] || check "pgbouncer" "the local pooler" pgbouncer
  if ! pg_tool psql || ! pg_tool pg_recvlogical; then
    check "the Postgres client tools (psql, pg_recvlogical)" "the demo and the benchmarks" postgresql-client
  fi
  local go_for=()
  pulumi_available || go_for+=("builds the Pulumi CLI, since no pulumi is on PATH")
  if [[ "$MODE" == test && ! -f "${FLOE_CACHE:-$HOME/.cache/floe}/k8s-schemas/.installed" ]]; then
    go_for+=("fetches the Kubernetes schemas and builds helm (scripts/install-k8s-schemas.sh)")
  fi
  if ((${#go_for[@]} > 0)); then
    local gov=""
    have go && gov="$(go env GOVERSION 2>/dev/null | sed -E 's/^go//; s/[^0-9.].*$//')"
    if [[ -z "$gov" ]] || ! version_ge "$gov" "$GO_MIN"; then
      local why
      why="$(IFS=';'; echo "${go_for[*]}")"
      check "Go $GO_MIN+${gov:+ (found $gov)}" "${why//;/; }" ""
    fi
  fi
  [[ "$MODE" == test ]] || return 0
  local jv jcv
  jv="$(jdk_major java)"
  jcv="$(jdk_major javac)"
  if [[ -z "$jcv" || "$jcv" -lt "$JDK_MIN" || -z "$jv" || "$jv" -lt "$JDK_MIN" ]]; then
    check "a JDK $JDK_MIN+ with javac${jcv:+ (found javac $jcv)}" "the Iceberg REST catalog fixture and Spark" default-jdk-headless
  fi
  have mvn || check "Maven" "fetches the Iceberg REST fixture from Maven Central" maven
  if ! have python3 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    check "python3 with venv" "moto's S3 server and the independent Iceberg readers" "python3 python3-venv"
  fi
}

# the Debian packages that provide what is missing
debian_packages() {
  apt_pkgs=()
  local m pkg
  for m in "${missing[@]}"; do
    pkg="${m##*|}"
    [[ -n "$pkg" ]] && apt_pkgs+=($pkg)
  done
  return 0
}

collect
((${#missing[@]} == 0)) && exit 0
debian_packages

sudo_cmd=()
can_install=false
if have apt-get && ((${#apt_pkgs[@]} > 0)); then
  if [[ "$(id -u)" -eq 0 ]]; then
    can_install=true
  elif have sudo && sudo -n true >/dev/null 2>&1; then
    can_install=true
    sudo_cmd=(sudo)
  fi
fi
if $can_install; then
  say "installing from Debian: ${apt_pkgs[*]}"
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  hash -r
  collect
  ((${#missing[@]} == 0)) && exit 0
  debian_packages
fi

{
  echo
  echo "floe: 'npm $([[ $MODE == up ]] && echo "run up" || echo test)' needs what this machine lacks:"
  for m in "${missing[@]}"; do
    IFS='|' read -r what why _ <<<"$m"
    echo "  - $what: $why"
  done
  echo "Install with:"
  if ((${#apt_pkgs[@]} > 0)); then
    prefix="sudo "
    [[ "$(id -u)" -eq 0 ]] && prefix=""
    echo "  ${prefix}apt-get install -y ${apt_pkgs[*]}"
  fi
  for m in "${missing[@]}"; do
    [[ "${m##*|}" == "" && "$m" == Go* ]] && echo "  Go $GO_MIN or newer from https://go.dev/dl/ (Debian's golang-go is older)"
  done
  echo "then run the same command again. (The list is in README.md, \"What the machine needs\".)"
} >&2
exit 1
