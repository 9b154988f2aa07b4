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
#        since the upstream host's module is untagged and the proxy cannot serve it;
#      - pulumi-resource-pulumi-nodejs (dynamic providers): the launcher shipped in @pulumi/pulumi.
#    The version matches the installed @pulumi/pulumi npm package. Binaries land in
#    $FLOE_CACHE/pulumi/v<version>/bin (FLOE_CACHE defaults to ~/.cache/floe); a second run only
#    checks a stamp file. Set FLOE_PULUMI_BUILD=1 to ignore a pulumi on PATH and use the built one.
#
# Needs: go (1.25+), node, and the repo's node_modules (npm ci).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "install-pulumi: $*" >&2; }

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

if [[ -f "$STAMP" && -x "$BIN/pulumi" && -x "$BIN/pulumi-language-nodejs" ]]; then
  ln -sfn "v$VERSION/bin" "$(dirname "$CACHE")/bin"
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "no pulumi on PATH and no Go toolchain to build one: install Go 1.25+ (https://go.dev/dl) or the Pulumi CLI"
  exit 1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [[ -f "$STAMP" && -x "$BIN/pulumi" && -x "$BIN/pulumi-language-nodejs" ]]; then
  echo "$BIN" # another run built it while we waited
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false -mod=mod" CGO_ENABLED=0
NICE=(nice -n "${FLOE_BUILD_NICE:-10}")
LDFLAGS="-s -w"
start=$(date +%s)
mkdir -p "$BIN.tmp"

# --- the CLI -------------------------------------------------------------------------------------
if [[ ! -x "$BIN/pulumi" ]]; then
  log "building the Pulumi CLI v$VERSION from Go modules (several minutes on 2 cores)"
  W="$CACHE/src/pulumi"
  rm -rf "$W" && mkdir -p "$W" && cd "$W"
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
  "${NICE[@]}" go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$VERSION" >&2
  "${NICE[@]}" go build -ldflags "$LDFLAGS -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION" \
    -o "$BIN.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
  mkdir -p "$BIN" && mv "$BIN.tmp/pulumi" "$BIN/pulumi"
  log "pulumi built in $(( $(date +%s) - start ))s"
fi

# --- the Node.js language host ---------------------------------------------------------------------
log "building pulumi-language-nodejs (floe's minimal host) against sdk v$VERSION"
W="$CACHE/src/pulumi-language-nodejs"
rm -rf "$W" && mkdir -p "$W" && cd "$W"
cp "$HOST_SRC" main.go
go mod init floe.local/pulumi-language-nodejs >/dev/null 2>&1
go mod edit -require="github.com/pulumi/pulumi/sdk/v3@v$VERSION"
"${NICE[@]}" go mod tidy >&2
"${NICE[@]}" go build -ldflags "$LDFLAGS -X main.version=v$VERSION" -o "$BIN.tmp/pulumi-language-nodejs" . >&2
mkdir -p "$BIN" && mv "$BIN.tmp/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"

# --- the dynamic provider launcher (a shell script shipped in @pulumi/pulumi) ------------------------
install -m 0755 "$ROOT/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"

rm -rf "$BIN.tmp"
rm -f "$BIN"/.installed-*
touch "$STAMP"
ln -sfn "v$VERSION/bin" "$(dirname "$CACHE")/bin" # a stable path too: $FLOE_CACHE/pulumi/bin
log "Pulumi CLI v$VERSION ready in $BIN ($(( $(date +%s) - start ))s)"
echo "$BIN"
