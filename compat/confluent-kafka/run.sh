#!/usr/bin/env bash
# confluent-kafka-python (librdkafka 2.12.0) compatibility suite for brokk.
#
# Usage: compat/confluent-kafka/run.sh
#   BROKK_BIN=/path/to/brokk   broker binary (default: <repo>/target/release/brokk)
#   N=100000                   messages per codec in scenario a
#   CODECS="none gzip snappy lz4 zstd"
#   STRICT_CODECS=1            fail (instead of NOTE) when the client sends lz4 uncompressed
#   KEEP_WORK=1                keep the temp dir (data dirs, broker + client logs)
#
# Creates .venv here with confluent-kafka==2.12.0 if missing. Starts its own brokers
# on a free 127.0.0.1 port, each with its own data dir. Exits non-zero on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"   # sets BROKK_BIN, checks it; fail/scenario/ok/start_broker/...
N=${N:-100000}
CODECS=${CODECS:-none gzip snappy lz4 zstd}
CK_VERSION=2.12.0
VENV=$HERE/.venv
PY=$VENV/bin/python
MIN_ACKED=3000

# ---------------------------------------------------------------------------- venv
if ! { [[ -x $PY ]] && timeout 60 "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('confluent-kafka') != '$CK_VERSION')" 2>/dev/null; }; then
    echo "setting up $VENV with confluent-kafka==$CK_VERSION"
    timeout 120 python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q "confluent-kafka==$CK_VERSION"
    timeout 60 "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('confluent-kafka') != '$CK_VERSION')" ||
        { echo "FAIL: confluent-kafka $CK_VERSION not importable from $VENV" >&2; exit 1; }
fi

harness_init confluent-kafka ck   # WORK, BROKER, traps

# py TIMEOUT SCRIPT ARGS...: run a client script with a hard time limit
py() {
    # In the background and waited for, so a TERM to this suite runs the cleanup trap at once
    # (bash defers traps while a foreground child runs) and the cleanup can kill the client.
    local t=$1 rc=0
    shift
    (cd "$HERE" && exec timeout "$t" "$PY" "$@") &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    return $rc
}

SECONDS=0
echo "confluent-kafka compat: $("$PY" -c 'import confluent_kafka as c;f=lambda v: v[0] if isinstance(v, tuple) else v;print("confluent-kafka", f(c.version()), "/ librdkafka", f(c.libversion()))') / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"

# ============================================================================ a + c
MAIN_DATA=$WORK/data-main
start_broker "$MAIN_DATA"

for codec in $CODECS; do
    scenario "a: $codec round trip, $N messages, 3 partitions, acks=all"
    t0=$SECONDS
    py 300 roundtrip.py "$BROKER" "$codec" "$N" 3 || fail "roundtrip $codec"
    # librdkafka 2.12 sends lz4 uncompressed to a broker without FindCoordinator (see
    # FINDINGS.md): tolerated with a NOTE unless STRICT_CODECS=1. Other codecs must arrive
    # compressed with the requested codec.
    allow=
    [[ $codec == lz4 && ${STRICT_CODECS:-0} != 1 ]] && allow=--allow-none
    timeout 60 python3 "$HERE/../lib/disk_codecs.py" "$MAIN_DATA" "roundtrip-$codec" "$codec" $allow ||
        fail "on-disk codec check for $codec"
    ok "$codec: $N messages byte-identical (keys, values, headers, timestamps), per-partition order ($((SECONDS - t0))s)"
done

scenario "c: Fetch long-poll (fetch.wait.max.ms=5000)"
py 60 longpoll.py "$BROKER" || fail "long-poll"
ok "parked fetch completes as soon as data arrives (< 2s); idle consumer does not spin"

scenario "a': clean restart keeps all round-trip data"
stop_broker INT
start_broker "$MAIN_DATA"
opened_line | grep -q "clean_shutdown=true" || fail "expected clean_shutdown=true: $(opened_line)"
opened_line | grep -q "segments_scanned=0 " || fail "expected segments_scanned=0: $(opened_line)"
for codec in $CODECS; do
    py 300 roundtrip.py --verify-only "$BROKER" "$codec" "$N" 3 || fail "re-verify $codec after restart"
done
ok "log: $(opened_line); all $(wc -w <<<"$CODECS") topics re-verified"
stop_broker INT

# ============================================================================ b
# crash_test LABEL [brokk args...]
crash_test() {
    local label=$1
    shift
    local data=$WORK/data-crash-$label topic=crash-$label acks=$WORK/crash-$label.acks
    local plog=$WORK/crash-$label.producer.log n_acked
    : >"$acks"
    start_broker "$data" "$@"
    (cd "$HERE" && exec timeout 120 "$PY" crash_producer.py "$BROKER" "$topic" "$acks") >"$plog" 2>&1 &
    CLIENT_PID=$!
    for _ in $(seq 1 300); do   # up to ~30 s for the first $MIN_ACKED acks
        n_acked=$(wc -l <"$acks")
        ((n_acked >= MIN_ACKED)) && break
        kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$plog" >&2; fail "producer exited early"; }
        sleep 0.1
    done
    ((n_acked >= MIN_ACKED)) || fail "producer acked only $n_acked messages in 30s"
    kill -0 "$CLIENT_PID" 2>/dev/null || fail "producer no longer running at kill time (not mid-stream)"
    kill -9 "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
    local at_kill=$n_acked
    sleep 0.3
    kill -TERM "$CLIENT_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$CLIENT_PID" 2>/dev/null; then kill -9 "$CLIENT_PID" 2>/dev/null || true; fi
    wait "$CLIENT_PID" 2>/dev/null || true
    CLIENT_PID=
    n_acked=$(wc -l <"$acks")
    echo "   broker SIGKILLed with >= $at_kill acks recorded; $n_acked acked in total; $(grep -h 'crash_producer:' "$plog" || echo 'producer summary missing')"

    start_broker "$data" "$@"
    opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
    opened_line | grep -Eq "segments_scanned=[1-9]" || fail "expected segments_scanned>0 after SIGKILL: $(opened_line)"
    echo "   restart log: $(opened_line)"
    py 120 crash_verify.py "$BROKER" "$topic" "$acks" "$MIN_ACKED" || fail "crash verify ($label)"
    stop_broker INT
    ok "$label: all $n_acked acked messages at their offsets, contiguous log, next offset exact"
}

scenario "b: SIGKILL mid-stream (default flush policy: page cache)"
crash_test pagecache

scenario "b: SIGKILL mid-stream (log.flush.interval.messages=1)"
crash_test fsync --override log.flush.interval.messages=1

scenario "d: concurrency soak (4 producers, 2 consumers, many rolls, flush.ms=5), then kill -9"
SOAK_DATA=$WORK/data-soak
start_broker "$SOAK_DATA"
py 200 soak.py "$BROKER" 50000 || fail "soak"
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
BROKER_PID=
start_broker "$SOAK_DATA"
opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
echo "   restart log: $(opened_line)"
py 120 soak.py --verify-only "$BROKER" 50000 || fail "soak data after kill -9"
stop_broker INT
ok "every message once, in order, through rolls and background flushes; intact after kill -9"

CURRENT="finished"
echo "confluent-kafka compat suite finished in ${SECONDS}s"
echo "confluent-kafka: $PASSED passed, 0 failed"
