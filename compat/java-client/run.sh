#!/usr/bin/env bash
# The Java client (kafka-clients of the pinned Apache Kafka release, from the distribution
# compat/prereqs.sh assembles) against brokk: producer with every codec and idempotence,
# consumer groups with every assignor and static membership, commits, offsets for times, the
# Admin client, transactions with read_committed, and leader epochs across restarts.
#
# Usage: compat/java-client/run.sh [SCENARIO...]   (BROKK_BIN=/path/to/brokk to override)
#        KEEP_WORK=1 compat/java-client/run.sh      keeps the temp dir
#        COMPAT_TARGET=kafka compat/java-client/run.sh [SCENARIO...]
#            the same scenarios against the reference Apache Kafka (compat/kafka/kafka.sh,
#            KRaft, node id 1; KAFKA_PROPS passes through to it), recording nothing
#
# One JVM runs every scenario (src/brokk/compat/Main.java); it runs its brokers itself so
# that clients can outlive restarts, and appends results to compat/results/java-client.tsv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_HOME=${KAFKA_HOME:-$HOME/.cache/brokk-kafka/$KAFKA_VERSION}
[[ -f $KAFKA_HOME/.complete && -f $KAFKA_HOME/libs/kafka-clients-$KAFKA_VERSION.jar ]] ||
    { echo "FAIL: no Kafka distribution in $KAFKA_HOME: run compat/prereqs.sh" >&2; exit 1; }

TARGET=${COMPAT_TARGET:-brokk}
case $TARGET in
brokk)
    harness_init java-client java-client
    client_version "kafka-clients $KAFKA_VERSION (Java)"
    JVM_TIMEOUT=600 ;;
kafka)
    # compat/results/ records brokk, and harness_init would empty java-client.tsv: the work
    # dir and the cleanup (which SIGKILLs WORK/*.pid, Kafka's pid too) are set up here.
    HARNESS_NAME=java-client CURRENT=setup CLIENT_PID= BROKER_PID= LOG=
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/brokk-compat-java-client-kafka.XXXXXX")
    RESULTS=/dev/null
    trap harness_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    BROKK_BIN=$ROOT/compat/kafka/kafka.sh   # what Broker.java runs
    export COMPAT_TARGET KAFKA_VERSION KAFKA_CACHE=${KAFKA_CACHE:-$KAFKA_HOME}
    JVM_TIMEOUT=840 ;;   # each Kafka start takes seconds
*) echo "FAIL: COMPAT_TARGET must be brokk or kafka, not $TARGET" >&2; exit 1 ;;
esac

CURRENT=compile
mkdir -p "$WORK/classes"
timeout 120 javac -Xlint:-options -nowarn -d "$WORK/classes" -cp "$KAFKA_HOME/libs/*" "$HERE"/src/brokk/compat/*.java ||
    fail "javac"

CURRENT="scenarios (see above)"
(exec timeout -k 10 "$JVM_TIMEOUT" java -Xmx1g -XX:+UseSerialGC \
    "-Dlog4j2.configurationFile=$KAFKA_HOME/config/tools-log4j2.properties" \
    -cp "$WORK/classes:$KAFKA_HOME/libs/*" brokk.compat.Main "$BROKK_BIN" "$WORK" "$RESULTS" "$@") &
CLIENT_PID=$!
rc=0
wait "$CLIENT_PID" || rc=$?
CLIENT_PID=
((rc == 0)) || { echo "java-client compat: a scenario failed (rc=$rc)" >&2; exit 1; }
CURRENT=finished
echo "java-client compat suite finished in ${SECONDS}s"
