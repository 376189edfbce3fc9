#!/usr/bin/env bash
# Apache Kafka's own cluster tools (the pinned release's bin/kafka-*.sh) and kcat against a
# three-node brokk cluster (KRaft keys, each node broker and controller), used as an
# operator would: kafka-metadata-quorum, kafka-topics with replication factor 3,
# kafka-reassign-partitions (execute, verify), kafka-leader-election, kafka-log-dirs,
# kafka-cluster (cluster-id, unregister), kcat -L on every node, and the console producer
# and consumer with acks=all.
#
# Usage: compat/cluster-tools/run.sh     (BROKK_BIN=/path/to/brokk to override the binary)
#        KEEP_WORK=1 compat/cluster-tools/run.sh   keeps the temp dir
#
# Needs the distribution compat/prereqs.sh assembles. Each tool is one JVM start.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
harness_init cluster-tools cluster-tools
# shellcheck source-path=SCRIPTDIR source=../lib/kafka-tools.sh
. "$HERE/../lib/kafka-tools.sh"

# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$HERE/../lib/cluster.sh"   # PORTS, BOOTSTRAP, start_node, kill_node, until_grep

client_version "Apache Kafka $KAFKA_VERSION CLI tools, kcat $(kcat -V 2>&1 | grep -oE 'Version [0-9.]+' | head -1 | cut -d' ' -f2)"
echo "cluster-tools compat: Kafka $KAFKA_VERSION tools / $("$BROKK_BIN" --version 2>&1 | head -1), nodes on $BOOTSTRAP, work dir $WORK"
for i in 1 2 3; do start_node "$i"; done
LOG=$WORK/node1.log

# ---------------------------------------------------------------------------
scenario "kafka-metadata-quorum and kcat -L: one quorum, three brokers on every node" "cluster-quorum"
until_grep "quorum status" 'CurrentVoters:.*"id": ?1.*"id": ?2.*"id": ?3' \
    tool kafka-metadata-quorum --bootstrap-server "127.0.0.1:${PORTS[2]}" describe --status
q=$(tool kafka-metadata-quorum --bootstrap-server "127.0.0.1:${PORTS[3]}" describe --status)
expect_grep "quorum leader" 'LeaderId: +[123]$' "$q"
for i in 1 2 3; do
    until_grep "kcat -L on node $i" '3 brokers:' kcat -L -b "127.0.0.1:${PORTS[i]}" -m 10
done
ok "DescribeQuorum names voters 1, 2, 3 and a leader; kcat -L lists three brokers on every node"

# ---------------------------------------------------------------------------
scenario "kafka-topics: replication factor 3, replicas on distinct brokers, all in sync" "cluster-topics"
tool kafka-topics --bootstrap-server "$BOOTSTRAP" --create --topic orders --partitions 3 \
    --replication-factor 3 --config min.insync.replicas=2 >/dev/null
d=""
for _ in $(seq 1 60); do
    d=$(tool kafka-topics --bootstrap-server "127.0.0.1:${PORTS[2]}" --describe --topic orders)
    [[ $(grep -cE 'Isr: [123],[123],[123]' <<<"$d") == 3 ]] && break
    sleep 1
done
[[ $(grep -cE 'Isr: [123],[123],[123]' <<<"$d") == 3 ]] || { printf '%s\n' "$d" >&2; fail "not every partition in sync"; }
while read -r line; do
    reps=$(grep -oE 'Replicas: [0-9,]+' <<<"$line" | cut -d' ' -f2)
    [[ $(tr ',' '\n' <<<"$reps" | sort -u | wc -l) == 3 ]] || fail "replicas not distinct: $line"
done < <(grep 'Partition: ' <<<"$d")
leaders=$(grep -oE 'Leader: [0-9]+' <<<"$d" | sort -u | wc -l)
[[ $leaders == 3 ]] || { printf '%s\n' "$d" >&2; fail "leaders not spread over the three brokers"; }
ok "three partitions, three distinct replicas each, three leaders, ISR of three"

# ---------------------------------------------------------------------------
scenario "console producer (acks=all) and consumer across the cluster" "cluster-produce"
seq 1 300 | tool kafka-console-producer --bootstrap-server "127.0.0.1:${PORTS[1]}" --topic orders \
    --producer-property acks=all >/dev/null
n=$(tool kafka-console-consumer --bootstrap-server "127.0.0.1:${PORTS[3]}" --topic orders \
    --from-beginning --max-messages 300 --timeout-ms 30000 | sort -n | uniq | wc -l)
[[ $n == 300 ]] || fail "consumed $n distinct of 300"
ok "300 records produced with acks=all through node 1, read back through node 3"

