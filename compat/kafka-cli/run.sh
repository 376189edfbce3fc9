#!/usr/bin/env bash
# Apache Kafka's own CLI tools (the pinned release, from compat/kafka/setup.sh's
# distribution: $KAFKA_HOME/bin/kafka-*.sh) against brokk, used as an operator would:
# topics, configs, console producer and consumer with every codec, consumer groups with lag
# and offset resets, get-offsets, delete-records, log-dirs, features, metadata-quorum,
# transactions, and the producer and consumer performance tools.
#
# Usage: compat/kafka-cli/run.sh     (BROKK_BIN=/path/to/brokk to override the binary)
#        KEEP_WORK=1 compat/kafka-cli/run.sh   keeps the temp dir
#
# Needs the distribution compat/prereqs.sh assembles (this script only looks it up; a
# missing one is a failure, not a download at test time). Each tool is one JVM start.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
harness_init kafka-cli kafka-cli
# shellcheck source-path=SCRIPTDIR source=../lib/kafka-tools.sh
. "$HERE/../lib/kafka-tools.sh"
DATA=$WORK/data

expect_eq() { # expect_eq NAME EXPECTED ACTUAL
    if [[ "$2" != "$3" ]]; then
        echo "---- expected ($1) ----" >&2; printf '%s\n' "$2" >&2
        echo "---- actual ($1) ----" >&2; printf '%s\n' "$3" >&2
        tail -n 20 "$WORK/tools.err" >&2 || true
        fail "$1 mismatch"
    fi
}

client_version "Apache Kafka $KAFKA_VERSION CLI tools"
unsupported leader-epochs "the CLI tools are one-shot processes: none outlives a broker restart"
echo "kafka-cli compat: Kafka $KAFKA_VERSION tools / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"
start_broker "$DATA"

# ---------------------------------------------------------------------------
scenario "kafka-topics: create, list, describe, alter partitions, delete" "admin-topics,admin-partitions"
tool kafka-topics --bootstrap-server "$BROKER" --create --topic orders --partitions 3 --replication-factor 1 \
    --config retention.ms=86400000 >/dev/null
expect_grep "list" '^orders$' "$(tool kafka-topics --bootstrap-server "$BROKER" --list)"
d=$(tool kafka-topics --bootstrap-server "$BROKER" --describe --topic orders)
expect_grep "describe" 'PartitionCount: 3.*ReplicationFactor: 1.*retention.ms=86400000' "$d"
expect_grep "describe partitions" 'Partition: 2.*Leader: 0.*Replicas: 0.*Isr: 0' "$d"
out=$(tool kafka-topics --bootstrap-server "$BROKER" --create --topic orders --partitions 1 2>&1 || true)
expect_grep "create twice" "already exists" "$out$(tail -n 5 "$WORK/tools.err")"
tool kafka-topics --bootstrap-server "$BROKER" --alter --topic orders --partitions 4 >/dev/null
expect_grep "alter partitions" 'PartitionCount: 4' "$(tool kafka-topics --bootstrap-server "$BROKER" --describe --topic orders)"
tool kafka-topics --bootstrap-server "$BROKER" --create --topic doomed --partitions 1 >/dev/null
tool kafka-topics --bootstrap-server "$BROKER" --delete --topic doomed >/dev/null
if tool kafka-topics --bootstrap-server "$BROKER" --list | grep -qx doomed; then fail "doomed still listed"; fi
ok "create, list, describe, alter, delete"

# ---------------------------------------------------------------------------
scenario "kafka-configs: alter and describe topic and broker configs" "admin-configs"
tool kafka-configs --bootstrap-server "$BROKER" --alter --entity-type topics --entity-name orders \
    --add-config 'retention.ms=3600000,cleanup.policy=[compact,delete]' >/dev/null
d=$(tool kafka-configs --bootstrap-server "$BROKER" --describe --entity-type topics --entity-name orders)
expect_grep "topic configs" 'retention.ms=3600000' "$d"
expect_grep "topic list config" 'cleanup.policy=compact,delete' "$d"
tool kafka-configs --bootstrap-server "$BROKER" --alter --entity-type topics --entity-name orders \
    --delete-config cleanup.policy >/dev/null
