#!/usr/bin/env bash
# Compiles and runs one ```c example of README.md and checks that it prints
# what the README says it prints.
#
# The README's conventions, which this enforces:
#   - every ```c block is a program: one without a main() is a fragment and is
#     run as the body of `int main(void)`, after #include <nblog.h>;
#   - the ```text block that follows it (before the next ```c block or
#     heading) is everything it prints, standard output and error together;
#     with none, it must print nothing;
#   - lines are compared after every run of digits is replaced by one 0, so
#     times, pids and thread ids need not match; everything else must.
# The program runs in an empty scratch directory (so files it creates go
# there), with no NBLOG_* variable and NO_COLOR set, and must exit 0.
# Usage: readme-examples.sh README CC LIB INCLUDE_DIR INDEX ["EXTRA_FLAGS"]
#   INDEX: which ```c block (1 = first); EXTRA_FLAGS: e.g. sanitizer flags.
#   NBLOG_LIBS_PRIVATE (environment): what the static LIB links (-lgnutls).
set -uo pipefail
readme=$1 cc=$2 lib=$3 inc=$4 index=$5 extra=${6:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk -v want="$index" -v code="$work/example.c" -v expect="$work/expected" '
  /^```c$/        { n++; if (n == want) { mode = "code"; found = 1 } else mode = ""; next }
  /^```text$/     { if (n == want && after) { mode = "text"; has = 1 } ; next }
  /^```/          { if (mode == "code") after = 1; if (mode == "text") after = 0; mode = ""; next }
  /^#/            { if (n == want) after = 0 }
  mode == "code"  { print > code }
  mode == "text"  { print > expect }
  END             { if (!found) exit 3; if (!has) printf "" > expect }
' "$readme"
rc=$?
[ $rc -eq 0 ] || { echo 'README has no ```c block number' "$index"; exit 1; }

if ! grep -q -E '\bmain[[:space:]]*\(' "$work/example.c"; then
  { echo '#include <nblog.h>'; echo 'int main(void)'; echo '{'
    cat "$work/example.c"; echo '    return 0;'; echo '}'; } >"$work/wrapped.c"
  mv "$work/wrapped.c" "$work/example.c"
fi
echo "--- example $index:"; cat "$work/example.c"
# shellcheck disable=SC2086 # extra and NBLOG_LIBS_PRIVATE are lists of flags
if ! "$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" $extra "$work/example.c" "$lib" \
     ${NBLOG_LIBS_PRIVATE:-} -pthread -o "$work/example"; then
  echo "FAIL: example $index does not compile"; exit 1
fi
mkdir "$work/run"
(cd "$work/run" && for v in $(env | grep -o -E '^NBLOG_[A-Z_]*'); do unset "$v"; done &&
  NO_COLOR=1 exec "$work/example") >"$work/output" 2>&1 </dev/null
rc=$?
echo "--- it printed (exit $rc):"; cat "$work/output"
echo "--- the README says:"; cat "$work/expected"
[ $rc -eq 0 ] || { echo "FAIL: example $index exited $rc"; exit 1; }
norm() { sed -E 's/[0-9]+/0/g' "$1"; }
if ! diff <(norm "$work/expected") <(norm "$work/output") >"$work/diff"; then
  echo "FAIL: example $index does not print what the README says (digits aside):"
  cat "$work/diff"; exit 1
fi
echo "example $index: ok"
