#!/usr/bin/env bash
# confluent-kafka-python (librdkafka 2.12.0) compatibility suite for brokk.
#
# Usage: compat/confluent-kafka/run.sh
#   BROKK_BIN=/path/to/brokk   broker binary (default: <repo>/target/release/brokk)
#   N=100000                   messages per codec in scenario a
#   CODECS="none gzip snappy lz4 zstd"
#   STRICT_CODECS=0            tolerate (with a NOTE) lz4 arriving uncompressed (default: fail)
#   KEEP_WORK=1                keep the temp dir (data dirs, broker + client logs)
#   PARTS="data groups idem txn"   which parts to run: data (a-e), groups (g1-g7), idem (i1-i2),
#                              txn (t1-t4)
#   IDEM_N=100000              messages in i1 (idempotent producer through a connection-killing proxy)
#   IDEM_KILL_KB=100-1000      i1: the proxy kills each connection after this many KB (random)
#   IDEM_SEED=1                i1: the proxy's random seed
#   IDEM_CONTRAST_N=20000      i1: the same with enable.idempotence=false (reported, not checked; 0: skip)
#   IDEM_RESTART_N=60000       messages in each i2 run (broker SIGTERM / SIGKILL while producing)
#   IDEM_FREEZE_TERM=freeze    i2: what the proxy swallows before the SIGTERM / SIGKILL stop:
#   IDEM_FREEZE_KILL="blackhole 5"   "freeze" (the last Produce answer) or "blackhole K" (see idem_proxy.py)
#   STRATEGIES="range roundrobin cooperative-sticky"   assignors for g1
#   CK_DEBUG=cgrp              librdkafka debug contexts for the group and idem clients (stderr)
#   TXN_N=2000                 t1: input messages of the consume-transform-produce loop
#   TXN_BATCH=60               t1: at most this many inputs per transaction
#   TXN_ABORT_EVERY=4          t1: every k-th transaction is aborted and retried
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
PARTS=${PARTS:-data groups idem txn}
IDEM_N=${IDEM_N:-100000}
IDEM_KILL_KB=${IDEM_KILL_KB:-100-1000}
IDEM_SEED=${IDEM_SEED:-1}
IDEM_CONTRAST_N=${IDEM_CONTRAST_N:-20000}
IDEM_RESTART_N=${IDEM_RESTART_N:-60000}
IDEM_FREEZE_TERM=${IDEM_FREEZE_TERM:-freeze}
IDEM_FREEZE_KILL=${IDEM_FREEZE_KILL:-blackhole 5}
STRATEGIES=${STRATEGIES:-range roundrobin cooperative-sticky}
TXN_N=${TXN_N:-2000}
TXN_BATCH=${TXN_BATCH:-60}
TXN_ABORT_EVERY=${TXN_ABORT_EVERY:-4}

# ---------------------------------------------------------------------------- venv
ensure_venv "$VENV" confluent-kafka "$CK_VERSION"

harness_init confluent-kafka ck   # WORK, BROKER, traps

# py TIMEOUT SCRIPT ARGS...: see ../lib/harness.sh

SECONDS=0
client_version "$("$PY" -c 'import confluent_kafka as c;f=lambda v: v[0] if isinstance(v, tuple) else v;print(f(c.version()), "(librdkafka " + f(c.libversion()) + ")")')"
echo "confluent-kafka compat: $("$PY" -c 'import confluent_kafka as c;f=lambda v: v[0] if isinstance(v, tuple) else v;print("confluent-kafka", f(c.version()), "/ librdkafka", f(c.libversion()))') / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"

if [[ " $PARTS " == *" data "* ]]; then
# ============================================================================ a + c
MAIN_DATA=$WORK/data-main
start_broker "$MAIN_DATA"

