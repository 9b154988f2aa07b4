#!/usr/bin/env bash
# Installs what scripts/k8s-validate.ts checks floe's kubernetes objects against, idempotently, and
# prints the directory on stdout (logs go to stderr):
#
#   dir="$(bash scripts/install-k8s-schemas.sh)"
#
# Everything comes from Go modules through the Go module proxy (`go mod download`), pinned here:
#   - the Kubernetes OpenAPI v3 schemas of each version in K8S_VERSIONS (k8s.io/kubernetes,
#     api/openapi-spec/v3): the oldest release CloudNativePG 1.27 supports and the newest served;
#   - the CloudNativePG CRDs (github.com/cloudnative-pg/cloudnative-pg, config/crd/bases), the
#     release that the operator chart floe installs by default (0.26.1) deploys;
#   - the cert-manager CRDs (github.com/cert-manager/cert-manager, deploy/crds) and its Helm chart
#     (deploy/charts/cert-manager), the release floe installs for TLS between the pieces;
#   - the MinIO Helm chart (github.com/minio/minio, helm/minio; the proxy serves one version of
#     that module: chart 5.4.0, floe's default, plus later template fixes);
#   - Helm itself (helm.sh/helm/v4/cmd/helm, built once; a few minutes on 2 cores), for
#     `helm template`;
#   - and from PyPI, into a venv: kubernetes-validate (strict JSON schemas of every Kubernetes minor
#     release), an independent validator the test compares k8s-validate.ts's verdicts with.
# The other charts floe installs (cloudnative-pg, lakekeeper, trino, bitnami clickhouse) are not
# published to any registry this project can use; see docs/kubernetes-schemas.md.
#
# Layout: $FLOE_CACHE/k8s-schemas (FLOE_CACHE defaults to ~/.cache/floe)
#   kubernetes-<v>/*.json  cnpg-<v>/*.yaml  cert-manager-<v>/*.yaml  charts/minio-<v>/  charts/cert-manager-<v>/
#   bin/helm  kubernetes-validate-<v>/  versions.json
# Needs: go (1.25+), python3 with venv.
set -euo pipefail

K8S_VERSIONS=(v1.31.14 v1.37.2)
CNPG_VERSION=v1.27.1
CERT_MANAGER_VERSION=v1.21.2
MINIO_MODULE=v0.0.0-20260212201848-7aac2a2c5b7c
HELM_VERSION=v4.3.2
KUBERNETES_VALIDATE=1.37.0

DIR="${FLOE_CACHE:-$HOME/.cache/floe}/k8s-schemas"
log() { echo "install-k8s-schemas: $*" >&2; }

# Reads `go install -v`'s output (a "go: downloading" line per module fetched, then an import path
# per package compiled) and says every FLOE_PROGRESS_SECONDS (30) how many of each so far and the
# time elapsed, so a slow build on a busy machine is not silent; other lines (errors) pass through.
go_progress() {
  local every="${FLOE_PROGRESS_SECONDS:-30}" fetched=0 compiled=0 t0=$SECONDS last=$SECONDS line rc
  while :; do
    if IFS= read -r -t 5 line; then
      if [[ "$line" == "go: downloading "* ]]; then
        fetched=$((fetched + 1))
      elif [[ "$line" =~ ^[a-z0-9.-]+(/[^[:space:]]+)*$ ]]; then
        compiled=$((compiled + 1))
      else
        echo "$line" >&2
      fi
    else
      rc=$?
      ((rc > 128)) || break # EOF (a timeout returns > 128)
    fi
    if ((SECONDS - last >= every)); then
      last=$SECONDS
      log "fetched $fetched Go modules, compiled $compiled packages, $(((SECONDS - t0) / 60))m$(printf %02d $(((SECONDS - t0) % 60)))s elapsed"
    fi
  done
  log "fetched $fetched Go modules, compiled $compiled packages in $((SECONDS - t0)) s"
}
WANT="k8s=${K8S_VERSIONS[*]} cnpg=$CNPG_VERSION cert-manager=$CERT_MANAGER_VERSION minio=$MINIO_MODULE helm=$HELM_VERSION kubernetes-validate=$KUBERNETES_VALIDATE"
STAMP="$DIR/.installed"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "$DIR"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "needs a Go toolchain (1.25+) to fetch the schemas and build helm from the Go module proxy"
  exit 1
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9 # parallel test workers: one installs, the others wait and reuse it
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "$DIR"
  exit 0
fi
export GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0
start=$(date +%s)

# module@version -> its extracted directory in the module cache
moddir() {
  go mod download -json "$1" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const j = JSON.parse(s); if (j.Error) { console.error(j.Error); process.exit(1); } console.log(j.Dir);
    });'
}
# copy <src dir> <dest dir> atomically (dest appears whole or not at all)
place() {
  rm -rf "$2.tmp" && mkdir -p "$2.tmp" && cp -R "$1"/. "$2.tmp"/ && chmod -R u+w "$2.tmp" && rm -rf "$2" && mv "$2.tmp" "$2"
}

