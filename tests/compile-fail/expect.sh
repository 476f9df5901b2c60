#!/bin/sh
# expect.sh REASON COMPILER ARGS...: with an empty REASON the compile must
# succeed; otherwise it must fail with REASON (a regex) in its errors.
why=$1; shift
out=$("$@" 2>&1); status=$?
printf '%s\n' "$out"
if [ -z "$why" ]; then exit $status; fi
[ $status -ne 0 ] || { echo "compiled, but should not have"; exit 1; }
printf '%s\n' "$out" | grep -E -q "error.*$why" || { echo "failed, but not with: $why"; exit 1; }
