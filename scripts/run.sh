#!/usr/bin/env bash
# Builds and runs the node-local stack in the foreground:
#   device-api-server on a Unix socket under <repo>/run/, its state in <repo>/run/state.db and
#   the providers' leases in <repo>/run/state-leases.db (kept across runs: faults survive a
#   restart; delete both files, with their -wal and -shm, to start empty),
#   nvml-provider on the real NVML when this machine has an NVIDIA GPU driver,
#   otherwise on the fake libnvidia-ml.so.1 with 8 simulated H100 GPUs.
# Prints how to reach the server, how to inject a fault and how to see it.
# Ctrl-C (or SIGTERM) stops both.
#
# Environment: BUILD_DIR (default <repo>/build/run), RUN_DIR (default <repo>/run),
# FAKE_GPUS (default 8), USE_FAKE_NVML=1 to force the fake even on a GPU machine,
# RECONCILE_INTERVAL (default 30s), JOBS (parallel build jobs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/run}
run=$(realpath -m "${RUN_DIR:-$root/run}")  # absolute: the server takes only absolute paths
gpus=${FAKE_GPUS:-8}
socket=$run/device-api.sock
fake_socket=$run/fake-nvml.sock
target=unix://$socket

pids=()
cleanup() {
  trap - INT TERM EXIT
  ((${#pids[@]})) || return 0
  echo >&2
  echo "stopping ..." >&2
  # Provider first, so its last writes reach the server; then the server.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  rm -f "$fake_socket"
  echo "stopped" >&2
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

"$root/scripts/install-deps.sh"

echo "building in $build ..." >&2
TARGETS="device-api-server nvml-provider devicectl fake_nvml fake-nvml-ctl" \
  "$root/scripts/build.sh" "$build" -DDEVICEAPI_BUILD_TESTS=OFF -DDEVICEAPI_BUILD_BENCHMARKS=OFF

server_bin=$build/cmd/device-api-server/device-api-server
provider_bin=$build/cmd/nvml-provider/nvml-provider
ctl_bin=$build/cmd/devicectl/devicectl
fake_ctl_bin=$build/tools/fake-nvml/fake-nvml-ctl
for b in "$server_bin" "$provider_bin" "$ctl_bin" "$fake_ctl_bin"; do
  [ -x "$b" ] || { echo "missing after build: $b" >&2; exit 1; }
done

mkdir -p "$run"

# Real NVML only when the driver's device node exists and the library loads.
real_nvml=0
if [ -z "${USE_FAKE_NVML:-}" ] && [ -e /dev/nvidiactl ]; then
  if python3 -c 'import ctypes; ctypes.CDLL("libnvidia-ml.so.1")' 2>/dev/null \
     || ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml.so.1'; then
    real_nvml=1
  fi
fi


# A server left over from an earlier run would make the new one refuse the socket.
if [ -S "$socket" ] && "$ctl_bin" -s "$target" health >/dev/null 2>&1; then
  echo "another device-api-server is already serving $socket; stop it first" >&2
  exit 1
fi

"$server_bin" --bind-address "$target" \
  --metrics-bind-address "${METRICS_ADDRESS:-127.0.0.1:8081}" \
  --health-probe-bind-address "" \
  --storage-type sqlite --storage-endpoint "sqlite://$run/state.db" \
  >"$run/device-api-server.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  "$ctl_bin" -s "$target" health >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$run/device-api-server.log" >&2; exit 1; }
  sleep 0.1
done

provider_args=(--server "$target" --admin-address "${PROVIDER_ADMIN_ADDRESS:-127.0.0.1:8082}"
               --reconcile-interval "${RECONCILE_INTERVAL:-30s}")
if [ "$real_nvml" = 1 ]; then
  mode="real NVML (driver root ${NVIDIA_DRIVER_ROOT:-/})"
  "$provider_bin" "${provider_args[@]}" >"$run/nvml-provider.log" 2>&1 &
else
  mode="fake NVML, $gpus simulated GPUs"
  FAKE_NVML_CONTROL=$fake_socket FAKE_NVML_GPUS=$gpus \
    "$provider_bin" "${provider_args[@]}" --driver-root "$build/fake-driver-root" \
    >"$run/nvml-provider.log" 2>&1 &
fi
pids+=($!)

for _ in $(seq 1 100); do
  grep -q "first sync done" "$run/nvml-provider.log" 2>/dev/null && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$run/nvml-provider.log" >&2; exit 1; }
  sleep 0.1
done

first=""
if [ "$real_nvml" = 0 ]; then  # object name of simulated GPU 0: its UUID in lower case
  first=$("$fake_ctl_bin" --socket "$fake_socket" state | grep -o '"uuid":"GPU-[0-9a-fA-F-]*"' | head -1 \
          | cut -d'"' -f4 | tr 'A-Z' 'a-z')
fi
cat <<EOF

Device API server is running ($mode).
  socket:            $socket
  server logs:       $run/device-api-server.log
  server state:      $run/state.db, leases in $run/state-leases.db  (survive restarts;
                     to start empty, stop and delete both: rm -f $run/state.db* $run/state-leases.db*)
  provider logs:     $run/nvml-provider.log
  server metrics:    http://${METRICS_ADDRESS:-127.0.0.1:8081}/metrics
  provider health:   http://${PROVIDER_ADMIN_ADDRESS:-127.0.0.1:8082}/readyz  (and /healthz, /metrics)

List the GPUs:
  $ctl_bin -s $target get gpus
Watch them change:
  $ctl_bin -s $target get gpus -w
EOF
if [ "$real_nvml" = 0 ]; then
  cat <<EOF

Inject Xid 79 (GPU fallen off the bus) on GPU 0 of the fake NVML:
  $fake_ctl_bin --socket $fake_socket xid 0 79
See GPU 0 turn unhealthy (NVMLReady=False, reason GPULost, recommended action RESTART_BM):
  $ctl_bin -s $target describe gpu ${first:-<name>}
Other faults: xid GPU XID | ecc GPU dbe | lost GPU | recovery GPU 1 | reset GPU  (see fake-nvml-ctl --help)
EOF
fi
echo
echo "Ctrl-C stops both."

# Stay in the foreground until Ctrl-C or until either process exits.
while kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; do
  sleep 1
done
echo "a process exited; see the logs in $run" >&2
exit 1