for v in "${K8S_VERSIONS[@]}"; do
  if [[ ! -f "$DIR/kubernetes-$v/api__v1_openapi.json" ]]; then
    log "Kubernetes $v OpenAPI v3 schemas (k8s.io/kubernetes@$v)"
    place "$(moddir "k8s.io/kubernetes@$v")/api/openapi-spec/v3" "$DIR/kubernetes-$v"
  fi
done
if [[ ! -f "$DIR/cnpg-$CNPG_VERSION/postgresql.cnpg.io_clusters.yaml" ]]; then
  log "CloudNativePG $CNPG_VERSION CRDs (github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION)"
  place "$(moddir "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION")/config/crd/bases" "$DIR/cnpg-$CNPG_VERSION"
fi
if [[ ! -f "$DIR/cert-manager-$CERT_MANAGER_VERSION/cert-manager.io_certificates.yaml" || ! -f "$DIR/charts/cert-manager-$CERT_MANAGER_VERSION/Chart.yaml" ]]; then
  log "cert-manager $CERT_MANAGER_VERSION CRDs and chart (github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION)"
  cm="$(moddir "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION")"
  place "$cm/deploy/crds" "$DIR/cert-manager-$CERT_MANAGER_VERSION"
  place "$cm/deploy/charts/cert-manager" "$DIR/charts/cert-manager-$CERT_MANAGER_VERSION"
  # the release tool stamps the chart's version (v0.0.0 in the source): stamp the module's
  sed -i "s/^version: v0.0.0$/version: $CERT_MANAGER_VERSION/; s/^appVersion: v0.0.0$/appVersion: $CERT_MANAGER_VERSION/" "$DIR/charts/cert-manager-$CERT_MANAGER_VERSION/Chart.yaml"
fi
if [[ ! -f "$DIR/charts/minio-$MINIO_MODULE/Chart.yaml" ]]; then
  log "MinIO Helm chart (github.com/minio/minio@$MINIO_MODULE, helm/minio)"
  place "$(moddir "github.com/minio/minio@$MINIO_MODULE")/helm/minio" "$DIR/charts/minio-$MINIO_MODULE"
fi
if [[ ! -x "$DIR/bin/helm-$HELM_VERSION" ]]; then
  log "building helm $HELM_VERSION from helm.sh/helm/v4 (a few minutes on 2 cores)"
  rm -rf "$DIR/gobin.tmp"
  GOBIN="$DIR/gobin.tmp" nice -n "${FLOE_BUILD_NICE:-0}" go install -v -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" 2>&1 | go_progress
  mkdir -p "$DIR/bin" && mv "$DIR/gobin.tmp/helm" "$DIR/bin/helm-$HELM_VERSION" && rm -rf "$DIR/gobin.tmp"
fi
ln -sfn "helm-$HELM_VERSION" "$DIR/bin/helm"
KV="$DIR/kubernetes-validate-$KUBERNETES_VALIDATE"
if [[ ! -f "$KV/.installed" ]]; then
  log "kubernetes-validate $KUBERNETES_VALIDATE from PyPI (a venv)"
  rm -rf "$KV" && python3 -m venv "$KV" >&2
  "$KV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE" >&2
  touch "$KV/.installed"
fi

node -e '
  const [dir, cnpg, cm, minio, helm, kv, ...k8s] = process.argv.slice(1);
  const versions = {
    kubernetes: k8s.map((v) => ({ version: v, dir: `kubernetes-${v}`, module: `k8s.io/kubernetes@${v}` })),
    cnpg: { version: cnpg, dir: `cnpg-${cnpg}`, module: `github.com/cloudnative-pg/cloudnative-pg@${cnpg}` },
    certManager: { version: cm, dir: `cert-manager-${cm}`, module: `github.com/cert-manager/cert-manager@${cm}` },
    charts: {
      minio: { dir: `charts/minio-${minio}`, module: `github.com/minio/minio@${minio}` },
      "cert-manager": { dir: `charts/cert-manager-${cm}`, module: `github.com/cert-manager/cert-manager@${cm}` },
    },
    helm: { version: helm, bin: "bin/helm", module: `helm.sh/helm/v4@${helm}` },
    peer: { name: "kubernetes-validate", version: kv, bin: `kubernetes-validate-${kv}/bin/kubernetes-validate` },
  };
  require("fs").writeFileSync(`${dir}/versions.json`, JSON.stringify(versions, null, 2) + "\n");
 ' "$DIR" "$CNPG_VERSION" "$CERT_MANAGER_VERSION" "$MINIO_MODULE" "$HELM_VERSION" "$KUBERNETES_VALIDATE" "${K8S_VERSIONS[@]}"
echo "$WANT" > "$STAMP"
log "ready in $DIR ($(( $(date +%s) - start ))s)"
echo "$DIR"
