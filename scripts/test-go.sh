#!/usr/bin/env bash
# The Go client's tests (clients/go): unit tests, the staleness check of its generated code,
# and its integration tests against the server binary of a build tree.
# Usage: scripts/test-go.sh BUILD_DIR   (the tree holding cmd/device-api-server)
# Installs Go when missing (scripts/install-go.sh). Modules come from the Go module proxy,
# pinned by clients/go/go.sum (-mod=readonly); the build cache is Go's usual
# ~/.cache/go-build, so reruns compile only what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
go=$("$root/scripts/install-go.sh")
export PATH="$(dirname "$go"):$PATH" GOFLAGS=-mod=readonly GOTOOLCHAIN=local
export DEVICE_API_SERVER_BIN="$build/cmd/device-api-server/device-api-server"
export KUBE_WATCHLIST_INCONSISTENCY_DETECTOR=1
cd "$root/clients/go"
# Every test that runs a server lives in one package (test/integration), so packages can
# build and run in parallel without servers competing. The whole run is bounded.
exec go test -count=1 -timeout "${GO_TEST_TIMEOUT:-15m}" ./...
