#!/usr/bin/env bash
# Prints the directory holding kube-apiserver and etcd for envtest (KUBEBUILDER_ASSETS).
#
# Order: $KUBEBUILDER_ASSETS if set -> setup-envtest's store (already installed)
# -> setup-envtest download (short timeout) -> build both from the Go module proxy
# into setup-envtest's store, outside the clone, so later runs reuse them.
# Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

K8S_VERSION=${ENVTEST_K8S_VERSION:-1.37.2}
ETCD_VERSION=${ENVTEST_ETCD_VERSION:-3.6.6}
SETUP_ENVTEST=${SETUP_ENVTEST:-bin/setup-envtest}
STORE=${ENVTEST_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}
GOOS_=$(go env GOOS)
GOARCH_=$(go env GOARCH)
DEST="$STORE/k8s/${K8S_VERSION}-${GOOS_}-${GOARCH_}"
log() { echo "envtest-assets: $*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/kube-apiserver" ]]; then
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi
if [[ -x "$DEST/kube-apiserver" && -x "$DEST/etcd" ]]; then
  echo "$DEST"; exit 0
fi
if [[ -x "$SETUP_ENVTEST" ]]; then
  if p=$("$SETUP_ENVTEST" use -i "$K8S_VERSION" --bin-dir "$STORE" -p path 2>/dev/null) && [[ -x "$p/kube-apiserver" ]]; then
    echo "$p"; exit 0
  fi
  log "downloading envtest assets $K8S_VERSION (60s timeout)"
  if p=$(timeout 60 "$SETUP_ENVTEST" use "$K8S_VERSION" --bin-dir "$STORE" -p path 2>/dev/null) && [[ -x "$p/kube-apiserver" ]]; then
    echo "$p"; exit 0
  fi
  log "download failed; building from the Go module proxy instead"
fi

WORK=${ENVTEST_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sim-operator/envtest-build}
mkdir -p "$WORK/apiserver" "$WORK/etcd" "$DEST"

build_apiserver() {
  cd "$WORK/apiserver"
  log "building kube-apiserver v$K8S_VERSION from source in $WORK/apiserver (cold: ~5 min on 2 cores)"
  cat > go.mod <<GOMOD
module envtestbuild/apiserver

go 1.26

require k8s.io/kubernetes v$K8S_VERSION
GOMOD
  # k8s.io/kubernetes points its staging modules at ./staging; pin each to its published v0.x tag.
  kgomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging_v="v0.${K8S_VERSION#1.}"
  grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$kgomod" | awk '{print $1}' | sort -u | while read -r m; do
    echo "replace $m => $m $staging_v" >> go.mod
  done
  cat > tools.go <<'GOSRC'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GOSRC
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$DEST/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
}

build_etcd() {
  cd "$WORK/etcd"
  log "building etcd v$ETCD_VERSION from source in $WORK/etcd"
  cat > go.mod <<GOMOD
module envtestbuild/etcd

go 1.26

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
GOMOD
  cat > tools.go <<'GOSRC'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GOSRC
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$DEST/etcd" go.etcd.io/etcd/server/v3
}

[[ -x "$DEST/etcd" ]] || (build_etcd)
[[ -x "$DEST/kube-apiserver" ]] || (build_apiserver)
log "envtest assets ready in $DEST"
echo "$DEST"
