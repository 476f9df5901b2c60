#!/usr/bin/env bash
# test-preload.sh NBLOG_TOOL PRELOAD_LIB PROG - the syslog(3) drop-in
# (libnblog-syslog.so) under programs that know nothing of nblog: the
# python3 syslog module and test-preload-prog (C, fortified: __syslog_chk),
# both logging with per-call facilities (LOG_LOCAL3, LOG_AUTHPRIV, ...).
# Each logs into a ring file (NBLOG_RING), read back with `nblog dmesg -o
# json`: every record in order with its own PRIORITY and SYSLOG_FACILITY,
# the ident and pid. Through NBLOG_CONSOLES to unix datagram sockets this
# test binds, standing in for /dev/log and journald: the datagrams' <PRI>
# (facility * 8 + level), ident and pid, and the journal entries'
# SYSLOG_FACILITY, per record.
# Then a receiver that is SIGSTOPped while the programs log (mode=direct:
# the calls send themselves): the programs finish, and after SIGCONT what
# the receiver got is checked against the console's books (nblog status
# --json): (a) the program exits while the receiver is stopped: every
# record in the ring, the console's are printed (each arrived) or lag,
# nothing dropped (the ring still holds them all, so no notice); (b) the
# program logs more than the ring holds (65536) and stays until the
# console caught up: the receiver gets what the console sent, the
# records the ring lapped meanwhile as `** N messages dropped **`, N the
# books' dropped. No timing is asserted; `timeout` only turns a hang into
# a failure ("blocked") instead of a ctest timeout, and waits poll with a
# deadline.
set -euo pipefail
tool=$1 lib=$(realpath "$2") prog=$3
work=$(mktemp -d /tmp/test-preload.XXXXXX)
rings=()
sinkpids=()
cleanup() {
    for p in "${sinkpids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done || true
    for r in "${rings[@]}"; do rm -f "/dev/shm/$r"; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The program must be fortified, else this tests syslog, not __syslog_chk.
nm -D "$prog" | grep -q ' U __syslog_chk' || fail "$prog does not call __syslog_chk"

# The records each program stores, in order (text, level, facility), and
# the checks on what came back. See test-preload-prog.c and $py below.
cat > "$work/check.py" <<'PY'
import ast, json, re, sys

def expected(lang, n, pid):
    if lang == "c":
        f = [21, 19, 10]  # none given: openlog's local5; local3; authpriv
        return ([("from the handler of signal 10", 5, 21),
                 ("open failed: No such file or directory", 3, 21),
                 ("per-call local3", 3, 19), ("per-call authpriv", 5, 10),
                 ("syslog: unknown facility/priority: 10006", 3, 4),
                 ("bad bits cleared", 6, 21)] +
                [("msg %d of %d" % (i, n), 4, f[i % 3]) for i in range(n)] +
                [("after openlog", 6, 3)])
    f = [19, 10, 16]  # none given: openlog's local3; authpriv; local0
    return ([("py error pid=%d" % pid, 3, 19), ("py authpriv", 5, 10)] +
            [("py msg %d of %d" % (i, n), 6, f[i % 3]) for i in range(n)])

def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)

mode, path, lang, n, pid, ident = sys.argv[1:7]
exp = expected(lang, int(n), int(pid))
lines = [l for l in open(path).read().split("\n") if l]

if mode in ("ring", "ring-lapped"):
    # nblog dmesg -o json: NBLOG_SEQ indexes exp (a new ring: seq 0 is the
    # program's first record). "ring": all of them; "ring-lapped": the
    # newest, contiguous, after one gap line.
    seqs = []
    for l in lines:
        o = json.loads(l)
        if "NBLOG_GAP" in o:
            if mode == "ring" or seqs:
                die("ring: a gap: " + l)
            continue
        s = int(o["NBLOG_SEQ"])
        if s >= len(exp):
            die("ring: a record past the program's: " + l)
        text, lvl, fac = exp[s]
        got = (o.get("MESSAGE"), o.get("PRIORITY"), o.get("SYSLOG_FACILITY"),
               o.get("SYSLOG_IDENTIFIER"), o.get("_PID"))
        want = (text, str(lvl), str(fac), ident, pid)
        if got != want:
            die("ring seq %d: got %r, want %r" % (s, got, want))
        seqs.append(s)
    if not seqs or seqs != list(range(seqs[0], len(exp))):
        die("ring: seqs %s..%s of %d, not the newest in a row" %
            (seqs[:1], seqs[-1:], len(exp)))
    if mode == "ring" and seqs[0] != 0:
        die("ring: records before seq %d missing" % seqs[0])
    print(len(seqs), seqs[0])

