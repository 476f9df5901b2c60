#!/usr/bin/env bash
# Checks the layers (scripts/check-layers.sh: no build, so first), then
# builds nblog and runs the whole test suite several ways:
#   1. plain   gcc -O2, asserts on: every test   (clang also builds the tree)
#   2. asan    gcc -O1, ASan + UBSan: every test (record counts scaled down)
#   3. tsan    clang, ThreadSanitizer: tests labelled "stress"
#   4. fuzz    clang libFuzzer + ASan + UBSan on the ring-file reader (and
#              the follow path, file changing under it), ~60 s; nblog
#              dmesg's time/level parsers and nblog symbolize's frame
#              parser, ~10 s each
# Tests labelled "net" (a real rsyslog on loopback, a systemd-journald
# namespace instance) run in plain and asan.
# Usage: scripts/test.sh [plain|asan|tsan|clang|fuzz]...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
OUT=${NBLOG_BUILD_ROOT:-build}
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(plain clang asan tsan fuzz)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

configure_build() { # dir cmake-args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithAsserts "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
}

echo "=== nblog layer check ==="
bash scripts/check-layers.sh

for step in "${steps[@]}"; do
  echo "=== nblog tests: $step ==="
  case $step in
    plain)
      configure_build "$OUT/plain" -DCMAKE_C_COMPILER=gcc
      ctest --test-dir "$OUT/plain" --output-on-failure -j"$JOBS" ;;
    clang)
      configure_build "$OUT/clang" -DCMAKE_C_COMPILER=clang -DNBLOG_BUILD_BENCH=OFF
      ctest --test-dir "$OUT/clang" --output-on-failure -j"$JOBS" -L unit ;;
    asan)
      configure_build "$OUT/asan" -DCMAKE_C_COMPILER=gcc -DNBLOG_SANITIZE=address -DNBLOG_BUILD_BENCH=OFF
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "$OUT/asan" --output-on-failure -j"$JOBS" ;;
    tsan)
      configure_build "$OUT/tsan" -DCMAKE_C_COMPILER=clang -DNBLOG_SANITIZE=thread -DNBLOG_BUILD_BENCH=OFF
      TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --test-dir "$OUT/tsan" --output-on-failure -L stress ;;
    fuzz)
      cmake -S . -B "$OUT/fuzz" -DCMAKE_BUILD_TYPE=RelWithAsserts -DCMAKE_C_COMPILER=clang \
        -DNBLOG_FUZZ=ON -DNBLOG_BUILD_BENCH=OFF -DNBLOG_BUILD_EXAMPLES=OFF >/dev/null
      cmake --build "$OUT/fuzz" -j"$JOBS" --target fuzz-reader fuzz-args fuzz-symbolize
      mkdir -p "$OUT/fuzz/corpus" "$OUT/fuzz/corpus-args" "$OUT/fuzz/corpus-symbolize"
      # UBSan reports are fatal here too (the targets' -fsanitize=undefined
      # alone would print them and go on).
      export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
      # The ring-file reader: inputs that once crashed or hung it first, one
      # run each; then they seed the fuzzing (new units go to the build's
      # corpus).
      "$OUT/fuzz/tests/fuzz-reader" -timeout=10 tests/fuzz-seeds/*
      "$OUT/fuzz/tests/fuzz-reader" -max_total_time="$FUZZ_SECONDS" -max_len=16384 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/fuzz/" \
        "$OUT/fuzz/corpus" tests/fuzz-seeds
      # nblog dmesg's time and level parsers (tools/dmesg-args.c), ~10 s.
      "$OUT/fuzz/tests/fuzz-args" -max_total_time="${FUZZ_ARGS_SECONDS:-10}" -max_len=128 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/fuzz/args-" \
        "$OUT/fuzz/corpus-args" tests/fuzz-seeds-args
      # nblog symbolize's frame parser (tools/symbolize.c), ~10 s.
      "$OUT/fuzz/tests/fuzz-symbolize" -max_total_time="${FUZZ_SYMBOLIZE_SECONDS:-10}" \
        -max_len=1024 -timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/fuzz/symbolize-" \
        "$OUT/fuzz/corpus-symbolize" tests/fuzz-symbolize-seeds ;;
    *) echo "unknown step: $step" >&2; exit 2 ;;
  esac
done
echo "=== nblog tests: all passed (${steps[*]}) ==="