for codec in $CODECS; do
    scenario "a: $codec round trip, $N messages, 3 partitions, acks=all" produce-codecs,consume
    t0=$SECONDS
    py 300 roundtrip.py "$BROKER" "$codec" "$N" 3 || fail "roundtrip $codec"
    # Every codec must arrive compressed with the requested codec. (librdkafka sends lz4
    # uncompressed to a broker without FindCoordinator, see FINDINGS.md finding 1; brokk has
    # it now. STRICT_CODECS=0 tolerates that again with a NOTE.)
    allow=
    [[ $codec == lz4 && ${STRICT_CODECS:-1} != 1 ]] && allow=--allow-none
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

scenario "e1: a consumer across a broker restart: leader epoch 0 -> 2, position validated (OffsetForLeaderEpoch)" leader-epochs
py 120 epochs.py restart "$BROKER" "$BROKK_BIN" "$WORK/data-e1" || fail "consumer across a restart"
ok "fenced, refreshed, validated: the next messages once each at epoch 2"

scenario "e2: a crash that loses acknowledged-but-unflushed data: librdkafka detects the truncation" leader-epochs
py 120 epochs.py truncation "$BROKER" "$BROKK_BIN" "$WORK/data-e2" || fail "log truncation detection"
ok "OffsetForLeaderEpoch says epoch 2 ended at 5 < position 8: 'Partition log truncation detected'"
fi

if [[ " $PARTS " == *" groups "* ]]; then
# ============================================================================ g: consumer groups
# One broker for g1-g4, g6, g7 (each uses its own topics and groups); session timeouts down
# to 1 s allowed so g6's killed member expires quickly. g5 restarts its own broker.
GSTART=$SECONDS
GROUP_ARGS=(--override group.min.session.timeout.ms=1000)
start_broker "$WORK/data-groups" "${GROUP_ARGS[@]}"
LATENCIES=()
for strategy in $STRATEGIES; do
    scenario "g1: $strategy: 3 members x 2 of 6 partitions, exactly once; a member leaves, survivors take over" group-rebalance
    out=$WORK/g1-$strategy.out
    py 90 group_assign.py "$BROKER" "$strategy" >"$out" || { cat "$out"; fail "group_assign $strategy"; }
    sed 's/^/   /' "$out"
    line=$(grep -o 'REBALANCE_LATENCY .*' "$out") || fail "no REBALANCE_LATENCY line"
    LATENCIES+=("$line")
    ok "$strategy: disjoint 2/2/2 then 3/3, never a partition in two members, every message exactly once"
done

scenario "g2: commits: sync+metadata, async+on_commit, store_offsets (manual, auto), auto-commit, without membership" commit-resume
py 90 group_commit.py "$BROKER" || fail "group_commit"
ok "committed() returns exactly what was committed/stored; next members resume there"

scenario "g3: static membership (group.instance.id): restart each member within session.timeout.ms"
py 90 group_static.py "$BROKER" || fail "group_static"
ok "same partitions back, no rebalance on the other members, every message exactly once"

scenario "g4: pub/sub vs queue: a 1-member and a 3-member group on one topic"
py 90 group_pubsub.py "$BROKER" || fail "group_pubsub"
ok "each group gets every message; within the 3-member group each message goes to one member"

scenario "g6: a member SIGKILLed (session.timeout.ms=2000): partitions move after the session expires"
py 90 group_kill.py "$BROKER" || fail "group_kill"
ok "takeover after the session timeout, every message at least once, redelivery only from the last commit"

scenario "g7: AdminClient: list/describe/delete groups, list/alter offsets" admin-groups
py 90 group_admin.py "$BROKER" || fail "group_admin"
ok "states, members, assignments, NON_EMPTY_GROUP, UNKNOWN_MEMBER_ID on active groups; alter/delete on Empty"
stop_broker INT