if tool kafka-configs --bootstrap-server "$BROKER" --describe --entity-type topics --entity-name orders | grep -q cleanup.policy; then
    fail "cleanup.policy still set"
fi
d=$(tool kafka-configs --bootstrap-server "$BROKER" --describe --entity-type brokers --entity-name 0 --all)
expect_grep "broker configs" 'log.segment.bytes=1073741824' "$d"
tool kafka-configs --bootstrap-server "$BROKER" --alter --entity-type brokers --entity-default \
    --add-config log.retention.ms=7200000 >/dev/null
expect_grep "cluster default" 'log.retention.ms=7200000' \
    "$(tool kafka-configs --bootstrap-server "$BROKER" --describe --entity-type brokers --entity-default)"
ok "topic and broker configs"

# ---------------------------------------------------------------------------
scenario "console producer and consumer, every codec" "produce-codecs,consume"
expected=""
for codec in none gzip snappy lz4 zstd; do
    for i in 1 2 3; do
        expected+="k-$codec-$i:v-$codec-$i"$'\n'
    done
    printf 'k-%s-1:v-%s-1\nk-%s-2:v-%s-2\nk-%s-3:v-%s-3\n' "$codec" "$codec" "$codec" "$codec" "$codec" "$codec" |
        tool kafka-console-producer --bootstrap-server "$BROKER" --topic codecs --compression-codec "$codec" \
            --property parse.key=true --property key.separator=: >/dev/null
done
got=$(tool kafka-console-consumer --bootstrap-server "$BROKER" --topic codecs --from-beginning --max-messages 15 \
    --property print.key=true --property key.separator=: --timeout-ms 30000)
expect_eq "consumed" "${expected%$'\n'}" "$got"
ok "5 codecs, 15 records, keys and values back in order"

# ---------------------------------------------------------------------------
scenario "kafka-get-offsets: latest, earliest, by time" "offsets-for-times"
expect_eq "latest" "codecs:0:15" "$(tool kafka-get-offsets --bootstrap-server "$BROKER" --topic codecs --time -1)"
expect_eq "earliest" "codecs:0:0" "$(tool kafka-get-offsets --bootstrap-server "$BROKER" --topic codecs --time -2)"
hour_ago=$(($(date +%s%3N) - 3600000))
expect_eq "by time" "codecs:0:0" "$(tool kafka-get-offsets --bootstrap-server "$BROKER" --topic codecs --time "$hour_ago")"
# No record that late: the tool prints nothing for the partition (offset -1), as with Kafka.
expect_eq "in the future" "" "$(tool kafka-get-offsets --bootstrap-server "$BROKER" --topic codecs --time 9999999999999)"
ok "get-offsets"

# ---------------------------------------------------------------------------
scenario "kafka-consumer-groups: describe with lag, reset offsets, delete" "commit-resume,admin-groups"
tool kafka-console-consumer --bootstrap-server "$BROKER" --topic codecs --group ops --from-beginning \
    --max-messages 15 --timeout-ms 30000 >/dev/null
d=$(tool kafka-consumer-groups --bootstrap-server "$BROKER" --describe --group ops)
expect_grep "describe" '^ops +codecs +0 +15 +15 +0 ' "$d"
expect_grep "list" '^ops$' "$(tool kafka-consumer-groups --bootstrap-server "$BROKER" --list)"
tool kafka-consumer-groups --bootstrap-server "$BROKER" --group ops --topic codecs --reset-offsets --to-offset 5 \
    --execute >/dev/null
expect_grep "lag after reset" '^ops +codecs +0 +5 +15 +10 ' \
    "$(tool kafka-consumer-groups --bootstrap-server "$BROKER" --describe --group ops)"
got=$(tool kafka-console-consumer --bootstrap-server "$BROKER" --topic codecs --group ops --max-messages 10 \
    --timeout-ms 30000 | head -1)
