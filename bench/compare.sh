#!/usr/bin/env bash
# This project's server against another server of the base contract (NVIDIA
# NVSentinel's Go device-api-server: scripts/build-nvsentinel.sh), with
# `device-api-bench compare`: both started afresh each round, five
# interleaved rounds, every figure as a ratio ours/theirs. Writes the JSON
# report to <out.json> and prints the markdown table of docs/benchmarks.md.
#   bench/compare.sh <build-dir> <their-server> [out.json] [device-api-bench flags...]
# Environment: OURS_STORAGE (the backends of ours to measure, each as its own
# server: "memory sqlite", the default, or one of them), THEIR_LABEL (nvs),
# THEIR_SHAPE (merged, or pr-head for a server built from the head of
# NVSentinel's pull request #720). Takes about 5.5 minutes on 2 cores with one
# backend of ours, 7.5 with both.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/compare.sh <build-dir> <their-server> [out.json] [flags...]}" && pwd)
THEIRS=${2:?usage: bench/compare.sh <build-dir> <their-server> [out.json] [flags...]}
OUT=${3:-compare.json}
shift $(( $# < 3 ? $# : 3 ))
HERE=$(cd "$(dirname "$0")" && pwd)
LABEL=${THEIR_LABEL:-nvs}
ours=()
for storage in ${OURS_STORAGE:-memory sqlite}; do
  [[ $storage == memory || $storage == sqlite ]] || {
    echo "OURS_STORAGE: '$storage' is neither memory nor sqlite" >&2
    exit 2
  }
  label=ours-$storage
  ours+=(--server "$label=$BUILD/cmd/device-api-server/device-api-server"
         --server-arg "$label=--metrics-bind-address=0"
         --server-arg "$label=--health-probe-bind-address=0"
         --server-arg "$label=--storage-type=$storage")
  if [[ $storage == sqlite ]]; then
    ours+=(--server-arg "$label=--storage-sync=normal"
           --server-arg "$label=--storage-endpoint=sqlite://{dir}/state.db")
  fi
done
# NVSentinel's health and metrics listeners are TCP and cannot be turned
# off: a free port each, so that servers never collide. Its GPU service keeps
# its state in memory whatever its storage flags say.
"$BUILD/cmd/device-api-bench/device-api-bench" compare \
  "${ours[@]}" \
  --server "$LABEL=$THEIRS" --request-shape "$LABEL=${THEIR_SHAPE:-merged}" \
  --server-arg "$LABEL=--health-probe-bind-address=127.0.0.1:{port}" \
  --server-arg "$LABEL=--metrics-bind-address=127.0.0.1:{port}" \
  --rounds 5 --gpus 1024 --conditions 8 --watchers 100 --rate 200 --burst-rate 1000 \
  --memory-conditions 32 --requests 6000 --duration 2 --warmup 0.5 --json "$@" >"$OUT" ||
  echo "(problems recorded in $OUT)" >&2
python3 "$HERE/summarize.py" --compare "$OUT"