elif mode == "dgrams":
    # RFC 3164 datagrams, one repr a line, up to the END sentinel. They
    # must be exp's records in order, each with <fac*8+lvl>, where a gap
    # the console found is one notice "** N messages dropped **" (<12>,
    # user.warning, nblog's own) standing for the next N. Prints: records
    # received, records the notices stand for, notices, records walked.
    hdr = re.compile(rb"^<(\d+)>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} "
                     rb"(\S+)\[([0-9]+)\]: (.*)$", re.S)
    j = got = dropped = notices = 0
    end = False
    for l in lines:
        if l == "END":
            end = True
            break
        d = ast.literal_eval(l)
        m = hdr.match(d)
        if not m:
            die("datagram not RFC 3164: %r" % d)
        pri, who, p, msg = int(m[1]), m[2].decode(), m[3].decode(), m[4].decode()
        if (who, p) != (ident, pid):
            die("datagram from %s[%s], want %s[%s]: %r" % (who, p, ident, pid, d))
        nm = re.fullmatch(r"\*\* ([0-9]+) messages dropped \*\*", msg)
        if nm:
            if pri != 12:
                die("notice <%d>, want <12>: %r" % (pri, d))
            j += int(nm[1])
            dropped += int(nm[1])
            notices += 1
            continue
        if j >= len(exp) or (msg, pri) != (exp[j][0], exp[j][2] * 8 + exp[j][1]):
            die("datagram %d: %r, want <%d> %r" %
                (got, d, exp[j][2] * 8 + exp[j][1], exp[j][0]) if j < len(exp) else
                "datagram past the records: %r" % d)
        j += 1
        got += 1
    if not end:
        die("no END sentinel")
    print(got, dropped, notices, j)

elif mode == "journal":
    # Journal native entries ("KEY=value" lines, repr'd), all of exp in order.
    if len(lines) != len(exp):
        die("journal: %d entries, want %d" % (len(lines), len(exp)))
    for i, l in enumerate(lines):
        f = dict(kv.split("=", 1) for kv in ast.literal_eval(l).decode().split("\n") if "=" in kv)
        text, lvl, fac = exp[i]
        got = (f.get("MESSAGE"), f.get("PRIORITY"), f.get("SYSLOG_FACILITY"), f.get("SYSLOG_IDENTIFIER"))
        if got != (text, str(lvl), str(fac), ident):
            die("journal entry %d: got %r, want %r" % (i, got, (text, str(lvl), str(fac), ident)))
    print(len(lines))
PY
check() { python3 "$work/check.py" "$@" || exit 1; }

# sink SOCK OUT: binds SOCK and writes each datagram as one line of OUT
# (repr), "END" for the datagram b'END'. Runs until killed; $sinkpid is
# the python process itself (a file, not a heredoc: with one, $! would be
# a subshell, and SIGSTOP would stop that and not the reader).
cat > "$work/sink.py" <<'PY'
import socket, sys
path, out = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "w", buffering=1) as f:
    open(out + ".ready", "w").close()
    while True:
        d = s.recv(65536)
        f.write("END\n" if d == b"END" else repr(d) + "\n")
PY
sink() {
    rm -f "$2.ready"
    python3 "$work/sink.py" "$@" &
    sinkpid=$!
    sinkpids+=("$sinkpid")
    for _ in $(seq 1000); do [ -e "$2.ready" ] && return 0; sleep 0.01; done
    fail "sink did not start"
}
# stop PID: SIGSTOP, and waits until it is stopped (state T).
stop() {
    kill -STOP "$1"
    for _ in $(seq 1000); do
        [ "$(awk '{print $3}' "/proc/$1/stat")" = T ] && return 0
        sleep 0.01
    done
    fail "$1 did not stop"
}
stop_sink() { kill -CONT "$1" 2>/dev/null || true; kill "$1"; wait "$1" 2>/dev/null || true; }
# end_sink SOCK OUT: sends END (after whatever is queued: the programs that
# sent to SOCK have exited) and waits until the sink wrote it.
end_sink() {
    timeout 60 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"END", sys.argv[1])' "$1" ||
        fail "END not sent to $1"
    for _ in $(seq 6000); do grep -q '^END$' "$2" && return 0; sleep 0.01; done
    fail "the sink on $1 did not get END"
}

