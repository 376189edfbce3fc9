#!/usr/bin/env bash
# Client libraries against a three-node brokk cluster (compat/lib/cluster.sh): for each of
# confluent-kafka (librdkafka), kafka-python and franz-go, a topic with replication factor 3 and
# min.insync.replicas=2 is created through the client's admin API and waited for in sync;
# an idempotent acks=all producer writes 2,000 values, node 2 is killed (kill -9) and
# 2,000 more are written while it is down, node 2 comes back, and a consumer group reads all
# 4,000: each exactly once, each partition in offset order.
#
# Usage: compat/cluster-clients/run.sh    (BROKK_BIN=/path/to/brokk to override the binary)
# Uses the virtualenvs of compat/confluent-kafka and compat/kafka-python (made with the
# same pinned versions if missing) and builds compat/franz-go's program (its cluster-*
# scenarios, from the module cache compat/prereqs.sh fills). Results:
# compat/results/cluster-<client>.tsv.
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
command -v go >/dev/null || { echo "FAIL: go not found (compat/prereqs.sh says what to install)" >&2; exit 1; }
(cd "$ROOT/compat/franz-go" && GOFLAGS="-mod=readonly -buildvcs=false" GOPROXY=off GOTOOLCHAIN=local \
    timeout 600 go build -o "$WORK/franzgo" .) ||
    { echo "FAIL: go build in compat/franz-go (run compat/prereqs.sh to fill the module cache)" >&2; exit 1; }
FG_VERSION=$(cd "$ROOT/compat/franz-go" && go list -m -f '{{.Version}}' github.com/twmb/franz-go)
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$HERE/../lib/cluster.sh"

echo "cluster-clients compat: $("$BROKK_BIN" --version 2>&1 | head -1), nodes on $BOOTSTRAP, work dir $WORK"
for i in 1 2 3; do start_node "$i"; done
LOG=$WORK/node1.log
CURRENT="three live brokers"
until_grep "three brokers" '3 brokers:' kcat -L -b "127.0.0.1:${PORTS[1]}" -m 10

# The clients' runners: RUNNER TIMEOUT MODE ARGS... (modes: create, produce, consume).
ck() { PY=$ROOT/compat/confluent-kafka/.venv/bin/python py "$1" ck.py "${@:2}"; }
kp() { PY=$ROOT/compat/kafka-python/.venv/bin/python py "$1" kp.py "${@:2}"; }
fg() {
    local t=$1 mode=$2 rc=0
    shift 2
    timeout -k 10 "$t" "$WORK/franzgo" "cluster-$mode" "$@" &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    return $rc
}

run_client() { # run_client NAME VERSION RUNNER
    local name=$1 version=$2 run=$3 topic=t-$1
    # One results file (one matrix row) per client.
    RESULTS=$ROOT/compat/results/cluster-$name.tsv
    : >"$RESULTS"
    client_version "$version"
    scenario "$name: a topic with replication factor 3, all in sync" "cluster-topics"
    "$run" 120 create "$BOOTSTRAP" "$topic" || fail "create"
    ok "three partitions, three replicas each, all in sync"
    scenario "$name: acks=all idempotent produce through a kill -9 of node 2, a group reads all" "cluster-produce,cluster-failover"
    "$run" 180 produce "$BOOTSTRAP" "$topic" 0 "$N" || fail "produce before the kill"
    kill_node 2
    "$run" 180 produce "$BOOTSTRAP" "$topic" "$N" $((2 * N)) || fail "produce with node 2 down"
    start_node 2
    until_grep "node 2 back" '3 brokers:' kcat -L -b "127.0.0.1:${PORTS[1]}" -m 10
    "$run" 180 consume "$BOOTSTRAP" "$topic" $((2 * N)) "g-$name" || fail "consume"
    ok "$((2 * N)) values acknowledged across the kill, each read once, partitions in order"
}

run_client confluent-kafka "$CK_VERSION" ck
run_client kafka-python "$KP_VERSION" kp
run_client franz-go "$FG_VERSION" fg

CURRENT=finished
stop_cluster
echo "cluster-clients compat: $PASSED scenarios passed"
