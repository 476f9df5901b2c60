#!/bin/sh
# tools-public-only.sh SOURCE_DIR [OBJECT...] - the nblog command (tools/)
# is built on the public API alone. Fails, naming file and line, if a file
# under tools/ includes a header of ours other than nblog.h and tool.h (by
# name or path: "ring.h", <ringfile.h>, "../src/log.h"), or names an
# internal identifier (nblog__..., NBLOG__...) in its text; and, given the
# tool's object files, if one of them needs an nblog__ symbol that
# include/nblog.h does not declare (its macros expand to a few, e.g.
# nblog__printf_n: those are public in effect). tools/symbolize.h, a
# header of the tools' own, may be included too.
set -u
src=$1
shift
status=0
ours=$(find "$src/src" "$src/include" "$src/tools" -name '*.h' -exec basename {} \; | sort -u)

for f in "$src"/tools/*.c "$src"/tools/*.h; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f" |
        while read -r inc; do
            name=${inc#?}
            name=${name%?}
            case $name in
            nblog.h | tool.h | symbolize.h) continue ;;
            esac
            base=${name##*/}
            case $inc in
            \"*) bad=1 ;; # a quoted include is one of ours
            *) bad=0 ;;
            esac
            case $name in
            *src/* | *../*) bad=1 ;;
            esac
            if echo "$ours" | grep -qx "$base"; then
                bad=1
            fi
            if [ "$bad" = 1 ]; then
                echo "$f: includes $inc: tools/ may include only \"nblog.h\" and \"tool.h\"" >&2
                echo fail
            fi
        done | grep -q fail && status=1
    if grep -nE '(nblog__|NBLOG__)[A-Za-z0-9_]' "$f" >&2; then
        echo "$f: names internal identifiers (above): use the public API (include/nblog.h)" >&2
        status=1
    fi
done

for obj in "$@"; do
    for sym in $(nm -u "$obj" | awk '{print $NF}' | grep '^nblog__'); do
        if ! grep -qw "$sym" "$src/include/nblog.h"; then
            echo "$obj: needs $sym, which include/nblog.h does not declare" >&2
            status=1
        fi
    done
done

[ "$status" = 0 ] && echo "tools/ uses include/nblog.h alone"
exit "$status"