# The admin scenarios share one broker whose cleaner wakes every 100 ms (the compaction one).
start_broker "$WORK/data-admin" --override log.cleaner.backoff.ms=100
scenario "admin-topics: create_topics (configs, validate_only, errors), describe_topics, delete_topics" admin-topics
py 60 admin.py topics "$BROKER" || fail "admin topics"
ok "created with configs; validate_only creates nothing; TOPIC_ALREADY_EXISTS, INVALID_CONFIG; described and deleted"
scenario "admin-configs: describe_configs, incremental_alter_configs, a changed config enforced" admin-configs
py 60 admin.py configs "$BROKER" || fail "admin configs"
ok "33 topic configs with sources; SET/APPEND/DELETE; INVALID_CONFIG; max.message.bytes refuses a larger record at once"
scenario "admin-partitions: create_partitions" admin-partitions
py 60 admin.py partitions "$BROKER" || fail "admin partitions"
ok "1 -> 3 partitions, the new one written and read; INVALID_PARTITIONS on a decrease"
scenario "admin-records: delete_records" admin-delete-records
py 60 admin.py records "$BROKER" || fail "admin records"
ok "low watermark moves, consumers start there; POLICY_VIOLATION on a compact-only topic"
scenario "offsets-for-times: list_offsets (earliest, latest, for_timestamp, max_timestamp), offsets_for_times" offsets-for-times
py 60 admin.py times "$BROKER" || fail "offsets for times"
ok "every OffsetSpec and Consumer.offsets_for_times answer Kafka's offsets"
scenario "compaction: cleanup.policy=compact cleaned by the broker's cleaner thread"
py 90 admin.py compaction "$BROKER" || fail "compaction"
ok "300 records over 7 keys compacted; each key's latest value at its original offset"
stop_broker INT

scenario "g5: committed offsets + metadata survive kill -9 and a clean restart" commit-resume
G5_DATA=$WORK/data-g5
start_broker "$G5_DATA" "${GROUP_ARGS[@]}"
py 60 group_restart.py commit "$BROKER" g5-kill || fail "commit before kill -9"
stop_broker KILL
start_broker "$G5_DATA" "${GROUP_ARGS[@]}"
opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
opened_line | grep -Eq " groups=1( |$)" || fail "expected groups=1 after SIGKILL: $(opened_line)"
echo "   restart log: $(opened_line)"
py 60 group_restart.py verify "$BROKER" g5-kill || fail "resume after kill -9"
py 60 group_restart.py commit "$BROKER" g5-term || fail "commit before SIGTERM"
stop_broker TERM
start_broker "$G5_DATA" "${GROUP_ARGS[@]}"
opened_line | grep -q "clean_shutdown=true" || fail "expected clean_shutdown=true after SIGTERM: $(opened_line)"
opened_line | grep -Eq " groups=2( |$)" || fail "expected groups=2 after SIGTERM: $(opened_line)"
echo "   restart log: $(opened_line)"
py 60 group_restart.py verify "$BROKER" g5-term || fail "resume after SIGTERM"
py 60 group_restart.py verify "$BROKER" g5-kill || fail "g5-kill again after the second restart"
stop_broker INT
ok "after kill -9 and after SIGTERM: same offsets and metadata, first message at the committed offset"

printf '   %s\n' "${LATENCIES[@]}"
echo "   consumer-group part: $((SECONDS - GSTART))s"
fi

if [[ " $PARTS " == *" idem "* ]]; then
# ============================================================================ i: idempotent producer
# The broker advertises a proxy port (../lib/idem_proxy.py, started by the client script), so every
# producer connection goes through the proxy; verification reads straight from brokk after a
# restart without the advertised proxy.
ISTART=$SECONDS
IDEM_DATA=$WORK/data-idem
PROXY_PORT=$(free_port)

scenario "i1: idempotent producer, $IDEM_N keyed messages, proxy kills connections every $IDEM_KILL_KB KB" idempotent
start_broker "$IDEM_DATA" --advertised-listener "127.0.0.1:$PROXY_PORT"
py 120 idem_chaos.py produce "$BROKER" "$PROXY_PORT" idem-chaos "$IDEM_N" 1 "$WORK/idem-chaos.json" \
    --kill-kb "$IDEM_KILL_KB" --seed "$IDEM_SEED" || fail "idempotent produce through the proxy"