# run NAME CONSOLES CMD...: CMD under the drop-in, ring NAME, NBLOG_CONSOLES.
run() {
    local name=$1 consoles=$2; shift 2
    rings+=("$name")
    rm -f "/dev/shm/$name"
    NBLOG_RING=$name NBLOG_CONSOLES=$consoles LD_PRELOAD=$lib \
        timeout 120 "$@" || fail "$* exited $? (124: blocked)"
}

# books RING: the unix console's "lag printed dropped filtered write_failed".
books() {
    "$tool" status --json "$1" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["consoles"]:
    if c["name"].startswith("unix:"):
        print(c["lag"], c["printed"], c["dropped"], c["filtered"], c["write_failed"])'
}

py='
import os, sys, syslog, time
n = int(sys.argv[1])
facs = [0, syslog.LOG_AUTHPRIV, syslog.LOG_LOCAL0]
syslog.openlog("pyident", syslog.LOG_PID, syslog.LOG_LOCAL3)
syslog.syslog(syslog.LOG_ERR, "py error pid=%d" % os.getpid())
syslog.syslog(syslog.LOG_AUTHPRIV | syslog.LOG_NOTICE, "py authpriv")
for i in range(n):
    syslog.syslog(facs[i % 3] | syslog.LOG_INFO, "py msg %d of %d" % (i, n))
open(sys.argv[2], "w").write(str(os.getpid()))
if len(sys.argv) > 3:
    open(sys.argv[3] + "/logged", "w").close()
    for _ in range(12000):
        if os.path.exists(sys.argv[3] + "/go"):
            break
        time.sleep(0.01)
'

# --- python3 syslog module, readers running: an RFC 3164 console (the
# console thread sends) and a journald one, both from NBLOG_CONSOLES.
ring=nblog-test-preload-$$-py
sink "$work/py.sock" "$work/py.out"; s1=$sinkpid
sink "$work/pyj.sock" "$work/pyj.out"; s2=$sinkpid
run "$ring" "unix:$work/py.sock,rfc3164=on;journald:$work/pyj.sock" python3 -c "$py" 3 "$work/py.pid"
pid=$(cat "$work/py.pid")
"$tool" dmesg -o json "$ring" > "$work/py.json"
check ring "$work/py.json" py 3 "$pid" pyident >/dev/null
"$tool" dmesg -F json -l err "$ring" | grep -q "py error" || fail "python: level err lost"
end_sink "$work/py.sock" "$work/py.out"
read -r got dropped notices walked < <(check dgrams "$work/py.out" py 3 "$pid" pyident)
[ "$got" = 5 ] && [ "$dropped" = 0 ] || fail "python: $got datagrams, $dropped dropped; want 5, 0"
for _ in $(seq 6000); do [ "$(wc -l < "$work/pyj.out")" -ge 5 ] && break; sleep 0.01; done
check journal "$work/pyj.out" py 3 "$pid" pyident >/dev/null
stop_sink "$s1"; stop_sink "$s2"
echo "python3 syslog module: ring, datagrams and journal entries ok (per-call facilities)"

# --- C, fortified, reader running, mode=direct (the calls send)
ring=nblog-test-preload-$$-c
sink "$work/c.sock" "$work/c.out"; s1=$sinkpid
run "$ring" "unix:$work/c.sock,rfc3164=on,mode=direct" "$prog" 5
pid=$("$tool" status --json "$ring" | python3 -c 'import json, sys; print(json.load(sys.stdin)["writer"]["pid"])')
"$tool" dmesg -o json "$ring" > "$work/c.json"
check ring "$work/c.json" c 5 "$pid" cident >/dev/null
! grep -q "masked" "$work/c.json" || fail "C: setlogmask not honoured"
end_sink "$work/c.sock" "$work/c.out"
read -r got dropped notices walked < <(check dgrams "$work/c.out" c 5 "$pid" cident)
[ "$got" = 12 ] && [ "$dropped" = 0 ] || fail "C: $got datagrams, $dropped dropped; want 12, 0"
stop_sink "$s1"
echo "fortified C program: ring and datagrams ok (per-call facilities, bad bits, later openlog's facility)"

