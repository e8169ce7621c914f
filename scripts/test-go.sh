#!/usr/bin/env bash
# The Go module's tests (clients/go): unit tests, the staleness check of its generated code,
# its integration tests against the server binary of a build tree, the device plugin's, and
# the node bridge's end-to-end tests against a real etcd and kube-apiserver (with the
# tree's nvml-provider on its fake NVML library).
# Usage: scripts/test-go.sh BUILD_DIR   (the tree holding cmd/device-api-server,
#        cmd/nvml-provider and fake-driver-root)
# Installs Go when missing (scripts/install-go.sh). Modules come from the Go module proxy,
# pinned by clients/go/go.sum (-mod=readonly); the build cache is Go's usual
# ~/.cache/go-build, so reruns compile only what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
go=$("$root/scripts/install-go.sh")
export PATH="$(dirname "$go"):$PATH" GOFLAGS=-mod=readonly GOTOOLCHAIN=local
export DEVICE_API_SERVER_BIN="$build/cmd/device-api-server/device-api-server"
# The control plane of the bridge's tests: etcd from Debian (scripts/install-deps.sh), the
# kube-apiserver of the pinned release built from the Go module proxy and cached.
# (Assigned before exported: `export X=$(cmd)` would hide a failed build, and the bridge's
# tests would then skip instead of fail.)
etcd_bin=${ETCD_BIN:-$(command -v etcd || true)}
kube_apiserver_bin=${KUBE_APISERVER_BIN:-}
[ -n "$kube_apiserver_bin" ] || kube_apiserver_bin=$("$root/scripts/build-kube-apiserver.sh")
export ETCD_BIN=$etcd_bin KUBE_APISERVER_BIN=$kube_apiserver_bin
[ -x "$ETCD_BIN" ] || { echo "test-go: etcd not found (scripts/install-deps.sh installs etcd-server)" >&2; exit 1; }
export KUBE_WATCHLIST_INCONSISTENCY_DETECTOR=1
cd "$root/clients/go"
# Tests that run servers live in test/integration, test/deviceplugin and test/k8s; each
# package's tests use their own sockets, ports and temporary directories, so packages run
# in parallel. The whole run is bounded.
exec go test -count=1 -timeout "${GO_TEST_TIMEOUT:-15m}" ./...
