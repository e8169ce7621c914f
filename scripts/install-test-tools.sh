#!/usr/bin/env bash
# Installs the extra tools the deployment tests use, into a cache directory:
#   helm         (Go module helm.sh/helm/v3, pinned)
#   grpcurl      (Go module github.com/fullstorydev/grpcurl, pinned)
#   kubeconform  (Go module github.com/yannh/kubeconform, pinned)
#   promtool     (Debian package prometheus)
#   systemd-analyze (Debian package systemd; optional, the systemd test skips without it)
#   python3 + python3-yaml (the tests are Python scripts)
# and the schemas kubeconform validates against, generated offline from
#   k8s.io/kubernetes (api/openapi-spec/swagger.json) and
#   github.com/prometheus-operator/prometheus-operator (CRDs for ServiceMonitor, PrometheusRule),
# both fetched as Go modules.
#
# Cost: about 8 minutes with empty Go caches (downloads + building helm on 2 cores), under a
# minute with a warm Go build cache, nothing when TOOLS_DIR is complete.
# Usage: scripts/install-test-tools.sh [TOOLS_DIR]   (default: <repo>/build/tools,
#        or $DEVICEAPI_TOOLS_DIR). Prints nothing and returns quickly when all is in place.
# Afterwards: TOOLS_DIR/bin/{helm,kubeconform}, TOOLS_DIR/schemas/*.json.
set -euo pipefail

HELM_VERSION=v3.22.0
GRPCURL_VERSION=v1.9.3              # docs/api.md examples are run with it
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=v1.34.2          # schemas validated against (k8s.io/kubernetes module)
PROM_OPERATOR_VERSION=v0.85.0      # CRD schemas (monitoring.coreos.com/v1)

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${1:-${DEVICEAPI_TOOLS_DIR:-$root/build/tools}}
mkdir -p "$tools/bin"
tools=$(cd "$tools" && pwd)
stamp="$tools/.stamp-$HELM_VERSION-$KUBECONFORM_VERSION-$KUBERNETES_VERSION-$PROM_OPERATOR_VERSION"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "install-test-tools: $*" >&2; }

# --- Debian packages ---------------------------------------------------------
apt_updated=0
apt_install() {
  if [ $apt_updated -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import yaml' 2>/dev/null; then
  log "installing Debian packages python3 python3-yaml (the tests and schema generator)"
  apt_install python3 python3-yaml
fi
if ! command -v promtool >/dev/null 2>&1; then
  log "installing Debian package prometheus (for promtool)"
  apt_install prometheus
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  # Optional: containers without systemd may refuse it; the systemd test skips loudly.
  log "installing Debian package systemd (for systemd-analyze)"
  apt_install systemd || log "systemd not installable here; the systemd unit test will skip"
fi
# The Dockerfile test asks apt-cache about Debian 12 packages: it needs package lists.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && [ $apt_updated -eq 0 ]; then
  log "fetching Debian package lists"
  $SUDO apt-get update -qq
fi

# grpcurl has its own check, so a tools dir from before it was added gains it.
if ! [ -x "$tools/bin/grpcurl" ]; then
  if ! command -v go >/dev/null 2>&1; then
    for d in /usr/local/go/bin "$HOME/go/bin" /usr/lib/go/bin; do
      [ -x "$d/go" ] && PATH="$d:$PATH" && break
    done
  fi
  log "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  GOBIN="$tools/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
fi

[ -f "$stamp" ] && [ -x "$tools/bin/helm" ] && [ -x "$tools/bin/kubeconform" ] && exit 0

# --- Go tools ------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
  for d in /usr/local/go/bin "$HOME/go/bin" /usr/lib/go/bin; do
    [ -x "$d/go" ] && PATH="$d:$PATH" && break
  done
fi
command -v go >/dev/null 2>&1 || { log "FATAL: a Go toolchain (1.22 or newer) is required to build helm and kubeconform"; exit 1; }
# (A helm built by go install reports no patch version, so the installed one is recorded.)
if ! [ -x "$tools/bin/helm" ] || ! grep -qx "$HELM_VERSION" "$tools/bin/.helm-version" 2>/dev/null; then
  log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  GOBIN="$tools/bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$tools/bin/.helm-version"
fi
if ! [ -x "$tools/bin/kubeconform" ] || ! grep -qx "$KUBECONFORM_VERSION" "$tools/bin/.kubeconform-version" 2>/dev/null; then
  log "go install github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  GOBIN="$tools/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$KUBECONFORM_VERSION" > "$tools/bin/.kubeconform-version"
fi

# --- Schemas -------------------------------------------------------------------
moddir() { go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))'; }
k8s=$(moddir "k8s.io/kubernetes@$KUBERNETES_VERSION")
promop=$(moddir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")
rm -rf "$tools/schemas.tmp"
python3 "$root/test/e2e/deploy/gen_schemas.py" \
  --swagger "$k8s/api/openapi-spec/swagger.json" \
  --crd "$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
  --crd "$promop/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
  --out "$tools/schemas.tmp"
rm -rf "$tools/schemas"
mv "$tools/schemas.tmp" "$tools/schemas"

rm -f "$tools"/.stamp-*
touch "$stamp"
log "tools ready in $tools"
