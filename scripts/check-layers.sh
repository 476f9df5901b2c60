#!/usr/bin/env bash
# check-layers.sh [SOURCE_DIR] - keeps the layer diagram true in the tree:
# every file of src/ belongs to a layer, and includes headers of its own
# layer and of the layers it may use only. Layers point down:
#
#   tools -> nblog.h -> lifecycle -> logging calls -> consoles / panic
#         -> outputs (src/consoles/) -> render -> store, format -> platform
#
# The store knows no console (nor render, nor the formatter); an output
# knows only the console interface (console.h, never console_impl.h) and
# render. nblog.h (the public API) and testhooks.h (includes nothing) may be
# included by every layer. tools/ may include only nblog.h and tool.h:
# tests/tools-public-only.sh checks that, and is run from here too.
#
# Prints each violation as "FILE: includes X (layer A may not include
# layer B)", and a file of src/ that is in no layer as such; exits 1 if
# there is any. Cheap (no build): scripts/test.sh runs it first, ctest as
# the test check-layers. A new file goes into LAYER_FILES below; a new
# edge up the diagram is a design change, or else a named EXCEPTIONS entry
# saying why it stays.
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"

# Layer: its files (paths under src/; a trailing / is a directory).
declare -A LAYER_FILES=(
    [lifecycle]="lifecycle.c lifecycle.h spec.c publish.c publish.h"
    [calls]="log.c log.h deferred.c ringreader.c"
    [consoles]="console.c console.h console_impl.h printer.c watch.c panic_flush.c"
    [panic]="panic.c panic.h modules.c modules.h"
    [outputs]="consoles/"
    [render]="render.c render.h pattern.c render_json.c"
    [store]="ring.c ring.h sites.c ringfile.c ringfile.h ringview.c wallclock.c wallclock.h stats.h"
    [format]="format.c format.h format_float.c format_float.h"
    [platform]="platform.c platform.h"
    [any]="testhooks.h"
    [preload]="preload/" # libnblog-syslog.so: the public API alone, as tools/
)
# What each layer may include besides itself and "any" (and nblog.h).
# Consoles and panic are one rank: the panic takes the consoles; the
# consoles read the panic's flag (nblog__panicking, panic.h).
declare -A MAY_INCLUDE=(
    [lifecycle]="calls consoles panic outputs render store format platform"
    [calls]="consoles panic outputs render store format platform"
    [consoles]="panic outputs render store format platform"
    [panic]="consoles outputs render store format platform"
    [outputs]="console.h render platform" # console.h: the console interface only
    [render]="store format platform"
    [store]="platform"
    [format]="platform"
    [platform]=""
    [any]=""
    [preload]=""
)
# Known edges up the diagram that stay, each with why ("file header").
EXCEPTIONS=(
    # The logging calls find their ring through the lifecycle's pointers
    # (nblog__life) and start the lazy init (nblog__life_ring_wait): a
    # logging call before nblog_init is how a program starts nblog.
    # Handing this down (as console.h's struct nblog__console_env does for
    # the consoles) is a change of the hot path, not a move.
    "src/log.c lifecycle.h"
    # The same load, inline in every logging call's admission
    # (log.h nblog__log_enter: the ring pointer and nothing else of the
    # lifecycle), so a call makes no function call to be let in.
    "src/log.h lifecycle.h"
)

declare -A layer_of=()
for layer in "${!LAYER_FILES[@]}"; do
    for f in ${LAYER_FILES[$layer]}; do
        if [[ $f == */ ]]; then
            for g in src/"$f"*.[ch]; do
                [ -e "$g" ] && layer_of[$g]=$layer
            done
        else
            layer_of[src/$f]=$layer
        fi
    done
done
layer_of[include/nblog.h]=any

# The src/ or include/ file an include names, or nothing (a system header).
resolve() { # including-file include-line
    local from=$1 inc=$2 name cand
    name=${inc#?}
    name=${name%?}
    local dirs=(src include)
    [[ $inc == \"* ]] && dirs=("$(dirname "$from")" src include)
    for d in "${dirs[@]}"; do
        cand=$(realpath -m --relative-to="$root" "$d/$name")
        if [ -f "$cand" ]; then
            echo "$cand"
            return
        fi
    done
}

allowed() { # layer header-path header-layer
    local l=$1 path=$2 hl=$3 a
    [ "$hl" = "$l" ] || [ "$hl" = any ] && return 0
    for a in ${MAY_INCLUDE[$l]}; do
        [ "$a" = "$hl" ] || [ "$a" = "${path#src/}" ] && return 0
    done
    return 1
}

status=0
while IFS= read -r f; do
    l=${layer_of[$f]:-}
    if [ -z "$l" ]; then
        echo "$f: in no layer (add it to LAYER_FILES in scripts/check-layers.sh)"
        status=1
        continue
    fi
    while IFS= read -r inc; do
        h=$(resolve "$f" "$inc")
        [ -n "$h" ] || continue
        hl=${layer_of[$h]:-}
        [ -n "$hl" ] || continue # reported as a file of its own
        allowed "$l" "$h" "$hl" && continue
        for e in "${EXCEPTIONS[@]}"; do
            [ "$e" = "$f ${h#src/}" ] && continue 2
        done
        echo "$f: includes $inc (layer $l may not include layer $hl)"
        status=1
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
done < <(find src -name '*.[ch]' | sort)

sh tests/tools-public-only.sh "$root" >/dev/null || status=1

if [ "$status" = 0 ]; then
    echo "layers: every include in src/ points down (${#EXCEPTIONS[@]} named exception(s)); tools/ uses nblog.h alone"
fi
exit "$status"