expect_eq "resumed at the reset offset" "v-gzip-3" "$got"
expect_grep "state" 'Empty' "$(tool kafka-consumer-groups --bootstrap-server "$BROKER" --describe --group ops --state)"
tool kafka-consumer-groups --bootstrap-server "$BROKER" --delete --group ops >/dev/null
if tool kafka-consumer-groups --bootstrap-server "$BROKER" --list | grep -qx ops; then fail "ops still listed"; fi
ok "describe, lag, reset, resume, delete"

# ---------------------------------------------------------------------------
scenario "two console consumers in one group share the partitions" "group-rebalance"
# members_of: "<members> <distinct partitions>" of group reb on orders (4 partitions).
members_of() {
    tool kafka-consumer-groups --bootstrap-server "$BROKER" --describe --group reb --members --verbose |
        awk '$1 == "reb" { n++; parts += $5 } END { printf "%d %d", n, parts }'
}
# await_members WANT: polls the group's description (each one JVM) until it shows WANT.
await_members() {
    local got=""
    for _ in $(seq 1 30); do
        got=$(members_of)
        [[ $got == "$1" ]] && return 0
        sleep 1
    done
    fail "group reb: expected members/partitions '$1', last saw '$got'"
}
timeout 120 "$B/kafka-console-consumer.sh" --bootstrap-server "$BROKER" --topic orders --group reb \
    >/dev/null 2>>"$WORK/tools.err" &
first=$!
await_members "1 4"
timeout 120 "$B/kafka-console-consumer.sh" --bootstrap-server "$BROKER" --topic orders --group reb \
    >/dev/null 2>>"$WORK/tools.err" &
second=$!
await_members "2 4"
kill "$second" 2>/dev/null; wait "$second" 2>/dev/null || true
await_members "1 4"
kill "$first" 2>/dev/null; wait "$first" 2>/dev/null || true
ok "1 member with 4 partitions, 2 members sharing 4, back to 1 after a member left"

# ---------------------------------------------------------------------------
scenario "kafka-delete-records" "admin-delete-records"
printf '{"partitions":[{"topic":"codecs","partition":0,"offset":6}],"version":1}\n' >"$WORK/delete.json"
d=$(tool kafka-delete-records --bootstrap-server "$BROKER" --offset-json-file "$WORK/delete.json")
expect_grep "low watermark" 'partition: codecs-0.*low_watermark: 6' "$d"
expect_eq "earliest after" "codecs:0:6" "$(tool kafka-get-offsets --bootstrap-server "$BROKER" --topic codecs --time -2)"
ok "delete-records"

# ---------------------------------------------------------------------------
scenario "kafka-log-dirs, kafka-features, kafka-metadata-quorum, kafka-broker-api-versions"
d=$(tool kafka-log-dirs --bootstrap-server "$BROKER" --describe --topic-list codecs)
expect_grep "log dirs" '"partition":"codecs-0","size":[1-9][0-9]*' "$d"
expect_grep "features" 'Feature: metadata.version.*FinalizedVersionLevel: 4.0-IV3' \
    "$(tool kafka-features --bootstrap-server "$BROKER" describe)"
expect_grep "quorum" 'LeaderId: +0' "$(tool kafka-metadata-quorum --bootstrap-server "$BROKER" describe --status)"
expect_grep "api versions" 'Produce\(0\): 0 to 13' "$(tool kafka-broker-api-versions --bootstrap-server "$BROKER")"
ok "log-dirs, features, quorum, api versions"

# ---------------------------------------------------------------------------
scenario "producer and consumer perf tests (idempotent producer)" "idempotent"
d=$(tool kafka-producer-perf-test --topic perf --num-records 20000 --record-size 200 --throughput -1 \
    --producer-props bootstrap.servers="$BROKER" acks=all enable.idempotence=true)
expect_grep "producer perf" '^20000 records sent' "$d"
d=$(tool kafka-consumer-perf-test --bootstrap-server "$BROKER" --topic perf --messages 20000 --timeout 30000)
expect_grep "consumer perf" ', *20000, ' "$d"
expect_eq "perf offsets" "perf:0:20000" "$(tool kafka-get-offsets --bootstrap-server "$BROKER" --topic perf --time -1)"
ok "20000 idempotent records out and in"

