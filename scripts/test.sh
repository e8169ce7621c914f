#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. normal build, every test (unit, integration, e2e);
#   2. ASan+UBSan build, every test;
#   3. TSan build, the store's tests (pure C++, no gRPC threads);
#   4. go: the Go client (clients/go) against the normal build's server (scripts/test-go.sh).
# Installs what it needs first. Set SUITES="normal asan tsan go" to choose.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
suites=${SUITES:-normal go asan tsan}
jobs=${JOBS:-$(nproc)}
status=0

run_suite() {
  local name=$1 dir=$2 label=$3; shift 3
  echo "=== $name: build ($dir)"
  "$root/scripts/build.sh" "$dir" "$@"
  echo "=== $name: test"
  local args=(--test-dir "$dir" --output-on-failure -j "$jobs" --timeout 300)
  [ -n "$label" ] && args+=(-L "$label")
  ctest "${args[@]}" || status=1
}

for s in $suites; do
  case $s in
    normal) run_suite normal "$root/build/test" "" -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan)   ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_suite asan "$root/build/asan" "" -DCMAKE_BUILD_TYPE=Debug \
              -DDEVICEAPI_SANITIZE=address,undefined -DDEVICEAPI_BUILD_BENCHMARKS=OFF ;;
    tsan)   TARGETS=store_tests TSAN_OPTIONS=halt_on_error=1 \
            run_suite tsan "$root/build/tsan" store -DCMAKE_BUILD_TYPE=RelWithDebInfo \
              -DDEVICEAPI_SANITIZE=thread -DDEVICEAPI_BUILD_BENCHMARKS=OFF ;;
    go)     echo "=== go: build ($root/build/test, the server only)"
            TARGETS=device-api-server "$root/scripts/build.sh" "$root/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
            echo "=== go: test"
            "$root/scripts/test-go.sh" "$root/build/test" || status=1 ;;
    *) echo "unknown suite $s" >&2; exit 2 ;;
  esac
done
exit $status
