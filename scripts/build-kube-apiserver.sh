#!/usr/bin/env bash
# Prints the path of a kube-apiserver of the pinned Kubernetes release, building it first
# when the cache lacks it. For the node bridge's tests only; the product never needs it.
#
# The binary is built from the Kubernetes source that the Go module proxy serves, through
# the wrapper module test/k8s/kube-apiserver (go.mod pins k8s.io/kubernetes and its staging
# modules; `go install k8s.io/kubernetes/...@version` refuses the replace directives of
# Kubernetes' own go.mod). Cost of a build: about 15 minutes on 2 cores with empty Go caches,
# seconds when cached. Cache: $DEVICEAPI_CACHE_DIR (default ~/.cache/device-api-server).
# Usage: KUBE_APISERVER=$(scripts/build-kube-apiserver.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module="$root/test/k8s/kube-apiserver"
version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$module/go.mod")
cache=${DEVICEAPI_CACHE_DIR:-$HOME/.cache/device-api-server}
bin="$cache/kube-apiserver-$version"
# The module's go.sum is part of the key: a change of any pinned module rebuilds.
stamp="$bin.sum"
if [ -x "$bin" ] && cmp -s "$stamp" "$module/go.sum"; then echo "$bin"; exit 0; fi

go=$("$root/scripts/install-go.sh")
mkdir -p "$cache"
echo "build-kube-apiserver: building kube-apiserver $version (cached afterwards in $cache)" >&2
cd "$module"
GOFLAGS=-mod=readonly GOTOOLCHAIN=local \
  "$go" build -trimpath -o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$bin.tmp" "$bin"
cp "$module/go.sum" "$stamp"
echo "$bin"
