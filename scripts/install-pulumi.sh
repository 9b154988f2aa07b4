#!/usr/bin/env bash
# Makes a Pulumi CLI available and prints the directory to put on PATH (stdout; logs go to stderr):
#
#   export PATH="$(bash scripts/install-pulumi.sh):$PATH"
#
# 1. A `pulumi` already on PATH is used as it is (its own directory is printed).
# 2. Otherwise the CLI is built from its Go modules, because no binary download is possible on
#    floe's CI machines (only the Go module proxy is reachable):
#      - pulumi: github.com/pulumi/pulumi/pkg/v3/cmd/pulumi, through a small wrapper module generated
#        here (in the cache, never committed) that repeats pulumi/pkg's non-local replace directives;
#      - pulumi-language-nodejs: floe's minimal Node.js language host (scripts/pulumi-language-nodejs),
#        since the upstream host's module is untagged and the proxy cannot serve it; built in the
#        same wrapper module and the same `go build` as the CLI (one package graph, shared compiles);
#      - pulumi-resource-pulumi-nodejs (dynamic providers): the launcher shipped in @pulumi/pulumi.
#    The version matches the installed @pulumi/pulumi npm package. Binaries land in
#    $FLOE_CACHE/pulumi/v<version>/bin (FLOE_CACHE defaults to ~/.cache/floe); a second run only
#    checks a stamp file. While building it prints how far it is at least every 30 s (modules
#    fetched; packages compiled of the total, elapsed, an estimate of what is left).
#
# Options: --no-build prints the directory only when a CLI is already there (exit 1 otherwise).
# Environment: FLOE_PULUMI_BUILD=1 ignores a pulumi on PATH and uses the built one;
# FLOE_BUILD_NICE (default 0: the build competes with other work as equals) is its nice level; FLOE_PROGRESS_SECONDS (default 30).
#
# Needs: go (1.25+), node, and the repo's node_modules (npm ci).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "install-pulumi: $*" >&2; }
NO_BUILD=false
[[ "${1:-}" == "--no-build" ]] && NO_BUILD=true

