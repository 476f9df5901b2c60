#!/usr/bin/env bash
# Every subcommand of the nblog command has a --help (exit 0, its usage on
# stdout, nothing on stderr), a usage error exits 2 with a pointer to that
# --help on stderr, and nblog(1) documents every long option the help lists.
# Usage: cli-help.sh NBLOG_BINARY SOURCE_DIR
set -uo pipefail
nblog=$1 src=$2
man=$src/docs/nblog.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$nblog" --help >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 0 ] || bad "nblog --help: exit $rc"
grep -q '^usage: nblog COMMAND' "$work/out" || bad "nblog --help: no usage on stdout"

for cmd in dmesg status demo pipe symbolize run; do
  for h in --help -h; do
    "$nblog" $cmd $h >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    [ $rc -eq 0 ] || bad "nblog $cmd $h: exit $rc, want 0"
    [ -s "$work/err" ] && bad "nblog $cmd $h wrote to stderr: $(cat "$work/err")"
    head -1 "$work/out" | grep -q "^usage: nblog $cmd" ||
      bad "nblog $cmd $h: stdout does not start with 'usage: nblog $cmd'"
    grep -q -- '--help' "$work/out" || bad "nblog $cmd $h does not list --help"
  done
  # Every long option the help names is in the manual page.
  for opt in $(grep -o -E -- '--[a-z][a-z-]*' "$work/out" | sort -u); do
    grep -q -F -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$man" ||
      bad "nblog $cmd: option $opt is not in docs/nblog.1"
  done
  "$nblog" $cmd --no-such-option >"$work/out" 2>"$work/err" </dev/null
  rc=$?
  [ $rc -eq 2 ] || bad "nblog $cmd --no-such-option: exit $rc, want 2"
  [ -s "$work/out" ] && bad "nblog $cmd --no-such-option wrote to stdout"
  grep -q -F "nblog $cmd --help" "$work/err" ||
    bad "nblog $cmd --no-such-option: no hint naming 'nblog $cmd --help' on stderr"
done

# Missing operands are usage errors too, with the same hint.
for args in "status" "dmesg" "status a b"; do
  "$nblog" $args >"$work/out" 2>"$work/err" </dev/null
  rc=$?
  [ $rc -eq 2 ] || bad "nblog $args: exit $rc, want 2"
  grep -q -F -- "--help" "$work/err" || bad "nblog $args: no --help hint"
done
[ $fail -eq 0 ] && echo "cli-help: ok"
exit $fail
