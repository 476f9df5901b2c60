#!/usr/bin/env bash
# The manual pages stay complete and well-formed:
#   - every NBLOG_API function of include/nblog.h is named in docs/nblog.3;
#   - every public function-like macro (nblog_x(...), NBLOG_X(...)) is in its
#     SYNOPSIS, and every public constant macro and enum name in the page;
#   - every environment variable the library reads (getenv in src/) is in
#     nblog(3)'s ENVIRONMENT, every one the command reads (tools/) in
#     nblog(1)'s;
#   - groff renders both pages without a warning (a text line starting with
#     ' or . is a request, and its words vanish); skipped without groff.
# Usage: api-docs.sh SOURCE_DIR
set -uo pipefail
src=$1
h=$src/include/nblog.h man3=$src/docs/nblog.3 man1=$src/docs/nblog.1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# A page's source without font changes (\fB, \fI, \fP, \f(CW), so that a
# name in bold is still a word.
text() { sed -E 's/\\f(\(..|\[[^]]*\]|.)//g' "$1"; }
# The text of section NAME (from ".SH NAME" to the next ".SH") of a page.
section() { text "$1" | awk -v s=".SH $2" '$0 == s {on = 1; next} /^\.SH/ {on = 0} on'; }
# has_word WORD TEXT
has_word() { grep -q -E "(^|[^A-Za-z0-9_])$1([^A-Za-z0-9_]|\$)" <<<"$2"; }
page3=$(text "$man3")

# Function declarations: NBLOG_API ... name( ; internal nblog__ helpers excepted.
funcs=$(grep -E '^NBLOG_API' "$h" | grep -o -E '[a-z_0-9]+\(' |
  tr -d '(' | grep -v -E '^(nblog__|__attribute__)' | grep -E '^nblog_' | sort -u)
[ -n "$funcs" ] || bad "found no NBLOG_API function in $h"
for f in $funcs; do
  has_word "$f" "$page3" || bad "nblog.3 does not name $f()"
done

synopsis=$(section "$man3" SYNOPSIS)
fmacros=$(grep -o -E '^#define (nblog_[a-z_]+|NBLOG_[A-Z][A-Z_0-9]*)\(' "$h" |
  sed -E 's/^#define //; s/\($//' | grep -v '^NBLOG__' | sort -u)
for m in $fmacros; do
  has_word "$m" "$synopsis" || bad "nblog.3 SYNOPSIS does not list $m(...)"
done
consts=$(grep -o -E '^#define NBLOG_[A-Z][A-Z_0-9]*( |$)' "$h" | awk '{print $2}' |
  grep -v -x -e NBLOG_H -e NBLOG_API | sort -u)
enums=$(grep -o -E '^ +X\([A-Z]+,' "$h" | tr -d ' X(,' | sort -u)
levels=$(sed -n '/^#define NBLOG_LEVEL_MAP/,/^$/p' "$h" | grep -o -E 'X\([A-Z]+,' | tr -d 'X(,')
for l in $levels; do consts="$consts NBLOG_LEVEL_$l"; done
for e in $enums; do
  grep -q -x "$e" <<<"$levels" || consts="$consts NBLOG_$e"
done
for c in $consts NBLOG_OK; do
  has_word "$c" "$page3" || bad "nblog.3 does not name $c"
done

env3=$(section "$man3" ENVIRONMENT)
for v in $(grep -rhoE 'getenv\("[A-Z_0-9]+"\)' "$src/src" | sed -E 's/.*"(.*)".*/\1/' | sort -u); do
  has_word "$v" "$env3" || bad "nblog.3 ENVIRONMENT does not name $v"
done
env1=$(section "$man1" ENVIRONMENT)
for v in $(grep -rhoE 'getenv\("[A-Z_0-9]+"\)' "$src/tools" | sed -E 's/.*"(.*)".*/\1/' | sort -u); do
  has_word "$v" "$env1" || bad "nblog.1 ENVIRONMENT does not name $v"
done

if command -v groff >/dev/null; then
  for page in "$man1" "$man3"; do
    out=$(groff -man -ww -z "$page" 2>&1)
    [ -z "$out" ] || bad "groff warns on $page: $out"
  done
else
  echo "groff not installed: rendering not checked"
fi
[ $fail -eq 0 ] && echo "api-docs: ok"
exit $fail