if [[ "${FLOE_PULUMI_BUILD:-}" != "1" ]] && command -v pulumi >/dev/null 2>&1; then
  existing="$(command -v pulumi)"
  if [[ "$existing" != "${FLOE_CACHE:-$HOME/.cache/floe}"/pulumi/* ]]; then
    dirname "$(readlink -f "$existing")"
    exit 0
  fi
fi

SDK_PKG="$ROOT/node_modules/@pulumi/pulumi/package.json"
if [[ ! -f "$SDK_PKG" ]]; then
  log "node_modules/@pulumi/pulumi is missing: run npm ci first"
  exit 1
fi
VERSION="${PULUMI_VERSION:-$(node -p "require('$SDK_PKG').version")}"
CACHE="${FLOE_CACHE:-$HOME/.cache/floe}/pulumi/v$VERSION"
BIN="$CACHE/bin"
HOST_SRC="$ROOT/scripts/pulumi-language-nodejs/main.go"
STAMP="$BIN/.installed-$(sha256sum "$HOST_SRC" | cut -c1-12)"

installed() { [[ -f "$STAMP" && -x "$BIN/pulumi" && -x "$BIN/pulumi-language-nodejs" ]]; }
if installed; then
  ln -sfn "v$VERSION/bin" "$(dirname "$CACHE")/bin"
  echo "$BIN"
  exit 0
fi
if $NO_BUILD; then
  log "no Pulumi CLI v$VERSION in $BIN yet (npm run up builds it)"
  exit 1
fi

if ! command -v go >/dev/null 2>&1; then
  log "no pulumi on PATH and no Go toolchain to build one: install Go 1.25+ (https://go.dev/dl) or the Pulumi CLI"
  exit 1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "another run is building the Pulumi CLI v$VERSION in $CACHE: waiting for it"
  flock 9
fi
if installed; then
  echo "$BIN" # another run built it while we waited
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false -mod=mod" CGO_ENABLED=0
# The compiler spends a good part of its time collecting garbage: none until a process holds 2 GiB
# (measured: docs/local.md, "The Pulumi CLI without a download").
export GOGC="${FLOE_BUILD_GOGC:-off}" GOMEMLIMIT="${FLOE_BUILD_GOMEMLIMIT:-2GiB}"
# No inlining: the compiler's most expensive optimisation, worth little to a CLI that mostly waits
# on the program it runs (measured: docs/local.md, "The Pulumi CLI without a download").
BUILD_FLAGS=(-gcflags=all=-l)
NICE=(nice -n "${FLOE_BUILD_NICE:-0}")
EVERY="${FLOE_PROGRESS_SECONDS:-30}"
start=$SECONDS
elapsed() { local s=$((SECONDS - ${1:-$start})); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# Reads `go get`'s stderr: passes errors and warnings through, counts "go: downloading" lines and
# says how many modules were fetched every $EVERY seconds.
download_progress() {
  local n=0 last=$SECONDS line rc
  while :; do
    if IFS= read -r -t 5 line; then
      if [[ "$line" == "go: downloading "* ]]; then n=$((n + 1)); else echo "$line" >&2; fi
    else
      rc=$?
      ((rc > 128)) || break # EOF (a timeout returns > 128)
    fi
    if ((SECONDS - last >= EVERY)); then
      log "fetching Go modules: $n so far, $(elapsed)"
      last=$SECONDS
    fi
  done
  log "fetched $n Go modules ($(elapsed))"
}

# Reads `go build -v`'s stderr (one import path per package compiled) and, every $EVERY seconds,
# prints packages compiled of the total, the share of source compiled, the time elapsed and an
# estimate of the time left (from the source bytes compiled so far). $1: "import-path bytes" lines
# of every package to build. Other lines (compile errors) are passed through.
build_progress() {
  local -A weight=()
  local total_w=0 total_n=0 done_w=0 done_n=0 t0=$SECONDS last=$SECONDS line rc ip w
  while read -r ip w; do
    weight[$ip]=$w
    total_w=$((total_w + w))
    total_n=$((total_n + 1))
  done <"$1"
  if ((total_n == 0)); then
    log "every package is in Go's build cache: linking"
  else
    log "compiling $total_n packages ($((total_w / 1024)) MiB of Go source)"
  fi
  while :; do
    if IFS= read -r -t 5 line; then
      if [[ -n "${weight[$line]+x}" ]]; then
        done_n=$((done_n + 1))
        done_w=$((done_w + weight[$line]))
      else
        echo "$line" >&2
      fi
    else
      rc=$?
      ((rc > 128)) || break
    fi
    if ((SECONDS - last >= EVERY)); then
      last=$SECONDS
      if ((done_n >= total_n)); then
        log "all $total_n packages compiled; linking ($(elapsed) elapsed)"
      elif ((done_w * 50 >= total_w)); then # an estimate once 2% of the source is compiled
        local left=$(((SECONDS - t0) * (total_w - done_w) / done_w))
        log "compiled $done_n of $total_n packages ($((100 * done_w / total_w))% of the source), $(elapsed) elapsed, about $((left / 60 + 1)) min left"
      else
        log "compiled $done_n of $total_n packages, $(elapsed) elapsed"
      fi
    fi
  done
}

W="$CACHE/src/pulumi"
CLI_PKG="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
targets=(./pulumi-language-nodejs)
[[ -x "$BIN/pulumi" ]] || targets=("$CLI_PKG" ./pulumi-language-nodejs)
log "building the Pulumi CLI v$VERSION and floe's Node.js language host from Go modules (${targets[*]}): about 350 CPU-seconds, a few minutes on 2 idle cores and much longer on a busy machine; progress every ${EVERY}s"

rm -rf "$W" && mkdir -p "$W/pulumi-language-nodejs" && cd "$W"
cp "$HOST_SRC" pulumi-language-nodejs/main.go
pkgmod="$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$VERSION" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const j = JSON.parse(s); if (j.Error) { console.error(j.Error); process.exit(1); } console.log(j.GoMod);
  });')"
go mod init floe.local/pulumi-cli >/dev/null 2>&1
go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$VERSION" -require="github.com/pulumi/pulumi/sdk/v3@v$VERSION"
# Repeat pkg's replace directives, except the local ones (../sdk) that point into pulumi's repo:
# the wrapper requires the same sdk version from the proxy instead.
go mod edit -json "$pkgmod" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    for (const r of JSON.parse(s).Replace ?? []) {
      if (!r.New.Version) continue; // a directory replacement
      const old = r.Old.Version ? `${r.Old.Path}@${r.Old.Version}` : r.Old.Path;
      console.log(`-replace=${old}=${r.New.Path}@${r.New.Version}`);
    }
  });' | xargs -r go mod edit

# 1. fetch every module the CLI imports (the language host imports a subset of them); not under
#    nice: it mostly waits on the network, and a busy machine stretched it from 1 to 9 minutes
go get "$CLI_PKG@v$VERSION" 2>&1 | download_progress

# 2. compile: the library packages go build will compile (not in the build cache yet), weighted by their
#    source size in KiB, for the progress estimate
go list "${BUILD_FLAGS[@]}" -deps -f '{{if and .Stale (ne .Name "main")}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}{{end}}' "${targets[@]}" | node -e '
  const { statSync } = require("node:fs");
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    for (const line of s.split("\n").filter(Boolean)) {
      const [ip, dir, files] = line.split("|");
      const bytes = files ? files.split(",").reduce((n, f) => n + statSync(dir + "/" + f).size, 0) : 0;
      console.log(ip, 1 + Math.round(bytes / 1024)); // at least 1: a link step, a package without Go code
    }
  });' >weights.txt
compile_start=$SECONDS
rm -rf "$BIN.tmp" && mkdir -p "$BIN.tmp"
"${NICE[@]}" go build "${BUILD_FLAGS[@]}" -v -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION -X main.version=v$VERSION" \
  -o "$BIN.tmp/" "${targets[@]}" 2>&1 | build_progress weights.txt
log "compiled and linked in $(elapsed "$compile_start")"

mkdir -p "$BIN"
for b in pulumi pulumi-language-nodejs; do
  if [[ -f "$BIN.tmp/$b" ]]; then mv "$BIN.tmp/$b" "$BIN/$b"; fi
done
# the dynamic provider launcher (a shell script shipped in @pulumi/pulumi)
install -m 0755 "$ROOT/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"

rm -rf "$BIN.tmp"
rm -f "$BIN"/.installed-*
touch "$STAMP"
ln -sfn "v$VERSION/bin" "$(dirname "$CACHE")/bin" # a stable path too: $FLOE_CACHE/pulumi/bin
log "Pulumi CLI v$VERSION ready in $BIN ($(elapsed))"
echo "$BIN"
