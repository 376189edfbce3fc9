#!/usr/bin/env bash
# Client libraries against a three-node brokk cluster (compat/lib/cluster.sh): for each of
# confluent-kafka (librdkafka) and kafka-python, a topic with replication factor 3 and
# min.insync.replicas=2 is created through the client's admin API and waited for in sync;
# an idempotent acks=all producer writes 2,000 values, node 2 is killed (kill -9) and
# 2,000 more are written while it is down, node 2 comes back, and a consumer group reads all
# 4,000: each exactly once, each partition in offset order.
#
# Usage: compat/cluster-clients/run.sh    (BROKK_BIN=/path/to/brokk to override the binary)
# Uses the virtualenvs of compat/confluent-kafka and compat/kafka-python (made with the
# same pinned versions if missing). Results: compat/results/cluster-<client>.tsv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
CK_VERSION=2.12.0
KP_VERSION=3.0.12
N=${N:-2000}
ensure_venv "$ROOT/compat/confluent-kafka/.venv" confluent-kafka "$CK_VERSION"
ensure_venv "$ROOT/compat/kafka-python/.venv" kafka-python "$KP_VERSION" python-snappy==0.7.3 lz4==4.4.5 zstandard==0.25.0
harness_init cluster-clients cluster-clients
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$HERE/../lib/cluster.sh"

echo "cluster-clients compat: $("$BROKK_BIN" --version 2>&1 | head -1), nodes on $BOOTSTRAP, work dir $WORK"
for i in 1 2 3; do start_node "$i"; done
LOG=$WORK/node1.log
CURRENT="three live brokers"
until_grep "three brokers" '3 brokers:' kcat -L -b "127.0.0.1:${PORTS[1]}" -m 10

run_client() { # run_client NAME SCRIPT VENV VERSION
    local name=$1 script=$2 version=$4 topic=t-$1
    PY=$3/bin/python
    # One results file (one matrix row) per client.
    RESULTS=$ROOT/compat/results/cluster-$name.tsv
    : >"$RESULTS"
    client_version "$version"
    scenario "$name: a topic with replication factor 3, all in sync" "cluster-topics"
    py 120 "$script" create "$BOOTSTRAP" "$topic" || fail "create"
    ok "three partitions, three replicas each, all in sync"
    scenario "$name: acks=all idempotent produce through a kill -9 of node 2, a group reads all" "cluster-produce,cluster-failover"
    py 180 "$script" produce "$BOOTSTRAP" "$topic" 0 "$N" || fail "produce before the kill"
    kill_node 2
    py 180 "$script" produce "$BOOTSTRAP" "$topic" "$N" $((2 * N)) || fail "produce with node 2 down"
    start_node 2
    until_grep "node 2 back" '3 brokers:' kcat -L -b "127.0.0.1:${PORTS[1]}" -m 10
    py 180 "$script" consume "$BOOTSTRAP" "$topic" $((2 * N)) "g-$name" || fail "consume"
    ok "$((2 * N)) values acknowledged across the kill, each read once, partitions in order"
}

run_client confluent-kafka ck.py "$ROOT/compat/confluent-kafka/.venv" "$CK_VERSION"
run_client kafka-python kp.py "$ROOT/compat/kafka-python/.venv" "$KP_VERSION"

CURRENT=finished
stop_cluster
echo "cluster-clients compat: $PASSED scenarios passed"
