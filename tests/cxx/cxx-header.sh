#!/usr/bin/env bash
# include/nblog.h from C++: tests/cxx/header.cpp (every macro of the header)
# must compile warning-free with g++ and clang++ under -std=c++11, 14, 17 and
# 20 (-Wall -Wextra -Wpedantic -Werror), link against the library and run
# (given LIB); the macros' compile-time checks must hold in C++ too (too
# many deferred arguments and a mismatched format are errors). A compiler
# that is not installed is skipped (and said so); with neither, the test is
# skipped (exit 77).
# Usage: cxx-header.sh SOURCE_DIR [LIB]   (LIB: libnblog.a; without it only
# compiles, as in sanitizer builds). NBLOG_LIBS_PRIVATE (environment): what
# the static LIB links (-lgnutls).
set -uo pipefail
src=$1 lib=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0 ran=0
flags=(-Wall -Wextra -Wpedantic -Werror -I"$src/include")
for cxx in g++ clang++; do
  if ! command -v "$cxx" >/dev/null; then
    echo "skipped: $cxx is not installed"
    continue
  fi
  ran=$((ran + 1))
  for std in c++11 c++14 c++17 c++20; do
    # header.cpp (every macro, with locations) and noloc.cpp
    # (NBLOG_NO_LOCATION: nblog_printf at file scope). A file-scope
    # initializer runs before main, and in a static link before the
    # constructors of the objects linked after it: noloc.cpp's logs only
    # once libnblog.a's (pthread_atfork) ran, as with libnblog.so, so the
    # library's objects go first.
    for prog in header noloc; do
      before=() after=("$lib")
      if [ $prog = noloc ]; then
        before=(-Wl,--whole-archive "$lib" -Wl,--no-whole-archive) after=()
      fi
      if [ -n "$lib" ]; then
        # shellcheck disable=SC2086 # a list of flags
        if "$cxx" -std=$std "${flags[@]}" "${before[@]}" "$src/tests/cxx/$prog.cpp" "${after[@]}" \
             ${NBLOG_LIBS_PRIVATE:-} -pthread \
             -o "$work/$prog" && "$work/$prog" >/dev/null; then
          echo "ok: $cxx -std=$std $prog.cpp (built and ran)"
        else
          echo "FAIL: $cxx -std=$std $prog.cpp"; fail=1
        fi
      elif "$cxx" -std=$std "${flags[@]}" -c "$src/tests/cxx/$prog.cpp" -o "$work/$prog.o"; then
        echo "ok: $cxx -std=$std $prog.cpp (compiled)"
      else
        echo "FAIL: $cxx -std=$std $prog.cpp"; fail=1
      fi
    done
    # Compile-time stripping takes the other branch of every macro.
    "$cxx" -std=$std "${flags[@]}" -DNBLOG_COMPILE_LEVEL=NBLOG_LEVEL_EMERG -fsyntax-only \
      "$src/tests/cxx/header.cpp" || { echo "FAIL: $cxx -std=$std, compile level EMERG"; fail=1; }
  done
  # The compile-fail cases, as C++, and the format checks of nblog_printf
  # and nblog_printf_ratelimited.
  for case in "compile-fail/format-mismatch.c:Wformat|format=" \
              "compile-fail/too-many-args.c:too many arguments" "compile-fail/ok.c:" \
              "cxx/printf-mismatch.cpp:Wformat|format=" \
              "cxx/ratelimited-mismatch.cpp:Wformat|format="; do
    file=${case%%:*} why=${case#*:}
    if ! sh "$src/tests/compile-fail/expect.sh" "$why" "$cxx" -x c++ -std=c++11 \
         -fsyntax-only "${flags[@]}" "$src/tests/$file" >"$work/out" 2>&1; then
      echo "FAIL: $cxx $file"; cat "$work/out"; fail=1
    fi
  done
done
[ $ran -gt 0 ] || { echo "skipped: neither g++ nor clang++ is installed"; exit 77; }
exit $fail
