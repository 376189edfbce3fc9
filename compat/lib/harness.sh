# shellcheck shell=bash
# Shared shell harness for the compat suites (compat/*/run.sh). Source it, don't run it:
#     . "$HERE/../lib/harness.sh"
#
# On source: sets ROOT (repo top level) and BROKK_BIN (default <repo>/target/release/brokk,
# the caller's environment wins) and exits 1 if BROKK_BIN is not executable.
#
# harness_init NAME TAG  creates the work dir WORK=$TMPDIR/brokk-compat-TAG.XXXXXX, picks a
# free port and installs the EXIT/INT/TERM traps. The cleanup trap SIGKILLs CLIENT_PID and
# BROKER_PID (and their direct children) if still running; on a non-zero exit it prints
# "NAME compat: FAILED in scenario ..." and the tail of the current broker log; it removes
# WORK unless KEEP_WORK=1; it exits with the script's exit code.
#
# Variables the caller gets: WORK, PORT, BROKER (127.0.0.1:PORT), LOG (current broker log),
# BROKER_PID, PASSED (count of ok), CURRENT (scenario name).
# Variables the caller sets: CLIENT_PID, to the pid of a background client the cleanup must
# kill (clear it once reaped); CURRENT="finished" at the end (optional).
#
# Functions: fail MSG, scenario NAME, ok MSG, plainlog FILE, opened_line,
#            start_broker DATA_DIR [brokk args...], stop_broker SIGNAL, free_port,
#            ensure_venv VENV PACKAGE VERSION, py TIMEOUT SCRIPT ARGS... (needs HERE, PY).

ROOT=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
BROKK_BIN=${BROKK_BIN:-$ROOT/target/release/brokk}
[[ -x $BROKK_BIN ]] || { echo "FAIL: broker binary not found/executable: $BROKK_BIN" >&2; exit 1; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# harness_init NAME TAG
harness_init() {
    HARNESS_NAME=$1
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/brokk-compat-$2.XXXXXX")
    PORT=$(free_port)
    BROKER=127.0.0.1:$PORT
    BROKER_PID=
    CLIENT_PID=
    LOG=
    LOGN=0
    PASSED=0
    CURRENT=setup
    trap harness_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

harness_cleanup() {
    local rc=$?
    local pid
    for pid in "$CLIENT_PID" "$BROKER_PID"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            # children first (CLIENT_PID is usually `timeout`, which SIGKILL would orphan)
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ $rc -ne 0 ]]; then
        echo "$HARNESS_NAME compat: FAILED in scenario '$CURRENT' (rc=$rc); work dir $WORK" >&2
        if [[ -n $LOG && -f $LOG ]]; then
            echo "---- tail of broker log $LOG ----" >&2
            tail -n 40 "$LOG" >&2 || true
        fi
    fi
    if [[ ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
    exit $rc
}

fail() { echo "FAIL [$CURRENT]: $*" >&2; exit 1; }
scenario() { CURRENT=$1; echo "== $1"; }
ok() { PASSED=$((PASSED + 1)); echo "   ok: $*"; }

# Strip ANSI colour codes (NO_COLOR is set, but be robust).
plainlog() { sed -e 's/\x1b\[[0-9;]*m//g' "$1"; }
# The current broker log's "storage opened ..." line.
opened_line() { plainlog "$LOG" | grep -o 'storage opened.*' | head -1; }

# start_broker DATA_DIR [brokk args...]: start on $BROKER, wait (bounded) until it listens
start_broker() {
    local data=$1
    shift
    LOGN=$((LOGN + 1))
    LOG=$WORK/broker.$LOGN.log
    NO_COLOR=1 "$BROKK_BIN" --listen "$BROKER" --data-dir "$data" "$@" 2>"$LOG" >/dev/null &
    BROKER_PID=$!
    for _ in $(seq 1 100); do   # up to ~10 s
        if grep -q "brokk listening on" "$LOG" 2>/dev/null; then return 0; fi
        kill -0 "$BROKER_PID" 2>/dev/null || { cat "$LOG" >&2; fail "broker exited during startup"; }
        sleep 0.1
    done
    fail "broker did not log 'brokk listening on' within 10s"
}

# stop_broker SIGNAL: send it, wait (bounded) for the process to exit
stop_broker() {
    local sig=$1 alive=0
    kill "-$sig" "$BROKER_PID"
    {   # stderr off: no "Killed" job notice from bash after SIGKILL
        for _ in $(seq 1 100); do   # up to ~10 s
            kill -0 "$BROKER_PID" || break
            sleep 0.1
        done
        if kill -0 "$BROKER_PID"; then
            alive=1
            kill -9 "$BROKER_PID" || true
        fi
        wait "$BROKER_PID" || true
    } 2>/dev/null
    BROKER_PID=
    ((alive == 0)) || fail "broker did not exit within 10s of SIG$sig"
}

# ensure_venv VENV PACKAGE VERSION: creates VENV (if needed) with PACKAGE==VERSION pinned and
# checks it imports; exits 1 if it cannot.
ensure_venv() {
    local venv=$1 pkg=$2 version=$3
    local check="import importlib.metadata as m, sys; sys.exit(m.version('$pkg') != '$version')"
    if [[ -x $venv/bin/python ]] && timeout 60 "$venv/bin/python" -c "$check" 2>/dev/null; then
        return 0
    fi
    echo "setting up $venv with $pkg==$version"
    timeout 120 python3 -m venv "$venv"
    timeout 600 "$venv/bin/pip" install -q "$pkg==$version"
    timeout 60 "$venv/bin/python" -c "$check" ||
        { echo "FAIL: $pkg $version not importable from $venv" >&2; exit 1; }
}

# py TIMEOUT SCRIPT ARGS...: runs a client script of the suite (from HERE, with PY) under a
# hard time limit, in the background and waited for, so a TERM to the suite runs the cleanup
# trap at once (bash defers traps while a foreground child runs) and the cleanup can kill it.
py() {
    local t=$1 rc=0
    shift
    (cd "$HERE" && exec timeout "$t" "$PY" "$@") &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    return $rc
}
