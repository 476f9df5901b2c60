#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a consumer three ways:
# pkg-config, CMake package (shared) and CMake package (static); and a C++
# consumer with g++ and clang++ (each one installed; pkg-config) and through
# the CMake package. Also checks
# that the shared library exports only public names.
# Usage: install-check.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
work=$build/install-check
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(dirname "$(find "$work/prefix" -name 'libnblog.so' | head -1)")

# pkg-config
PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
cc -std=c11 -Wall -Wextra -Werror "$src/tests/install/consumer.c" \
  $(pkg-config --cflags --libs nblog) -Wl,-rpath,"$libdir" -o "$work/consumer-pc"
"$work/consumer-pc"
echo "pkg-config consumer: ok"

# C++ consumers: every C++ compiler installed, warnings as errors.
for cxx in g++ clang++; do
  command -v "$cxx" >/dev/null || { echo "C++ consumer: $cxx not installed, skipped"; continue; }
  "$cxx" -std=c++11 -Wall -Wextra -Wpedantic -Werror "$src/tests/install/consumer.cpp" \
    $(pkg-config --cflags --libs nblog) -Wl,-rpath,"$libdir" -o "$work/consumer-$cxx"
  "$work/consumer-$cxx"
  echo "C++ consumer ($cxx, pkg-config): ok"
done

# CMake package
cmake -S "$src/tests/install" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer-shared"
"$work/cmake/consumer-static"
"$work/cmake/consumer-cxx"
echo "cmake package consumers (shared, static, C++): ok"

# The shared library exports nblog_* and nothing internal but the helpers
# the public macros call, each in version node NBLOG_1 (src/libnblog.map;
# the node itself is an absolute symbol, type A).
bad=$(nm -D --defined-only "$libdir/libnblog.so" | awk '$2 != "A" {print $3}' |
  grep -v -x -E '(nblog_[a-z][a-z0-9_]*|nblog__printf_n|nblog__printf_at|nblog__defer|nblog__defer_words)@@NBLOG_1' || true)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
soname=$(objdump -p "$libdir/libnblog.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libnblog.so.0" ] || { echo "bad soname: $soname"; exit 1; }
echo "exports and soname ($soname): ok"

# The syslog(3) drop-in: installed beside libnblog.so, exporting the syslog
# names and nothing of nblog's; a fortified syslog(3) program preloaded
# with it stores into a ring nblog dmesg reads; nblog run finds it.
pre=$libdir/libnblog-syslog.so
[ -f "$pre" ] || { echo "libnblog-syslog.so not installed in $libdir"; exit 1; }
bad=$(nm -D --defined-only "$pre" | awk '$2 != "A" {print $3}' |
  grep -v -x -E 'openlog|syslog|vsyslog|closelog|setlogmask|__syslog_chk|__vsyslog_chk' || true)
[ -z "$bad" ] || { echo "libnblog-syslog.so exports more:"; echo "$bad"; exit 1; }
printf '#include <syslog.h>\nint main(void){openlog("ic",LOG_PID,LOG_LOCAL0);syslog(LOG_ERR,"installed drop-in %%d",42);return 0;}\n' >"$work/sl.c"
cc -O2 -D_FORTIFY_SOURCE=2 "$work/sl.c" -o "$work/sl"
ring=nblog-install-check-$$
NBLOG_RING=$ring NBLOG_CONSOLES=none LD_PRELOAD=$pre "$work/sl"
"$work/prefix/bin/nblog" dmesg "$ring" | grep -q "installed drop-in 42" || { rm -f "/dev/shm/$ring"; echo "drop-in: record not in the ring"; exit 1; }
rm -f "/dev/shm/$ring"
env -u NBLOG_SYSLOG_PRELOAD NBLOG_CONSOLES=none "$work/prefix/bin/nblog" run --ring "$ring" -- "$work/sl" 2>"$work/run.err" || true
"$work/prefix/bin/nblog" dmesg "$ring" | grep -q "installed drop-in 42" || { rm -f "/dev/shm/$ring"; cat "$work/run.err"; echo "nblog run: installed drop-in not found"; exit 1; }
rm -f "/dev/shm/$ring"
echo "syslog drop-in (exports, preload, nblog run): ok"