# ---------------------------------------------------------------------------
scenario "kafka-reassign-partitions: execute and verify a move" "cluster-reassign"
tool kafka-topics --bootstrap-server "$BOOTSTRAP" --create --topic moving --replica-assignment 1:2 >/dev/null
seq 1 100 | tool kafka-console-producer --bootstrap-server "$BOOTSTRAP" --topic moving \
    --producer-property acks=all >/dev/null
cat >"$WORK/move.json" <<J
{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[3,2]}]}
J
out=$(tool kafka-reassign-partitions --bootstrap-server "$BOOTSTRAP" \
    --reassignment-json-file "$WORK/move.json" --execute)
expect_grep "execute" 'Successfully started partition reassignment.? for moving-0' "$out"
until_grep "verify" 'Reassignment of partition moving-0 is completed' \
    tool kafka-reassign-partitions --bootstrap-server "$BOOTSTRAP" --reassignment-json-file "$WORK/move.json" --verify
until_grep "describe moved" 'Replicas: 3,2[[:space:]]+Isr: (3,2|2,3)' \
    tool kafka-topics --bootstrap-server "$BOOTSTRAP" --describe --topic moving
n=$(tool kafka-console-consumer --bootstrap-server "$BOOTSTRAP" --topic moving \
    --from-beginning --max-messages 100 --timeout-ms 30000 | wc -l)
[[ $n == 100 ]] || fail "consumed $n of 100 after the move"
for _ in $(seq 1 100); do [[ -d $WORK/data1/moving-0 ]] || break; sleep 0.1; done
[[ ! -d $WORK/data1/moving-0 ]] || fail "broker 1 still holds moving-0"
out=$(tool kafka-reassign-partitions --bootstrap-server "$BOOTSTRAP" --list)
expect_grep "list" 'No partition reassignments found' "$out"
ok "moving-0 moved from 1,2 to 3,2 with its 100 records; broker 1's copy deleted"

# ---------------------------------------------------------------------------
scenario "kafka-leader-election: preferred leaders" "cluster-elect"
out=$(tool kafka-leader-election --bootstrap-server "$BOOTSTRAP" --election-type preferred \
    --topic moving --partition 0 2>&1 || true)
expect_grep "preferred" 'Successfully completed leader election \(PREFERRED\) for partitions moving-0|Valid replica already elected for partitions moving-0' "$out"
until_grep "leader 3" 'Leader: 3[[:space:]]+Replicas: 3,2' \
    tool kafka-topics --bootstrap-server "$BOOTSTRAP" --describe --topic moving
ok "moving-0 led by its preferred replica, 3"

# ---------------------------------------------------------------------------
scenario "kafka-log-dirs per broker; kafka-cluster unregister of a stopped broker" "cluster-unregister"
out=$(tool kafka-log-dirs --bootstrap-server "$BOOTSTRAP" --describe --broker-list 1,2,3 --topic-list orders)
json=$(grep '^{' <<<"$out")
python3 - "$json" <<'PY' || fail "kafka-log-dirs: $out"
import json, sys
brokers = {b["broker"]: b for b in json.loads(sys.argv[1])["brokers"]}
assert sorted(brokers) == [1, 2, 3], brokers
for b in brokers.values():
    parts = sorted(p["partition"] for d in b["logDirs"] for p in d["partitions"])
    # Every broker holds a replica of each of orders' three partitions, with its records.
    assert parts == ["orders-0", "orders-1", "orders-2"], (b["broker"], parts)
    assert sum(p["size"] for d in b["logDirs"] for p in d["partitions"]) > 0, b
PY
tool kafka-cluster cluster-id --bootstrap-server "$BOOTSTRAP" | grep -q '^Cluster ID: ' || fail "kafka-cluster cluster-id"
kill_node 3
until_grep "node 3 fenced" '2 brokers:' kcat -L -b "127.0.0.1:${PORTS[1]}" -m 10
out=$(tool kafka-cluster unregister --bootstrap-server "127.0.0.1:${PORTS[1]}" --id 3)
expect_grep "unregister" '^Broker 3 is no longer registered\.$' "$out"
tool kafka-cluster unregister --bootstrap-server "127.0.0.1:${PORTS[2]}" --id 3 >/dev/null || true
expect_grep "unregister again" 'BrokerIdNotRegisteredException' "$(tail -n 5 "$WORK/tools.err")"
ok "kafka-log-dirs lists each broker's replicas; broker 3 unregistered once, refused the second time"

CURRENT=finished
stop_cluster
echo "cluster-tools compat: $PASSED scenarios passed"
