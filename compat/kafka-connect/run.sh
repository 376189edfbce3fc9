#!/usr/bin/env bash
# Kafka Connect (the pinned Apache Kafka release's distributed worker, ConnectDistributed, with
# the FileStream connectors of connect-file) against brokk, driven through its REST API: a
# FileStreamSource reads a file into a topic and a FileStreamSink writes the topic to a file;
# the worker keeps its configs, offsets and statuses in compacted topics on brokk. The worker
# is stopped and restarted (the source resumes from its stored offset, the sink from its
# group's), runs across a kill -9 of brokk, has its sink's offsets reset through the REST API
# (KIP-875), and is killed with -9 mid-stream with exactly-once source support (KIP-618).
#
# Usage: compat/kafka-connect/run.sh            (BROKK_BIN=/path/to/brokk to override)
#        KEEP_WORK=1 compat/kafka-connect/run.sh keeps the temp dir (worker logs, files)
#
# One JVM at a time: the worker (a server; restarted as the scenarios need), and while it is
# stopped src/brokk/connect/Check.java (Admin and consumers) checks what it left on brokk.
# Results go to compat/results/kafka-connect.tsv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_HOME=${KAFKA_HOME:-$HOME/.cache/brokk-kafka/$KAFKA_VERSION}
[[ -f $KAFKA_HOME/.complete && -f $KAFKA_HOME/libs/connect-file-$KAFKA_VERSION.jar &&
    -x $KAFKA_HOME/bin/connect-distributed.sh ]] ||
    { echo "FAIL: no Kafka distribution with Connect in $KAFKA_HOME: run compat/prereqs.sh" >&2; exit 1; }

harness_init kafka-connect kafka-connect
client_version "Kafka Connect $KAFKA_VERSION"
unsupported produce-codecs "Connect's producers write every record with the worker's producer.compression.type (none by default); the codecs are the java-client suite's"
unsupported offsets-for-times "Connect never looks offsets up by time: a sink resumes from its consumer group's committed offsets, a source from its offset topic"
unsupported admin-partitions "Connect never adds partitions (topic.creation.* only creates topics)"
unsupported admin-delete-records "Connect never deletes records"

# fail also shows the end of the current worker's log
eval "harness_$(declare -f fail)"
fail() {
    if [[ -n $WORKER_LOG && -f $WORKER_LOG ]]; then
        echo "---- tail of worker log $WORKER_LOG ----" >&2
        tail -n 30 "$WORKER_LOG" >&2
    fi
    harness_fail "$@"
}

REST_PORT=$(free_port)
REST=http://127.0.0.1:$REST_PORT
IN=$WORK/input.txt
OUT=$WORK/output.txt
WORKERN=0
WORKER_LOG=

