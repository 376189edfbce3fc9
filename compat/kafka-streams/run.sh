#!/usr/bin/env bash
# Kafka Streams (the pinned Apache Kafka release's kafka-streams, RocksDB state) against brokk:
# a word-count application with processing.guarantee=exactly_once_v2 (input -> flatMapValues
# -> groupBy word (repartition topic) -> count (RocksDB store, compacted changelog) ->
# output), restarted mid-stream by close(), by kill -9 of its JVM, across a kill -9 of brokk,
# from a wiped state directory (restored from brokk's compacted changelog) and after
# kafka-streams-application-reset --to-datetime; a read_committed consumer checks that the
# counts of every word read 1, 2, ..., n exactly.
#
# Usage: compat/kafka-streams/run.sh            (BROKK_BIN=/path/to/brokk to override)
#        KEEP_WORK=1 compat/kafka-streams/run.sh keeps the temp dir (logs, state dir)
#
# The shell owns brokk; src/brokk/streams/WordCount.java runs in two JVMs, one after the other
# (phase1 is killed with -9 by this script when it asks to be; phase2 asks for brokk to be
# killed and restarted while the app runs). Results go to compat/results/kafka-streams.tsv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_HOME=${KAFKA_HOME:-$HOME/.cache/brokk-kafka/$KAFKA_VERSION}
[[ -f $KAFKA_HOME/.complete && -f $KAFKA_HOME/libs/kafka-streams-$KAFKA_VERSION.jar ]] ||
    { echo "FAIL: no Kafka distribution with kafka-streams in $KAFKA_HOME: run compat/prereqs.sh" >&2; exit 1; }

harness_init kafka-streams kafka-streams
client_version "Kafka Streams $KAFKA_VERSION"
unsupported produce-codecs "a Streams app writes through its one embedded producer's compression.type (zstd here, for the repartition, changelog and output topics alike); the codecs are the java-client suite's"
unsupported admin-configs "Streams sets its internal topics' configs in CreateTopics and never describes or alters them while it runs (this suite checks them with describeConfigs)"
unsupported admin-partitions "Streams never adds partitions: internal topics are created with the input's partition count, a mismatch is an error"

CURRENT=compile
mkdir -p "$WORK/classes"
timeout 120 javac -Xlint:-options -nowarn -d "$WORK/classes" -cp "$KAFKA_HOME/libs/*" "$HERE"/src/brokk/streams/*.java ||
    fail "javac"

# log.cleaner.backoff.ms: the cleaner looks for dirty logs every 0.5 s instead of 15 s, so the
# changelog (segment.ms=1000, min.cleanable.dirty.ratio=0.01) is compacted while the suite runs.
BROKER_ARGS=(--override log.cleaner.backoff.ms=500)
start_broker "$WORK/data" "${BROKER_ARGS[@]}"

# phase JAVA_PHASE: starts WordCount PHASE in the background as CLIENT_PID (at most 150 s).
phase() {
    # java.io.tmpdir in WORK: RocksDB unpacks its native library there (a JVM killed with -9, or
    # one that halts, never deletes it)
    mkdir -p "$WORK/tmp"
    (exec timeout -k 5 150 java -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "-Djava.io.tmpdir=$WORK/tmp" \
        "-Dlog4j2.configurationFile=$KAFKA_HOME/config/tools-log4j2.properties" \
        -cp "$WORK/classes:$KAFKA_HOME/libs/*" brokk.streams.WordCount "$1" "$BROKER" "$WORK" "$RESULTS" \
        >"$WORK/$1.out" 2>&1) &
    CLIENT_PID=$!
}
# finish_phase: waits for CLIENT_PID, prints its output, sets rc.
finish_phase() {
    rc=0
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    cat "$WORK/$1.out"
}

CURRENT="phase1 (clean-restart, then kill -9 of the app)"
phase phase1
killed=0
deadline=$((SECONDS + 150))
while kill -0 "$CLIENT_PID" 2>/dev/null && ((SECONDS < deadline)); do
    if [[ -f $WORK/signal.kill-app ]]; then
        kill -9 "$(cat "$WORK/signal.kill-app")"
        killed=1
        break
    fi
    sleep 0.05
done
finish_phase phase1
((killed == 1 && rc == 137)) ||
    fail "phase1 exited with rc=$rc before asking to be killed (see above)"
echo "   the app's JVM was killed with -9 mid-stream"

CURRENT="phase2 (app-kill9, broker-kill9, internal-topics, restore-compacted, exactly-once-output, reset-to-datetime)"
phase phase2
deadline=$((SECONDS + 150))
while kill -0 "$CLIENT_PID" 2>/dev/null && ((SECONDS < deadline)); do
    if [[ -f $WORK/signal.kill-broker && ! -f $WORK/signal.broker-back ]]; then
        stop_broker KILL
        echo "   brokk killed with -9 mid-stream; restarting it"
        start_broker "$WORK/data" "${BROKER_ARGS[@]}"
        touch "$WORK/signal.broker-back"
    fi
    sleep 0.05
done
finish_phase phase2
((rc == 0)) || fail "phase2 failed (rc=$rc, see above)"

CURRENT="broker stop"
stop_broker TERM
grep -q "stopped cleanly" "$LOG" || fail "the broker log lacks 'stopped cleanly'"
CURRENT=finished
echo "kafka-streams compat suite finished in ${SECONDS}s"