# ---------------------------------------------------------------------------
scenario "kafka-transactions: list, describe-producers"
d=$(tool kafka-transactions --bootstrap-server "$BROKER" describe-producers --topic perf --partition 0)
# ProducerId, epoch 0, coordinator epoch -1 (not transactional), last sequence 19999.
expect_grep "describe-producers" $'^[0-9]+\\s+0\\s+-1\\s+19999\\s' "$d"
expect_grep "list" 'TransactionalId' "$(tool kafka-transactions --bootstrap-server "$BROKER" list)"
ok "transactions tool"

# ---------------------------------------------------------------------------
# The CLI tools write no transactions: OpenTransaction.java (kafka-clients, one JVM) holds
# one open while the tools find and abort it, as an operator ends a hanging transaction.
scenario "kafka-transactions: describe, find-hanging and abort an open transaction" transactions
tool kafka-topics --bootstrap-server "$BROKER" --create --topic hanging --partitions 1 >/dev/null
tool kafka-console-producer --bootstrap-server "$BROKER" --topic hanging <<<$'before-0\nbefore-1' >/dev/null

coproc HOLDER { exec timeout "$T" java -cp "$KAFKA_HOME/libs/*" \
    "-Dlog4j2.configurationFile=$KAFKA_HOME/config/tools-log4j2.properties" \
    "$HERE/OpenTransaction.java" "$BROKER" hanging ops-txn 3 2>>"$WORK/tools.err"; }
CLIENT_PID=$HOLDER_PID
read -r -t "$T" line <&"${HOLDER[0]}" || fail "the transaction holder did not start"
[[ $line == open ]] || fail "transaction holder: $line"
d=$(tool kafka-transactions --bootstrap-server "$BROKER" describe --transactional-id ops-txn)
expect_grep "describe" $'^[0-9]+\\s+ops-txn\\s+[0-9]+\\s+0\\s+Ongoing\\s' "$d"
expect_grep "describe partitions" 'hanging-0' "$d"
d=$(tool kafka-transactions --bootstrap-server "$BROKER" describe-producers --topic hanging --partition 0)
# The open transaction starts at offset 2 (after the two records of the console producer).
expect_grep "describe-producers" $'\\s2\\s*$' "$d"
# Not hanging: its coordinator knows it (ListTransactions by producer id, DescribeTransactions).
d=$(tool kafka-transactions --bootstrap-server "$BROKER" find-hanging --broker-id 0 --max-transaction-timeout 0)
expect_eq "find-hanging" 1 "$(grep -c . <<<"$d")"
expect_grep "find-hanging header" '^Topic\s+Partition\s+ProducerId' "$d"
tool kafka-transactions --bootstrap-server "$BROKER" abort --topic hanging --partition 0 --start-offset 2 >/dev/null
d=$(tool kafka-transactions --bootstrap-server "$BROKER" describe-producers --topic hanging --partition 0)
expect_grep "describe-producers after the abort" $'\\sNone\\s*$' "$d"
got=$(tool kafka-console-consumer --bootstrap-server "$BROKER" --topic hanging --from-beginning \
    --isolation-level read_committed --timeout-ms 3000 2>/dev/null || true)
expect_eq "read_committed after the abort" $'before-0\nbefore-1' "$got"
echo commit >&"${HOLDER[1]}"
read -r -t "$T" line <&"${HOLDER[0]}" || fail "the transaction holder did not answer"
wait "$CLIENT_PID" || fail "the transaction holder failed"
CLIENT_PID=
[[ $line == committed ]] || fail "the producer's commit after the abort: $line"
got=$(tool kafka-console-consumer --bootstrap-server "$BROKER" --topic hanging --from-beginning \
    --isolation-level read_committed --timeout-ms 3000 2>/dev/null || true)