CURRENT=compile
mkdir -p "$WORK/classes"
timeout 120 javac -Xlint:-options -nowarn -d "$WORK/classes" -cp "$KAFKA_HOME/libs/*" "$HERE"/src/brokk/connect/*.java ||
    fail "javac"

# The worker logs Connect's INFO (and everything's WARN) to stdout: WORK/worker.N.log.
cat >"$WORK/log4j2.properties" <<'P'
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=OUT
logger.connect.name=org.apache.kafka.connect
logger.connect.level=INFO
P

# worker_props [EXTRA_LINE...]: WORK/worker.properties
worker_props() {
    cat >"$WORK/worker.properties" <<P
bootstrap.servers=$BROKER
group.id=brokk-connect
config.storage.topic=brokk-connect-configs
offset.storage.topic=brokk-connect-offsets
status.storage.topic=brokk-connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
listeners=http://127.0.0.1:$REST_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$REST_PORT
offset.flush.interval.ms=500
# a worker killed with -9 leaves its group after 6 s (the broker's minimum), not 10 s
session.timeout.ms=6000
heartbeat.interval.ms=1500
# a worker whose session expired (a broker down longer than 6 s) rejoins as a new member and
# its connectors and tasks count as lost: reassigned after 5 s, not 5 min
scheduled.rebalance.max.delay.ms=5000
# the sink tasks' consumers: the same for their group, and never read aborted records
consumer.session.timeout.ms=6000
consumer.heartbeat.interval.ms=1500
consumer.isolation.level=read_committed
P
    local line
    for line in "$@"; do echo "$line" >>"$WORK/worker.properties"; done
}

# start_worker: the worker in the background as CLIENT_PID (bounded at 300 s), up to 60 s for
# its REST API to list connectors (it has joined its group and read its config topic).
start_worker() {
    WORKERN=$((WORKERN + 1))
    WORKER_LOG=$WORK/worker.$WORKERN.log
    mkdir -p "$WORK/tmp"
    (KAFKA_HEAP_OPTS="-Xmx512m" KAFKA_OPTS="-Djava.io.tmpdir=$WORK/tmp" \
        KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$WORK/log4j2.properties" \
        exec timeout -k 30 300 "$KAFKA_HOME/bin/connect-distributed.sh" "$WORK/worker.properties" \
        >"$WORKER_LOG" 2>&1) &
    CLIENT_PID=$!
    local deadline=$((SECONDS + 60))
    until curl -sf --max-time 5 "$REST/connectors" >/dev/null 2>&1; do
        kill -0 "$CLIENT_PID" 2>/dev/null || { tail -n 40 "$WORKER_LOG" >&2; fail "the worker exited during start-up"; }
        ((SECONDS < deadline)) || { tail -n 40 "$WORKER_LOG" >&2; fail "the worker's REST API did not answer within 60 s"; }
        sleep 0.5
    done
}

# stop_worker TERM|KILL: TERM through `timeout` (it passes the signal on) for a graceful stop,
# bounded at 30 s; KILL is sent to the JVM itself (the child of `timeout`).
stop_worker() {
    local java
    java=$(pgrep -P "$CLIENT_PID" || true)
    if [[ $1 == KILL ]]; then
        [[ -n $java ]] || fail "no worker JVM under pid $CLIENT_PID"
        kill -9 "$java"
    else
        kill -TERM "$CLIENT_PID"
    fi
    local deadline=$((SECONDS + 30)) alive=0
    {   # stderr off: no "Killed" job notice from bash
        while kill -0 "$CLIENT_PID"; do
            ((SECONDS < deadline)) || { alive=1; kill -9 "$java" || true; break; }
            sleep 0.1
        done
        wait "$CLIENT_PID" || true
    } 2>/dev/null
    CLIENT_PID=
    ((alive == 0)) || fail "the worker did not stop within 30 s of SIG$1"
}

# rest METHOD PATH [JSON]: prints the body of a 2xx answer; otherwise says why on stderr, status 1
rest() {
    local out code
    out=$(curl -sS --max-time 30 -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
        -w '\n%{http_code}' "$REST$2" 2>&1) || { echo "   curl $1 $2: $out" >&2; return 1; }
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [[ $code == 2* ]] || { echo "   $1 $2 answered HTTP $code: $out" >&2; return 1; }
    printf '%s\n' "$out"
}

# await_running NAME...: every named connector and its tasks RUNNING (bounded at 90 s)
await_running() {
    local name s deadline=$((SECONDS + 90))
    for name in "$@"; do
        until s=$(curl -sf --max-time 5 "$REST/connectors/$name/status" 2>/dev/null) &&
            jq -e '.connector.state == "RUNNING" and (.tasks | length) > 0 and all(.tasks[]; .state == "RUNNING")' \
                <<<"$s" >/dev/null; do
            ((SECONDS < deadline)) || fail "$name not RUNNING within 90 s: ${s:-no answer}"
            kill -0 "$CLIENT_PID" 2>/dev/null || fail "the worker exited"
            sleep 0.5
        done
        echo "   $name: $(jq -c '{connector: .connector.state, tasks: [.tasks[].state], worker: .connector.worker_id}' <<<"$s")"
    done
}

# await_output SECONDS: until the output file's last line is the input's (bounded)
await_output() {
    local deadline=$((SECONDS + $1)) last
    last=$(tail -n 1 "$IN")
    until [[ -f $OUT && $(tail -n 1 "$OUT") == "$last" ]]; do
        ((SECONDS < deadline)) || fail "the output file has $(wc -l <"$OUT" 2>/dev/null || echo 0) lines, not ending with the input's last line ($last), after $1 s"
        kill -0 "$CLIENT_PID" 2>/dev/null || fail "the worker exited"
        sleep 0.2
    done
}

# same_files: the output file equals the input file, byte for byte
same_files() {
    cmp -s "$IN" "$OUT" || {
        diff <(cat "$IN") <(cat "$OUT") | head -n 10 >&2
        fail "the output file ($(wc -l <"$OUT") lines) differs from the input file ($(wc -l <"$IN") lines)"
    }
}

# append FROM TO: input lines FROM..TO
append() { seq "$1" "$2" | awk '{printf "line %06d: the quick brown fox jumps over %d lazy dogs\n", $1, $1 * 7}' >>"$IN"; }

# check CHECK...: brokk.connect.Check (the worker must be stopped: one JVM at a time)
check() {
    (exec timeout -k 5 90 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        "-Dlog4j2.configurationFile=$KAFKA_HOME/config/tools-log4j2.properties" \
        -cp "$WORK/classes:$KAFKA_HOME/libs/*" brokk.connect.Check "$BROKER" "$IN" "$@") &
    CLIENT_PID=$!
    local rc=0
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    return $rc
}

SOURCE_CONFIG=$(jq -nc --arg file "$IN" '{
    "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "tasks.max": "1", "file": $file, "topic": "connect-lines",
    "topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "1"}')
SINK_CONFIG=$(jq -nc --arg file "$OUT" '{
    "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "tasks.max": "1", "file": $file, "topics": "connect-lines"}')

start_broker "$WORK/data"
append 1 1000
worker_props
start_worker

scenario source-to-sink consume,group-rebalance
rest POST /connectors "$(jq -nc --argjson c "$SOURCE_CONFIG" '{name: "file-source", config: $c}')" >/dev/null ||
    fail "POST /connectors file-source"
# The source's topic is Connect's own (topic.creation.default.*): wait until the source has
# used it (KIP-558's active topics) before the sink subscribes, or the sink's consumer would
# auto-create it first.
deadline=$((SECONDS + 60))
until rest GET /connectors/file-source/topics | jq -e '.["file-source"].topics == ["connect-lines"]' >/dev/null; do
    ((SECONDS < deadline)) || fail "file-source's active topics never listed connect-lines"
    sleep 0.5
done
grep -q "Created topic.*connect-lines" "$WORKER_LOG" || fail "the worker's log does not show it created connect-lines"
rest POST /connectors "$(jq -nc --argjson c "$SINK_CONFIG" '{name: "file-sink", config: $c}')" >/dev/null ||
    fail "POST /connectors file-sink"
await_running file-source file-sink
await_output 60
same_files
ok "FileStreamSource -> connect-lines (created by Connect) -> FileStreamSink: 1000 lines, the output file equals the input; both RUNNING"

scenario internal-topics admin-topics,admin-configs
stop_worker TERM
grep -q "Kafka Connect stopped" "$WORKER_LOG" || fail "the worker's log lacks 'Kafka Connect stopped'"
echo "   worker stopped (SIGTERM); what it left on brokk:"
check internal topic || fail "see above"
ok "config (1 partition), offset (25) and status (5) topics created by the worker with cleanup.policy=compact (which it verifies at start with describeConfigs), holding its records; connect-lines holds the input once; the source's stored offset is the input's length"

scenario graceful-restart commit-resume
append 1001 1500
start_worker
await_running file-source file-sink
await_output 60
same_files
ok "stop (SIGTERM), 500 more lines, start: the source resumed at its stored offset and the sink at its group's: 1500 lines, none lost or repeated"

scenario broker-kill9 leader-epochs,idempotent
stop_broker KILL
start_broker "$WORK/data"
append 1501 2000
await_output 60
same_files
await_running file-source file-sink
ok "brokk killed (-9) and restarted under the running worker, 500 more lines: 2000 lines, none lost or repeated"

scenario offsets-api admin-groups
# (both are committed periodically, offset.flush.interval.ms: wait for the last commit)
deadline=$((SECONDS + 20))
until source_offsets=$(rest GET /connectors/file-source/offsets) &&
    jq -e --argjson size "$(stat -c %s "$IN")" '.offsets[0].offset.position == $size' <<<"$source_offsets" >/dev/null; do
    ((SECONDS < deadline)) || fail "file-source's offset ${source_offsets:-} is not the input's size $(stat -c %s "$IN") after 20 s"
    sleep 0.5
done
until sink_offsets=$(rest GET /connectors/file-sink/offsets) &&
    jq -e '.offsets == [{"partition": {"kafka_topic": "connect-lines", "kafka_partition": 0}, "offset": {"kafka_offset": 2000}}]' \
        <<<"$sink_offsets" >/dev/null; do
    ((SECONDS < deadline)) || fail "file-sink's offsets ${sink_offsets:-} are not connect-lines-0 at 2000 after 20 s"
    sleep 0.5
done
echo "   file-source offsets: $source_offsets"
echo "   file-sink offsets: $sink_offsets"
rest PUT /connectors/file-sink/stop >/dev/null || fail "PUT file-sink/stop"
deadline=$((SECONDS + 30))
until rest GET /connectors/file-sink/status | jq -e '.connector.state == "STOPPED"' >/dev/null; do
    ((SECONDS < deadline)) || fail "file-sink not STOPPED within 30 s"
    sleep 0.5
done
reset=$(rest DELETE /connectors/file-sink/offsets) || fail "DELETE file-sink offsets"
echo "   DELETE offsets: $reset"
rest GET /connectors/file-sink/offsets | jq -e '.offsets == []' >/dev/null || fail "file-sink still has offsets after DELETE"
: >"$OUT"
rest PUT /connectors/file-sink/resume >/dev/null || fail "PUT file-sink/resume"
await_running file-sink
await_output 60
same_files
ok "GET the source's and the sink's offsets (the sink's are its consumer group's); stop the sink, DELETE its offsets, resume: it re-reads connect-lines from the start, the output file equals the input again"

scenario eos-kill9 transactions,idempotent
stop_worker TERM
worker_props exactly.once.source.support=enabled
start_worker
# exactly.once.support=required: the worker refuses the config unless the connector can; a
# transaction every 500 ms (transaction.boundary=interval), so that one is open most of the time
rest PUT /connectors/file-source/config "$(jq -c '. + {"exactly.once.support": "required",
    "transaction.boundary": "interval", "transaction.boundary.interval.ms": "500"}' <<<"$SOURCE_CONFIG")" >/dev/null ||
    fail "PUT file-source/config with exactly.once.support=required"
await_running file-source file-sink
grep -q "ExactlyOnceWorkerSourceTask{id=file-source-0} Source task finished initialization" "$WORKER_LOG" ||
    fail "the worker's log does not show file-source-0 started as an ExactlyOnceWorkerSourceTask"
# The input grows by 250 lines every ~50 ms (a log being tailed); once the sink has written
# some of them (a transaction committed) the worker is killed; the file keeps growing.
before=$(wc -l <"$OUT")
n=2000
killed=0
after=0
for step in $(seq 1 120); do   # at most ~10 s, 30000 lines
    append $((n + 1)) $((n + 250))
    n=$((n + 250))
    if ((killed == 1)); then
        after=$((after + 1))
        ((after < 10)) || break   # 2500 more lines while the worker is down
    elif ((step >= 12)) && (($(wc -l <"$OUT") > before)); then
        stop_worker KILL
        killed=1
        echo "   worker killed (-9) with $((n - 2000)) new lines in the input, $(($(wc -l <"$OUT") - before)) in the output"
    fi
    sleep 0.05
done
((killed == 1)) || fail "the sink wrote none of the new lines while $((n - 2000)) were appended"
start_worker
await_running file-source file-sink
await_output 90
stop_worker TERM
python3 - "$IN" "$OUT" <<'PY' || fail "the output file is not the input with one replayed stretch (see above)"
import sys
inp = open(sys.argv[1]).read().splitlines()
out = open(sys.argv[2]).read().splitlines()
k = 0
while k < min(len(inp), len(out)) and inp[k] == out[k]:
    k += 1
rest = out[k:]
if not rest:
    ok = k == len(inp)
    j = k
else:
    j = inp.index(rest[0]) if rest[0] in inp else -1
    ok = 0 <= j <= k and inp[j:] == rest
print(f"   output file: {len(out)} lines for {len(inp)} input lines; the sink replayed {k - j} lines after the kill")
sys.exit(0 if ok else 1)
PY
check topic eos || fail "see above"
ok "exactly.once.source.support=enabled, the worker killed (-9) while the source tails a growing file: connect-lines (read_committed) holds each of its $n lines once, the stored offset is the file's end; the sink (at least once) replayed only from its committed offset"

CURRENT="broker stop"
stop_broker TERM
grep -q "stopped cleanly" "$LOG" || fail "the broker log lacks 'stopped cleanly'"
CURRENT=finished
echo "kafka-connect compat suite finished in ${SECONDS}s"
