#!/usr/bin/env bash
# Compares the Go client with the C++ bench on one server: starts BUILD_DIR's
# device-api-server on a private socket, seeds 1,024 GPUs x 8 conditions for each client,
# then runs ROUNDS rounds of device-api-bench (noop, get; concurrency 1) and
# device-api-go-bench (get, informer-sync), alternating, and prints every result line.
# Usage: scripts/bench-go.sh BUILD_DIR [ROUNDS]   (docs/benchmarks.md has the figures)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: $0 BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-3}
go=$("$root/scripts/install-go.sh")
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
(cd "$root/clients/go" && GOFLAGS=-mod=readonly "$go" build -o "$tmp/device-api-go-bench" ./cmd/device-api-go-bench)
"$build/cmd/device-api-server/device-api-server" --bind-address="unix://$tmp/api.sock" \
  --health-probe-bind-address=0 --metrics-bind-address=0 --log-format=text --storage-type=memory \
  2>"$tmp/server.log" &
server=$!
for _ in $(seq 100); do [ -S "$tmp/api.sock" ] && break; sleep 0.1; done
for r in $(seq "$rounds"); do
  echo "# round $r"
  "$build/cmd/device-api-bench/device-api-bench" --target "unix://$tmp/api.sock" --server-pid "$server" \
    --gpus 1024 --conditions 8 --concurrency 1 --duration 5 --warmup 0.5 --json --no-progress noop get
  "$tmp/device-api-go-bench" --target "unix://$tmp/api.sock" --gpus 1024 --conditions 8 \
    --duration 5s --warmup 500ms --runs 5
done