expect_eq "read_committed after the producer's commit" $'before-0\nbefore-1' "$got"
ok "describe shows it Ongoing, describe-producers at offset 2, find-hanging not hanging (its coordinator knows it); abort (WriteTxnMarkers) ends it; its records stay aborted after the producer's own commit"

# ---------------------------------------------------------------------------
scenario "kafka-leader-election and kafka-reassign-partitions on one broker" "admin-partitions"
tool kafka-topics --bootstrap-server "$BROKER" --create --topic placed --partitions 2 >/dev/null
expect_grep "leader-election of a partition" '^Valid replica already elected for partitions placed-0$' \
    "$(tool kafka-leader-election --bootstrap-server "$BROKER" --election-type preferred --topic placed --partition 0)"
# Every partition: Kafka leaves out those whose election is not needed (measured in
# tests/differential), so the tool prints nothing.
expect_eq "leader-election of every partition" "" \
    "$(tool kafka-leader-election --bootstrap-server "$BROKER" --election-type preferred --all-topic-partitions)"
echo '{"topics":[{"topic":"placed"}],"version":1}' >"$WORK/move.json"
d=$(tool kafka-reassign-partitions --bootstrap-server "$BROKER" --topics-to-move-json-file "$WORK/move.json" \
    --broker-list 0 --generate)
expect_grep "reassign --generate" '"topic":"placed","partition":1,"replicas":\[0\]' "$d"
echo '{"version":1,"partitions":[{"topic":"placed","partition":0,"replicas":[0],"log_dirs":["any"]}]}' >"$WORK/plan.json"
expect_grep "reassign --execute" '^Successfully started partition reassignment for placed-0$' \
    "$(tool kafka-reassign-partitions --bootstrap-server "$BROKER" --reassignment-json-file "$WORK/plan.json" --execute)"
expect_grep "reassign --verify" '^Reassignment of partition placed-0 is completed\.$' \
    "$(tool kafka-reassign-partitions --bootstrap-server "$BROKER" --reassignment-json-file "$WORK/plan.json" --verify)"
echo '{"version":1,"partitions":[{"topic":"placed","partition":0,"replicas":[7],"log_dirs":["any"]}]}' >"$WORK/bad.json"
out=$(tool kafka-reassign-partitions --bootstrap-server "$BROKER" --reassignment-json-file "$WORK/bad.json" --execute 2>&1 || true)
expect_grep "reassign to an unknown broker" 'Unknown broker id|broker.*7|InvalidReplicaAssignment|does not exist' "$out$(tail -n 5 "$WORK/tools.err")"
ok "preferred election (already elected; every partition), reassignment generate, execute, verify, and an unknown broker refused"

# ---------------------------------------------------------------------------
scenario "kafka-verifiable-producer and kafka-verifiable-consumer" "consume,group-rebalance,commit-resume"
d=$(tool kafka-verifiable-producer --bootstrap-server "$BROKER" --topic placed --max-messages 200 --acks -1)
expect_grep "verifiable producer" '"name":"tool_data","sent":200,"acked":200' "$d"
d=$(tool kafka-verifiable-consumer --bootstrap-server "$BROKER" --topic placed --group-id verifiable \
    --max-messages 200 --reset-policy earliest)
consumed=$(grep -o '"name":"records_consumed","count":[0-9]*' <<<"$d" | grep -o '[0-9]*$' | paste -sd+ | bc)
expect_eq "verifiable consumer: records" 200 "$consumed"
expect_grep "verifiable consumer: assigned" '"name":"partitions_assigned"' "$d"
expect_grep "verifiable consumer: committed" '"name":"offsets_committed".*"success":true' "$d"
# The producer's sticky partitioner picks the partitions; every committed one has no lag.
expect_grep "group offsets" $'^verifiable\\s+placed\\s+[01]\\s+[0-9]+\\s+[0-9]+\\s+0\\s' \
    "$(tool kafka-consumer-groups --bootstrap-server "$BROKER" --describe --group verifiable)"
ok "200 records acknowledged with acks=all, consumed in a group with offsets committed"

CURRENT=finished
echo "kafka-cli compat: all $PASSED scenarios passed in ${SECONDS}s"
