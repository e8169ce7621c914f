#!/usr/bin/env bash
# Runs device-api-server and nvml-provider against this machine's REAL NVIDIA
# driver and prints what they registered: the GPU objects and, per GPU, the
# NVML event types the driver accepted. Exits non-zero when no driver or GPU
# is usable, or when a GPU does not show up within the timeout.
#
# Builds what it needs into BUILD_DIR (default <repo>/build/gpu-check) unless
# the three binaries are already there (so a machine without build tools can
# run a tree built elsewhere). Environment: BUILD_DIR, NVIDIA_DRIVER_ROOT
# (default /), TIMEOUT_S (default 60).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/gpu-check}
server_bin=$build/cmd/device-api-server/device-api-server
provider_bin=$build/cmd/nvml-provider/nvml-provider
ctl_bin=$build/cmd/devicectl/devicectl
timeout_s=${TIMEOUT_S:-60}

if [ ! -x "$server_bin" ] || [ ! -x "$provider_bin" ] || [ ! -x "$ctl_bin" ]; then
  "$root/scripts/install-deps.sh"
  TARGETS="device-api-server nvml-provider devicectl" \
    "$root/scripts/build.sh" "$build" -DDEVICEAPI_BUILD_TESTS=OFF -DDEVICEAPI_BUILD_BENCHMARKS=OFF
fi

echo "== driver"
ls -l /dev/nvidiactl /dev/nvidia[0-9]* 2>/dev/null || echo "(no /dev/nvidia* device nodes)"
command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "(nvidia-smi not available)"

work=$(mktemp -d /tmp/gpu-check.XXXXXX)
socket=$work/api.sock
target=unix://$socket
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT

"$server_bin" --bind-address "$target" --metrics-bind-address "" --health-probe-bind-address "" \
  --storage-type sqlite --storage-endpoint "sqlite://$work/state.db" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  "$ctl_bin" -s "$target" health >/dev/null 2>&1 && break
  sleep 0.1
done

"$provider_bin" --server "$target" --admin-address "127.0.0.1:0" --reconcile-interval 5s \
  ${NVIDIA_DRIVER_ROOT:+--driver-root "$NVIDIA_DRIVER_ROOT"} >"$work/provider.log" 2>&1 &
pids+=($!)

ok=0
for _ in $(seq 1 $((timeout_s * 10))); do
  if grep -q "first sync done" "$work/provider.log"; then ok=1; break; fi
  kill -0 "${pids[1]}" 2>/dev/null || break
  sleep 0.1
done

echo
echo "== nvml-provider log (startup)"
grep -E "loaded NVML|gpu index=|events index=|startup gpu=|first sync|cannot start|warn" "$work/provider.log" || true
if [ "$ok" != 1 ]; then
  echo
  echo "FAILED: the provider did not finish its first sync; full log:" >&2
  cat "$work/provider.log" >&2
  exit 1
fi

echo
echo "== event types accepted at registration, per GPU"
grep "events index=" "$work/provider.log" | sed 's/^.*events //'

echo
echo "== registered GPU objects"
"$ctl_bin" -s "$target" get gpus -o wide || "$ctl_bin" -s "$target" get gpus
echo
"$ctl_bin" -s "$target" get gpus -o yaml

count=$("$ctl_bin" -s "$target" get gpus -o name | wc -l)
echo
echo "== $count GPU(s) registered"
[ "$count" -gt 0 ]
