#!/usr/bin/env bash
# test-preload-run.sh NBLOG_TOOL PRELOAD_LIB PROG - `nblog run`: the
# child's exit status (and 128+N for a signal), signals sent to run
# reaching the child, the child's stdout/stderr lines and syslog(3) calls
# as records of run's ring (read back with nblog dmesg -F json), and a
# crashing child's last output kept. No timing asserted; `timeout` only
# turns a hang into a failure.
set -euo pipefail
tool=$1 lib=$(realpath "$2") prog=$3
export NBLOG_SYSLOG_PRELOAD=$lib
work=$(mktemp -d /tmp/test-preload-run.XXXXXX)
rings=()
cleanup() { for r in "${rings[@]}"; do rm -f "/dev/shm/$r"; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ring() { local r=nblog-test-run-$$-$1; rings+=("$r"); rm -f "/dev/shm/$r"; echo "$r"; }
# nrun RING ARGS...: nblog run, no console, ring RING; sets $rc.
nrun() {
    local r=$1; shift
    set +e
    timeout 120 "$tool" run --ring "$r" --console "file:$work/con.log" "$@"
    rc=$?
    set -e
    [ $rc != 124 ] || fail "run $* hung"
}
json() { "$tool" dmesg -F json "$1"; }

# Exit status, stdout/stderr levels, syslog through the drop-in.
r=$(ring status)
nrun "$r" --stdout-level notice --stderr-level err -- sh -c \
    'echo to-stdout; echo to-stderr >&2; printf "no newline"; exit 7'
[ $rc = 7 ] || fail "exit status $rc, want 7"
json "$r" > "$work/status.json"
grep -q '"level":"notice".*"text":"to-stdout"' "$work/status.json" || fail "stdout line"
grep -q '"level":"err".*"text":"to-stderr"' "$work/status.json" || fail "stderr line"
grep -q '"text":"no newline"' "$work/status.json" || fail "last line without newline"
grep -q '"text":"sh (pid [0-9]*) exited with status 7"' "$work/status.json" || fail "exit record"
echo "exit status and output lines: ok"

r=$(ring syslog)
nrun "$r" -- "$prog" 3
[ $rc = 0 ] || fail "prog exit $rc"
json "$r" > "$work/syslog.json"
grep -q '"level":"err".*"text":"open failed: No such file or directory"' "$work/syslog.json" ||
    fail "syslog record (err, %m) not in run's ring: $(cat "$work/syslog.json")"
grep -q '"level":"notice".*"text":"from the handler of signal 10"' "$work/syslog.json" || fail "handler record"
[ "$(grep -c '"level":"warning".*"text":"msg [0-9] of 3"' "$work/syslog.json")" = 3 ] || fail "msg records"
python3 -c 'import sys; sys.exit(0)' # python exists (used below)
nrun "$r-py" -- python3 -c 'import syslog; syslog.openlog("pyid", 0, syslog.LOG_DAEMON); syslog.syslog(syslog.LOG_CRIT, "py crit \\ back\x01slash")'
rings+=("$r-py")
json "$r-py" | grep -q '"level":"crit".*"text":"py crit \\\\ back\\u0001slash"' ||
    fail "python syslog record via run: $(json "$r-py")"
# The call's facility survives run's datagram: openlog's (daemon, 3) and a
# per-call one (local3, 19), each record its own.
nrun "$r-fac" -- python3 -c 'import syslog; syslog.openlog("pyid", 0, syslog.LOG_DAEMON); syslog.syslog(syslog.LOG_CRIT, "fac daemon"); syslog.syslog(syslog.LOG_LOCAL3 | syslog.LOG_ERR, "fac local3")'
rings+=("$r-fac")
"$tool" dmesg -o json "$r-fac" > "$work/fac.json"
grep -q '"PRIORITY":"2","SYSLOG_FACILITY":"3",.*"MESSAGE":"fac daemon"' "$work/fac.json" ||
    fail "openlog's facility through run: $(cat "$work/fac.json")"
grep -q '"PRIORITY":"3","SYSLOG_FACILITY":"19",.*"MESSAGE":"fac local3"' "$work/fac.json" ||
    fail "per-call facility through run: $(cat "$work/fac.json")"
echo "syslog(3) of the child (C fortified, python3) in run's ring: ok"

# A signal sent to run reaches the child; run exits 128+N.
r=$(ring signal)
ready=$work/ready
"$tool" run --ring "$r" --console "file:$work/con.log" -- sh -c \
    "trap 'echo got-usr1; exit 0' USR1; touch $ready; while :; do sleep 0.05; done" &
runpid=$!
for _ in $(seq 1000); do [ -e "$ready" ] && break; sleep 0.01; done
[ -e "$ready" ] || fail "child did not start"
kill -USR1 $runpid
set +e; wait $runpid; rc=$?; set -e
[ $rc = 0 ] || fail "USR1: run exited $rc, want 0 (the child's trap)"
json "$r" | grep -q '"text":"got-usr1"' || fail "USR1 did not reach the child"
r=$(ring term)
rm -f "$ready"
"$tool" run --ring "$r" --console "file:$work/con.log" -- sh -c "touch $ready; exec sleep 100" &
runpid=$!
for _ in $(seq 1000); do [ -e "$ready" ] && break; sleep 0.01; done
kill -TERM $runpid
set +e; wait $runpid; rc=$?; set -e
[ $rc = 143 ] || fail "TERM: run exited $rc, want 143"
json "$r" | grep -q '"text":"sh (pid [0-9]*) killed by signal 15' ||
    fail "no record of the signal"
echo "signal forwarding and 128+N: ok"

# A crashing child: its last output (written before it died) is in the ring.
r=$(ring crash)
nrun "$r" -- python3 -c 'import os, sys, signal
sys.stdout.write("last words before the crash\n"); sys.stdout.flush()
sys.stderr.write("stderr before the crash\n")
os.kill(os.getpid(), signal.SIGSEGV)'
[ $rc = 139 ] || fail "crash: run exited $rc, want 139"
json "$r" > "$work/crash.json"
grep -q '"text":"last words before the crash"' "$work/crash.json" || fail "crash: last stdout line lost"
grep -q '"text":"stderr before the crash"' "$work/crash.json" || fail "crash: last stderr line lost"
grep -q 'killed by signal 11' "$work/crash.json" || fail "crash: no record of the signal"
echo "crashing child's last output: ok"

# Usage errors.
set +e
"$tool" run >/dev/null 2>&1; [ $? = 2 ] || fail "run without CMD: want exit 2"
"$tool" run --stdout-level bogus -- true >/dev/null 2>&1; [ $? = 2 ] || fail "bad level: want exit 2"
"$tool" run --help | grep -q "usage: nblog run" || fail "--help"
set -e
echo "test-preload-run: all ok"