# --- a Debian program using syslog(3): su (util-linux, fortified; its PAM
# modules log through vsyslog too). Needs root (LD_PRELOAD is ignored for
# a set-user-ID program run by anyone else) and the nobody account.
if [ "$(id -u)" = 0 ] && command -v su >/dev/null && id nobody >/dev/null 2>&1; then
    ring=nblog-test-preload-$$-su
    sink "$work/su.sock" "$work/su.out"; s1=$sinkpid
    run "$ring" "unix:$work/su.sock,rfc3164=on" su nobody -s /bin/sh -c true
    "$tool" dmesg -F json "$ring" > "$work/su.json"
    grep -q '"level":"notice".*"text":"(to nobody) root on none"' "$work/su.json" ||
        fail "su: its record is not in the ring: $(cat "$work/su.json")"
    "$tool" dmesg -o json "$ring" | grep -q '"SYSLOG_FACILITY":"4".*"MESSAGE":"(to nobody) root on none"' ||
        fail "su: its record's facility is not auth: $("$tool" dmesg -o json "$ring")"
    # Its PAM modules' records: syslog(LOG_AUTHPRIV | level, ...) (pam_vsyslog)
    "$tool" dmesg -o json "$ring" |
        grep -q '"PRIORITY":"6","SYSLOG_FACILITY":"10","SYSLOG_IDENTIFIER":"su".*"MESSAGE":"pam_unix(su:session): session opened' ||
        fail "su: pam_unix's record is not authpriv.info: $("$tool" dmesg -o json "$ring")"
    end_sink "$work/su.sock" "$work/su.out"
    stop_sink "$s1"
    # LOG_AUTH (4) * 8 + LOG_NOTICE (5) = 37, ident su
    grep -q -E "^b'<37>.* su\[[0-9]+\]: \(to nobody\) root on none'" "$work/su.out" ||
        fail "su: datagram wrong: $(cat "$work/su.out")"
    # LOG_AUTHPRIV (10) * 8 + LOG_INFO (6) = 86
    grep -q -E "^b'<86>.* su\[[0-9]+\]: pam_unix\(su:session\): session opened" "$work/su.out" ||
        fail "su: pam_unix's datagram wrong: $(cat "$work/su.out")"
    echo "su (Debian, fortified, PAM): ring and datagrams ok (auth, PAM's authpriv)"
else
    echo "su: skipped (not root, or no su or nobody)"
fi

# --- (a) the receiver stopped while the program logs n records and exits
n=5000
for who in c py; do
    ring=nblog-test-preload-$$-stopped-$who
    sock=$work/stopped-$who.sock out=$work/stopped-$who.out
    sink "$sock" "$out"; s1=$sinkpid
    stop "$s1"
    if [ $who = c ]; then
        run "$ring" "unix:$sock,rfc3164=on,mode=direct" "$prog" $n
        pid=$("$tool" status --json "$ring" | python3 -c 'import json, sys; print(json.load(sys.stdin)["writer"]["pid"])')
        ident=cident stored=$((n + 7))
    else
        run "$ring" "unix:$sock,rfc3164=on,mode=direct" python3 -c "$py" $n "$work/stopped.pid"
        pid=$(cat "$work/stopped.pid") ident=pyident stored=$((n + 2))
    fi
    "$tool" dmesg -o json "$ring" > "$work/stopped-$who.json"
    read -r kept first < <(check ring "$work/stopped-$who.json" $who $n "$pid" $ident)
    [ "$kept" = $stored ] || fail "$who stopped: $kept records in the ring, want $stored"
    read -r lag printed dropped filtered failed < <(books "$ring")
    kill -CONT "$s1"
    end_sink "$sock" "$out"
    read -r got gone notices walked < <(check dgrams "$out" $who $n "$pid" $ident)
    # Books: every record is printed or lag (the program left before its
    # console could send them), none dropped (the ring holds them all).
    # Printed ones all arrived; so may some of the batch in flight
    # (sent, not yet counted printed: counted lag).
    [ $((lag + printed + dropped + filtered + failed)) = $stored ] && [ "$dropped" = 0 ] &&
        [ "$failed" = 0 ] && [ "$lag" -gt 0 ] ||
        fail "$who stopped: books lag $lag printed $printed dropped $dropped filtered $filtered failed $failed, stored $stored"
    [ "$gone" = 0 ] && [ "$notices" = 0 ] && [ "$got" -ge "$printed" ] && [ "$got" -le $((printed + lag)) ] ||
        fail "$who stopped: received $got (notices $notices for $gone), books printed $printed lag $lag"
    stop_sink "$s1"
    echo "$who, receiver stopped: finished; $stored records in the ring; console: $printed printed, $lag lag, 0 dropped; received $got after SIGCONT, <PRI> right"
