#!/usr/bin/env bash
# S27 benchmark: a long status-update load on the sqlite backend, sampling the
# database and WAL sizes, to show the file stays flat once the history is full.
#   bench/storage_bounds.sh <build-dir> [updates (default 1000000)] [gpus (default 1024)]
# Prints one line per sample: seconds, updates acknowledged so far (from the
# server's revision), database bytes, WAL bytes, server RSS.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/storage_bounds.sh <build-dir> [updates] [gpus]}" && pwd)
UPDATES=${2:-1000000}
GPUS=${3:-1024}
SERVER=$BUILD/cmd/device-api-server/device-api-server
BENCH=$BUILD/cmd/device-api-bench/device-api-bench
TMP=$(mktemp -d /tmp/dab-bounds-XXXXXX)
SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

"$SERVER" --bind-address "unix://$TMP/api.sock" --metrics-bind-address 127.0.0.1:0 \
  --health-probe-bind-address 0 --storage-type sqlite --storage-endpoint "sqlite://$TMP/state.db" \
  --log-format text >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 500); do [[ -S $TMP/api.sock ]] && break; sleep 0.01; done
sleep 0.2
METRICS=$(grep -o 'metrics=127.0.0.1:[0-9]*' "$TMP/server.log" | head -1 | cut -d= -f2)
updates() {
  curl -s "http://$METRICS/metrics" | awk '/^device_apiserver_store_writes_total\{verb="update"\}/ {print $2}'
}

"$BENCH" --target "unix://$TMP/api.sock" --server-pid "$SERVER_PID" --storage sqlite --no-progress \
  --gpus "$GPUS" --conditions 8 --warmup 0 --concurrency 4 --requests "$UPDATES" update-status \
  >"$TMP/bench.out" 2>&1 &
BENCH_PID=$!
start=$(date +%s)
printf '%8s %12s %14s %12s %10s\n' seconds writes database_bytes wal_bytes rss_kib
while kill -0 "$BENCH_PID" 2>/dev/null; do
  sleep "${SAMPLE_SECONDS:-10}"
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
  printf '%8s %12s %14s %12s %10s\n' "$(( $(date +%s) - start ))" \
    "$(updates)" \
    "$(stat -c %s "$TMP/state.db")" "$(stat -c %s "$TMP/state.db-wal" 2>/dev/null || echo 0)" "$rss"
done
wait "$BENCH_PID" || true
cat "$TMP/bench.out"
printf 'final: database %s bytes, WAL %s bytes\n' "$(stat -c %s "$TMP/state.db")" \
  "$(stat -c %s "$TMP/state.db-wal" 2>/dev/null || echo 0)"
