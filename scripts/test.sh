#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. normal build, every test (unit, integration, e2e);
#   2. ASan+UBSan build, every test;
#   3. TSan build, the store's tests (pure C++, no gRPC threads);
#   4. go: the Go module (clients/go: client, device plugin, node bridge) against the
#      normal build's server and provider, and a real etcd and kube-apiserver
#      (scripts/test-go.sh);
#   5. fuzz: the libFuzzer targets of test/fuzz/ (clang, ASan+UBSan), each
#      replaying its checked-in corpus, then fuzzing for FUZZ_SECONDS (30)
#      from the fixed FUZZ_SEED (1), so that a finding reproduces.
# Installs what it needs first. Set SUITES="normal asan tsan go fuzz" to choose.
# A test that fails is run once more; one that passes then does not fail the
# suite, but the summary at the end names it, so that flakiness stays visible.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
suites=${SUITES:-normal go asan tsan fuzz}
jobs=${JOBS:-$(nproc)}
status=0
summary=()   # one line per suite, printed last so that the end of a CI log says what failed
started=$SECONDS

# note SUITE RESULT [DETAIL...]: records a suite's outcome for the summary.
note() { summary+=("$(printf '%-7s %s' "$1" "${*:2}")"); }

run_suite() {
  local name=$1 dir=$2 label=$3; shift 3
  echo "=== $name: build ($dir)"
  "$root/scripts/build.sh" "$dir" "$@" || { status=1; note "$name" "FAILED: build"; return; }
  echo "=== $name: test"
  local args=(--test-dir "$dir" --output-on-failure -j "$jobs" --timeout 300)
  [ -n "$label" ] && args+=(-L "$label")
  local t0=$SECONDS log="$dir/ctest.log"
  if ctest "${args[@]}" --repeat until-pass:2 2>&1 | tee "$log"; then
    local flaky
    flaky=$(grep -E 'Test +#[0-9]+: .*\*\*\*(Failed|Timeout|Exception)' "$log" | sed -E 's/.*#[0-9]+: ([^ ]+).*/\1/' |
      sort -u | tr '\n' ' ' || true)
    note "$name" "ok ($((SECONDS - t0)) s of tests)${flaky:+; passed only when run again: $flaky}"
  else
    status=1
    note "$name" "FAILED: $(tr '\n' ' ' <"$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null)"
  fi
}

# Any crash, sanitizer report, leak, timeout (10 s for one input) or
# out-of-memory fails the suite; the input is kept in build/fuzz/artifacts/.
run_fuzz() {
  local dir="$root/build/fuzz" seconds=${FUZZ_SECONDS:-30}
  echo "=== fuzz: build ($dir)"
  TARGETS=fuzzers "$root/scripts/build.sh" "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDEVICEAPI_BUILD_FUZZERS=ON \
    -DDEVICEAPI_BUILD_TESTS=OFF -DDEVICEAPI_BUILD_BENCHMARKS=OFF -DDEVICEAPI_STATIC_GRPC=OFF \
    -DDEVICEAPI_SANITIZE=address,undefined || { status=1; note fuzz "FAILED: build"; return; }
  echo "=== fuzz: run (${seconds} s each)"
  mkdir -p "$dir/artifacts"
  local seeds name work dict failed=""
  for seeds in "$root"/test/fuzz/corpus/*/; do
    name=$(basename "$seeds")
    work="$dir/corpus/$name"  # new inputs go here, never into the checked-in seeds
    mkdir -p "$work"
    dict=()
    [ -f "$root/test/fuzz/$name.dict" ] && dict=(-dict="$root/test/fuzz/$name.dict")
    if "$dir/test/fuzz/${name}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -seed="${FUZZ_SEED:-1}" -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name-" "${dict[@]}" \
        "$work" "$seeds" >"$dir/$name.log" 2>&1; then
      echo "$name: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$dir/$name.log" | grep -o '[0-9]*$') runs, no crash"
    else
      echo "$name: FAILED (log: $dir/$name.log)"
      tail -n 60 "$dir/$name.log"
      status=1
      failed+=" $name"
    fi
  done
  if [ -n "$failed" ]; then note fuzz "FAILED:$failed"; else note fuzz ok; fi
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
    go)     echo "=== go: build ($root/build/test: the server, the provider, the fake NVML)"
            TARGETS="device-api-server nvml-provider fake_nvml" "$root/scripts/build.sh" "$root/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
              || { status=1; note go "FAILED: build"; continue; }
            echo "=== go: test"
            mkdir -p "$root/build/test"
            go_log="$root/build/test/go-test.log"
            if "$root/scripts/test-go.sh" "$root/build/test" 2>&1 | tee "$go_log"; then
              note go ok
            else
              first=$(grep -E '^(--- FAIL|FAIL|panic:)' "$go_log" | head -20 | tr '\n' ' ' || true)
              echo "=== go: test again (failed: $first)"
              if "$root/scripts/test-go.sh" "$root/build/test" 2>&1 | tee "$go_log"; then
                note go "ok; passed only when run again: $first"
              else
                status=1
                note go "FAILED: $(grep -E '^(--- FAIL|FAIL|panic:)' "$go_log" | head -20 | tr '\n' ' ' || true)"
              fi
            fi ;;
    fuzz)   run_fuzz ;;
    *) echo "unknown suite $s" >&2; exit 2 ;;
  esac
done
echo "=== summary ($(nproc) cores, ctest -j $jobs, $((SECONDS - started)) s)"
printf '%s\n' "${summary[@]}"
exit $status
