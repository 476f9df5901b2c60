#!/usr/bin/env bash
# test-preload.sh NBLOG_TOOL PRELOAD_LIB PROG - the syslog(3) drop-in
# (libnblog-syslog.so) under programs that know nothing of nblog: the
# python3 syslog module and test-preload-prog (C, fortified: __syslog_chk).
# Each logs into a ring file (NBLOG_RING), read back with `nblog dmesg -F
# json`, and through a unix datagram console to a socket this test binds,
# standing in for /dev/log: the datagrams' <PRI>, ident and pid are
# checked. Then the same with a socket nobody reads (its buffer fills):
# the programs must finish, every record in the ring, the console's unprinted
# records counted (lag or dropped). No timing is asserted; `timeout` only turns a hang into a
# failure ("blocked") instead of a ctest timeout.
set -euo pipefail
tool=$1 lib=$(realpath "$2") prog=$3
work=$(mktemp -d /tmp/test-preload.XXXXXX)
rings=()
sinkpid=
cleanup() {
    [ -n "$sinkpid" ] && kill "$sinkpid" 2>/dev/null || true
    for r in "${rings[@]}"; do rm -f "/dev/shm/$r"; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The program must be fortified, else this tests syslog, not __syslog_chk.
nm -D "$prog" | grep -q ' U __syslog_chk' || fail "$prog does not call __syslog_chk"

# sink SOCK OUT MODE: binds SOCK; MODE read: each datagram as one line of
# OUT (repr); MODE stuck: never reads. Runs until killed.
sink() {
    python3 - "$@" <<'PY' &
import socket, sys, time, os
path, out, mode = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(out + ".ready", "w").close()
with open(out, "w", buffering=1) as f:
    while True:
        if mode == "stuck":
            time.sleep(3600)
        f.write(repr(s.recv(65536)) + "\n")
PY
    sinkpid=$!
    for _ in $(seq 500); do [ -e "$2.ready" ] && return 0; sleep 0.01; done
    fail "sink did not start"
}
stop_sink() { kill "$sinkpid"; wait "$sinkpid" 2>/dev/null || true; sinkpid=; }

# run NAME SOCK CMD...: CMD under the drop-in, ring NAME, console SOCK.
run() {
    local name=$1 sock=$2; shift 2
    rings+=("$name")
    rm -f "/dev/shm/$name"
    NBLOG_RING=$name NBLOG_CONSOLES="unix:$sock,rfc3164=on" LD_PRELOAD=$lib \
        timeout 120 "$@" || fail "$* exited $? (124: blocked)"
}

# count FILE PATTERN: lines of FILE matching the extended regex.
count() { grep -c -E -- "$2" "$1" || true; }

py='
import os, syslog, sys
syslog.openlog("pyident", syslog.LOG_PID, syslog.LOG_LOCAL3)
n = int(sys.argv[1])
syslog.syslog(syslog.LOG_ERR, "py error pid=%d" % os.getpid())
for i in range(n):
    syslog.syslog(syslog.LOG_INFO, "py msg %d of %d" % (i, n))
open(sys.argv[2], "w").write(str(os.getpid()))
'

# --- python3 syslog module, reader running
ring=nblog-test-preload-$$-py
sink "$work/py.sock" "$work/py.out" read
run "$ring" "$work/py.sock" python3 -c "$py" 3 "$work/py.pid"
pid=$(cat "$work/py.pid")
"$tool" dmesg -F json "$ring" > "$work/py.json"
[ "$(count "$work/py.json" "\"text\":\"py error pid=$pid\"")" = 1 ] || fail "python: error record not in the ring"
[ "$(count "$work/py.json" '"text":"py msg [0-9] of 3"')" = 3 ] || fail "python: msg records not in the ring"
"$tool" dmesg -F json -l err "$ring" | grep -q "py error" || fail "python: level err lost"
for _ in $(seq 500); do [ "$(count "$work/py.out" .)" -ge 4 ] && break; sleep 0.01; done
stop_sink
# LOG_LOCAL3 (19) * 8 + LOG_ERR (3) = 155; + LOG_INFO (6) = 158
grep -q -E "^b'<155>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} pyident\[$pid\]: py error pid=$pid'" "$work/py.out" ||
    fail "python: datagram header wrong: $(head -1 "$work/py.out")"
[ "$(count "$work/py.out" "^b'<158>.* pyident\[$pid\]: py msg [0-9] of 3'")" = 3 ] || fail "python: msg datagrams wrong"
echo "python3 syslog module: ring and datagrams ok"

# --- C, fortified, reader running
ring=nblog-test-preload-$$-c
sink "$work/c.sock" "$work/c.out" read
run "$ring" "$work/c.sock" "$prog" 5
"$tool" dmesg -F json "$ring" > "$work/c.json"
grep -q '"level":"notice".*"text":"from the handler of signal 10"' "$work/c.json" || fail "C: handler record missing"
grep -q '"level":"err".*"text":"open failed: No such file or directory"' "$work/c.json" || fail "C: %m not errno's text"
! grep -q "masked debug" "$work/c.json" || fail "C: setlogmask not honoured"
grep -q '"text":"per-call facility"' "$work/c.json" || fail "C: per-call facility record missing"
[ "$(count "$work/c.json" '"text":"msg [0-9] of 5"')" = 5 ] || fail "C: msg records not in the ring"
for _ in $(seq 500); do [ "$(count "$work/c.out" .)" -ge 8 ] && break; sleep 0.01; done
stop_sink
# LOG_LOCAL5 (21) * 8 = 168: notice 173, err 171, warning 172; the
# per-call LOG_LOCAL1 is not carried: openlog's facility (info, 174).
grep -q -E "^b'<173>.* cident\[[0-9]+\]: from the handler of signal 10'" "$work/c.out" || fail "C: handler datagram"
grep -q -E "^b'<171>.* cident\[[0-9]+\]: open failed: No such file or directory'" "$work/c.out" || fail "C: err datagram"
grep -q -E "^b'<174>.* cident\[[0-9]+\]: per-call facility'" "$work/c.out" || fail "C: per-call facility datagram"
[ "$(count "$work/c.out" "^b'<172>.* cident\[[0-9]+\]: msg [0-9] of 5'")" = 5 ] || fail "C: msg datagrams wrong"
! grep -q "masked" "$work/c.out" || fail "C: masked record sent"
echo "fortified C program: ring and datagrams ok"

# --- a Debian program using syslog(3): su (util-linux, fortified; its PAM
# modules log through vsyslog too). Needs root (LD_PRELOAD is ignored for
# a set-user-ID program run by anyone else) and the nobody account.
if [ "$(id -u)" = 0 ] && command -v su >/dev/null && id nobody >/dev/null 2>&1; then
    ring=nblog-test-preload-$$-su
    sink "$work/su.sock" "$work/su.out" read
    run "$ring" "$work/su.sock" su nobody -s /bin/sh -c true
    "$tool" dmesg -F json "$ring" > "$work/su.json"
    grep -q '"level":"notice".*"text":"(to nobody) root on none"' "$work/su.json" ||
        fail "su: its record is not in the ring: $(cat "$work/su.json")"
    for _ in $(seq 500); do grep -q "to nobody" "$work/su.out" && break; sleep 0.01; done
    stop_sink
    # LOG_AUTH (4) * 8 + LOG_NOTICE (5) = 37, ident su
    grep -q -E "^b'<37>.* su\[[0-9]+\]: \(to nobody\) root on none'" "$work/su.out" ||
        fail "su: datagram wrong: $(cat "$work/su.out")"
    echo "su (Debian, fortified, PAM): ring and datagram ok"
else
    echo "su: skipped (not root, or no su or nobody)"
fi

# --- /dev/log's reader stuck: nobody reads the socket, its queue fills
n=3000
for who in c py; do
    ring=nblog-test-preload-$$-stuck-$who
    sink "$work/stuck-$who.sock" "$work/stuck-$who.out" stuck
    if [ $who = c ]; then
        run "$ring" "$work/stuck-$who.sock" "$prog" $n
        re="\"text\":\"msg [0-9]+ of $n\""
    else
        run "$ring" "$work/stuck-$who.sock" python3 -c "$py" $n "$work/stuck.pid"
        re="\"text\":\"py msg [0-9]+ of $n\""
    fi
    "$tool" dmesg -F json "$ring" > "$work/stuck-$who.json"
    [ "$(count "$work/stuck-$who.json" "$re")" = $n ] || fail "$who stuck: not all $n records in the ring"
    # The console's stats (nblog status --json): what it did not print is
    # counted, lag or dropped, and adds up to the records stored (n + 3 for
    # the C program, n + 1 for python).
    read -r lag printed dropped < <("$tool" status --json "$ring" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["consoles"]:
    if c["name"].startswith("unix:"):
        print(c["lag"], c["printed"], c["dropped"])')
    extra=1; [ $who = c ] && extra=3
    stored=$((n + extra))
    [ -n "$lag" ] && [ $((lag + dropped)) -gt 0 ] && [ $((lag + printed + dropped)) = $stored ] ||
        fail "$who stuck: the console's counts do not add up to $stored: $("$tool" status "$ring")"
    stop_sink
    echo "$who with a stuck reader: finished, $n records in the ring; console: $printed printed, $dropped dropped, $lag lag"
done
echo "test-preload: all ok"