done

# --- (b) the receiver stopped while the program logs more than the ring
# holds; it waits (DIR/go) until the console caught up after SIGCONT.
# Besides the ring's 65536 records, the console's batch keeps lines it
# rendered before the ring lapped them (256 KiB: about 5000 of these), so
# n is well past both: the console must find records gone.
n=80000
for who in c py; do
    ring=nblog-test-preload-$$-lapped-$who
    sock=$work/lapped-$who.sock out=$work/lapped-$who.out dir=$work/lapped-$who
    mkdir "$dir"
    sink "$sock" "$out"; s1=$sinkpid
    stop "$s1"
    rings+=("$ring")
    rm -f "/dev/shm/$ring"
    if [ $who = c ]; then
        NBLOG_RING=$ring NBLOG_CONSOLES="unix:$sock,rfc3164=on,mode=direct" LD_PRELOAD=$lib \
            timeout 180 "$prog" $n "$dir" &
        ident=cident stored=$((n + 7))
    else
        NBLOG_RING=$ring NBLOG_CONSOLES="unix:$sock,rfc3164=on,mode=direct" LD_PRELOAD=$lib \
            timeout 180 python3 -c "$py" $n "$dir/pid" "$dir" &
        ident=pyident stored=$((n + 2))
    fi
    progpid=$!
    for _ in $(seq 12000); do [ -e "$dir/logged" ] && break; sleep 0.01; done
    [ -e "$dir/logged" ] || fail "$who lapped: the program did not finish logging (blocked)"
    pid=$("$tool" status --json "$ring" | python3 -c 'import json, sys; print(json.load(sys.stdin)["writer"]["pid"])')
    "$tool" dmesg -o json "$ring" > "$dir/ring.json"
    read -r kept first < <(check ring-lapped "$dir/ring.json" $who $n "$pid" $ident)
    kill -CONT "$s1"
    lag=1
    for _ in $(seq 6000); do
        read -r lag printed dropped filtered failed < <(books "$ring")
        [ "$lag" = 0 ] && break
        sleep 0.01
    done
    [ "$lag" = 0 ] || fail "$who lapped: the console did not catch up after SIGCONT: lag $lag"
    touch "$dir/go"
    wait $progpid || fail "$who lapped: the program exited $?"
    end_sink "$sock" "$out"
    read -r got gone notices walked < <(check dgrams "$out" $who $n "$pid" $ident)
    [ $((printed + dropped + filtered + failed)) = $stored ] && [ "$dropped" -gt 0 ] && [ "$failed" = 0 ] ||
        fail "$who lapped: books printed $printed dropped $dropped filtered $filtered failed $failed, stored $stored"
    [ "$got" = "$printed" ] && [ "$gone" = "$dropped" ] && [ "$notices" -ge 1 ] && [ "$walked" = $stored ] ||
        fail "$who lapped: received $got records and $notices notices for $gone; books printed $printed dropped $dropped"
    stop_sink "$s1"
    echo "$who, receiver stopped, ring lapped: finished; ring kept the newest $kept; console: $printed printed, $dropped dropped; received $got + $notices notice(s) for $gone, <PRI> right"
done
echo "test-preload: all ok"