if ((IDEM_CONTRAST_N > 0)); then
    echo "   contrast: the same with enable.idempotence=false, $IDEM_CONTRAST_N messages (reported, not checked)"
    py 120 idem_chaos.py produce "$BROKER" "$PROXY_PORT" idem-contrast "$IDEM_CONTRAST_N" 0 "$WORK/idem-contrast.json" \
        --kill-kb "$IDEM_KILL_KB" --seed "$IDEM_SEED" || fail "non-idempotent produce through the proxy"
fi
stop_broker TERM
start_broker "$IDEM_DATA"
py 60 idem_chaos.py verify "$BROKER" idem-chaos "$WORK/idem-chaos.json" "$IDEM_DATA" || fail "idempotent read-back"
if ((IDEM_CONTRAST_N > 0)); then
    py 60 idem_chaos.py verify "$BROKER" idem-contrast "$WORK/idem-contrast.json" "$IDEM_DATA" ||
        fail "non-idempotent read-back"
fi
stop_broker INT
ok "every message exactly once, in production order per partition, every lost answer answered as a duplicate"

# idem_restart SIGNAL FREEZE: broker stopped with SIGNAL while the producer is mid-stream, after
# the proxy swallowed the answers to appended batches: FREEZE "freeze" (the last Produce answer:
# one batch in one partition, its last) or "blackhole K" (every answer until K, up to
# max.in.flight=5 batches; several per partition)
idem_restart() {
    local sig=$1 freeze=$2 n=$IDEM_RESTART_N
    local data=$WORK/data-idem-$sig topic=idem-restart-$sig out=$WORK/idem-restart-$sig.json
    local plog=$WORK/idem-restart-$sig.producer.log snap=() rc=0
    start_broker "$data" --advertised-listener "127.0.0.1:$PROXY_PORT"
    (cd "$HERE" && exec timeout 120 "$PY" idem_restart.py produce "$BROKER" "$PROXY_PORT" "$topic" "$n" "$out" \
        --freeze "$freeze") \
        >"$plog" 2>&1 &
    CLIENT_PID=$!
    for _ in $(seq 1 300); do   # up to ~30 s until the proxy swallowed an answer
        grep -q '^FROZEN' "$plog" && break
        kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$plog" >&2; fail "producer exited before the freeze"; }
        sleep 0.1
    done
    grep -q '^FROZEN' "$plog" || { cat "$plog" >&2; fail "the proxy did not freeze within 30s"; }
    kill -0 "$CLIENT_PID" 2>/dev/null || fail "producer no longer running at the stop (not mid-stream)"
    echo "   $(grep '^FROZEN' "$plog")"
    stop_broker "$sig"
    if [[ $sig == TERM && $freeze == freeze ]]; then
        snap=("$WORK/idem-restart-$sig.snapshots.json")
        timeout 30 "$PY" "$HERE/idem_restart.py" snapshots "$data" "$topic" "${snap[0]}" || fail "reading the snapshots"
    fi
    start_broker "$data" --advertised-listener "127.0.0.1:$PROXY_PORT"
    echo "   restart log: $(opened_line)"
    if [[ $sig == TERM ]]; then
        opened_line | grep -q "clean_shutdown=true" || fail "expected clean_shutdown=true after SIGTERM: $(opened_line)"
        opened_line | grep -q "segments_scanned=0 " || fail "expected segments_scanned=0 after SIGTERM: $(opened_line)"
    else
        opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
        opened_line | grep -Eq "segments_scanned=[1-9]" || fail "expected segments_scanned>0 after SIGKILL: $(opened_line)"
    fi
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    grep -v '^FROZEN\|^%' "$plog" || true
    ((rc == 0)) || { cat "$plog" >&2; fail "idempotent producer across the $sig restart (rc=$rc)"; }
    stop_broker INT
    start_broker "$data"
    py 60 idem_restart.py verify "$BROKER" "$topic" "$out" "$data" "${snap[@]}" || fail "read-back after the $sig restart"
    stop_broker INT
}

scenario "i2: idempotent producer across a broker SIGTERM + restart (producer state from the snapshot)" idempotent
idem_restart TERM "$IDEM_FREEZE_TERM"
ok "SIGTERM: exactly once, in order; the swallowed batch recognised as a duplicate after the restart"

