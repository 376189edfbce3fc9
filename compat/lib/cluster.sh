# shellcheck shell=bash
# A three-node brokk cluster for the cluster compat suites (KRaft keys, each node broker and
# controller). Source it after harness.sh and harness_init:
#     . "$HERE/../lib/cluster.sh"
#
# Sets PORTS[1..3] (client ports), CPORT[1..3] (CONTROLLER ports), VOTERS, BOOTSTRAP.
# Functions: start_node ID (its log in $WORK/nodeID.log, its pid in PIDS[ID] and in
# $WORK/nodeID.pid for the harness's cleanup), kill_node ID (kill -9, reaped),
# stop_cluster, until_grep NAME PATTERN CMD... (CMD every second, at most 60 times, until
# its output matches PATTERN).

declare -a CPORT PORTS PIDS
for i in 1 2 3; do PORTS[i]=$(free_port); CPORT[i]=$(free_port); done
VOTERS="1@127.0.0.1:${CPORT[1]},2@127.0.0.1:${CPORT[2]},3@127.0.0.1:${CPORT[3]}"
BOOTSTRAP="127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]},127.0.0.1:${PORTS[3]}"

start_node() { # start_node ID
    local id=$1
    NO_COLOR=1 "$BROKK_BIN" --listen "127.0.0.1:${PORTS[id]}" --data-dir "$WORK/data$id" \
        --override "node.id=$id" --override process.roles=broker,controller \
        --override controller.listener.names=CONTROLLER \
        --override "listeners=PLAINTEXT://127.0.0.1:${PORTS[id]},CONTROLLER://127.0.0.1:${CPORT[id]}" \
        --override "controller.quorum.voters=$VOTERS" \
        --override broker.heartbeat.interval.ms=200 --override broker.session.timeout.ms=3000 \
        2>>"$WORK/node$id.log" >/dev/null &
    PIDS[id]=$!
    echo "${PIDS[id]}" >"$WORK/node$id.pid"   # the harness's cleanup kills it
}

kill_node() { # kill_node ID
    kill -9 "${PIDS[$1]}" 2>/dev/null || true
    wait "${PIDS[$1]}" 2>/dev/null || true
}

stop_cluster() {
    local i
    for i in 1 2 3; do kill_node "$i"; done
}

until_grep() {
    local name=$1 pattern=$2 out=
    shift 2
    for _ in $(seq 1 60); do
        out=$("$@" 2>&1 || true)
        grep -qE -- "$pattern" <<<"$out" && return 0
        sleep 1
    done
    printf '%s\n' "$out" >&2
    fail "$name: no line matching /$pattern/ within 60 tries"
}