scenario "i2: idempotent producer across a broker SIGKILL + restart (producer state rebuilt from the log)"
idem_restart KILL "$IDEM_FREEZE_KILL"
ok "SIGKILL: exactly once, in order; the swallowed batch recognised as a duplicate after the restart"
echo "   idempotence part: $((SECONDS - ISTART))s"
fi

if [[ " $PARTS " == *" txn "* ]]; then
# ============================================================================ t: transactions
# One broker for t1-t4 (own topics and transactional ids each), checking for timed-out
# transactions every 200 ms (Kafka: 10 s) so t3 and t4 wait about their transaction.timeout.ms.
# t4 SIGKILLs it and restarts it on the same data dir, which also re-verifies t1's results.
# Its 7 transactional ids: eos-txn (t1), fence-produce, fence-commit, fence-group-txn (t2),
# txn-timeout (t3), txn-restart-commit, txn-restart-open (t4).
TSTART=$SECONDS
TXN_DATA=$WORK/data-txn
TXN_ARGS=(--override transaction.abort.timed.out.transaction.cleanup.interval.ms=200)
start_broker "$TXN_DATA" "${TXN_ARGS[@]}"

scenario "t1: consume-transform-produce, $TXN_N inputs, read_committed group consumer + transactional producer, every ${TXN_ABORT_EVERY}th transaction aborted and retried" transactions
py 120 txn_eos.py run "$BROKER" "$WORK/txn-eos.json" "$TXN_N" "$TXN_BATCH" "$TXN_ABORT_EVERY" || fail "txn_eos"
ok "read_committed: each input exactly once; read_uncommitted: + the aborted attempts; offsets advance only on commit"

scenario "t2: fencing: a second producer with the same transactional.id; a zombie consumer's stale generation" transactions
py 60 txn_fence.py "$BROKER" || fail "txn_fence"
ok "the open transaction aborted, the old producer fatally fenced (produce and commit), the new one commits; stale generation: ILLEGAL_GENERATION"

scenario "t3: the coordinator aborts a transaction past transaction.timeout.ms=1000"
py 60 txn_timeout.py "$BROKER" 1000 || fail "txn_timeout"
ok "aborted after the timeout, read_committed moves past it, the producer's commit fails, the id commits again"

scenario "t4: a committed and an open transaction across a broker SIGKILL + restart"
py 60 txn_restart.py prepare "$BROKER" 4000 "$WORK/txn-restart.state" || fail "txn_restart prepare"
stop_broker KILL
start_broker "$TXN_DATA" "${TXN_ARGS[@]}"
opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
opened_line | grep -Eq " transactional_ids=7( |$)" || fail "expected transactional_ids=7 after SIGKILL: $(opened_line)"
echo "   restart log: $(opened_line)"
py 60 txn_restart.py verify "$BROKER" 4000 "$WORK/txn-restart.state" || fail "txn_restart verify"
py 60 txn_eos.py verify "$BROKER" "$WORK/txn-eos.json" || fail "t1's results after the SIGKILL"
stop_broker TERM
start_broker "$TXN_DATA" "${TXN_ARGS[@]}"
opened_line | grep -q "clean_shutdown=true" || fail "expected clean_shutdown=true after SIGTERM: $(opened_line)"
opened_line | grep -Eq " transactional_ids=7( |$)" || fail "expected transactional_ids=7 after SIGTERM: $(opened_line)"
py 60 txn_eos.py verify "$BROKER" "$WORK/txn-eos.json" || fail "t1's results after the SIGTERM"
stop_broker INT
ok "committed data kept, the open transaction aborted by its timeout after the restart, t1's results intact (SIGKILL and SIGTERM)"
echo "   transactions part: $((SECONDS - TSTART))s"
fi

CURRENT="finished"
echo "confluent-kafka compat suite finished in ${SECONDS}s"
echo "confluent-kafka: $PASSED passed, 0 failed"
