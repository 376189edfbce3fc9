#!/usr/bin/env bash
# franz-go (github.com/twmb/franz-go: kgo + kadm, a pure-Go client with its own protocol
# code) compatibility suite for brokk: every codec, consumer groups with several balancers,
# commits across a kill -9, kadm's admin APIs, the idempotent producer, transactions
# (GroupTransactSession) and leader epochs (KIP-320, with kgo's ErrDataLoss).
#
# Usage: compat/franz-go/run.sh
#   BROKK_BIN=/path/to/brokk   broker binary (default: <repo>/target/release/brokk)
#   BALANCERS="cooperative-sticky range roundrobin sticky"   group balancers to run
#   IDEM_N=20000               records in the idempotent scenario
#   TXN_N=1000                 inputs of the transactional consume-transform-produce scenario
#   FG_LOG=debug|info          kgo's own log on stderr
#   KEEP_WORK=1                keep the temp dir (data dirs, broker logs, the binary)
#
# The Go program (main.go and the files next to it; go.mod/go.sum pin the versions) is
# built into the work dir from the module cache alone: compat/prereqs.sh downloads the
# modules, and a missing one fails the build here (GOPROXY=off) instead of downloading.
# Starts its own broker on a free 127.0.0.1 port with its own data dir. Exits non-zero on
# the first failure. See FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"   # sets BROKK_BIN, checks it; fail/scenario/ok/start_broker/...
BALANCERS=${BALANCERS:-cooperative-sticky range roundrobin sticky}
IDEM_N=${IDEM_N:-20000}
TXN_N=${TXN_N:-1000}
command -v go >/dev/null || { echo "FAIL: go not found (compat/prereqs.sh says what to install)" >&2; exit 1; }
export GOFLAGS="-mod=readonly -buildvcs=false" GOPROXY=off GOTOOLCHAIN=local

harness_init franz-go fg   # WORK, BROKER, traps
SECONDS=0
BIN=$WORK/franzgo
(cd "$HERE" && timeout 600 go build -o "$BIN" .) ||
    { echo "FAIL: go build in $HERE (run compat/prereqs.sh to fill the module cache)" >&2; exit 1; }
mod_version() { (cd "$HERE" && go list -m -f '{{.Version}}' "$1"); }
VERSION="$(mod_version github.com/twmb/franz-go) (kadm $(mod_version github.com/twmb/franz-go/pkg/kadm))"
client_version "$VERSION"
echo "franz-go compat: franz-go $VERSION, built in ${SECONDS}s / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"

# fg TIMEOUT SCENARIO ARGS...: one run of the Go program, as CLIENT_PID (see py() in harness.sh)
fg() {
    local t=$1 rc=0
    shift
    timeout -k 10 "$t" "$BIN" "$@" &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    return $rc
}

DATA=$WORK/data
# session timeouts of a few seconds need a lower group.min.session.timeout.ms (Kafka: 6000)
BROKER_ARGS=(--override group.min.session.timeout.ms=1000)
start_broker "$DATA" "${BROKER_ARGS[@]}"

scenario "codecs: 2000 keyed records with headers per codec over 3 partitions, read back" produce-codecs,consume
fg 120 codecs "$BROKER" || fail "codecs"
for codec in none gzip snappy lz4 zstd; do
    timeout 60 python3 "$HERE/../lib/disk_codecs.py" "$DATA" "fg-codec-$codec" "$codec" >/dev/null ||
        fail "batches of fg-codec-$codec on disk are not all $codec"
done
ok "none, gzip, snappy, lz4, zstd: offsets, keys, values (empty ones too), headers, timestamps; the codec of every batch fetched and on disk"

scenario "times: ListOffsets by time, earliest, latest, max timestamp; a consumer starting at a time" offsets-for-times
fg 60 times "$BROKER" || fail "offsets for times"
ok "the first offset at or after a time, the end past every record, the log's bounds, the max timestamp's offset"

for balancer in $BALANCERS; do
    scenario "group-$balancer: two members share a 4-partition topic; one leaves" group-rebalance
    fg 120 group "$BROKER" "$balancer" || fail "group $balancer"
    ok "$balancer: 2 partitions each (DescribeGroups agrees); exactly once; after LeaveGroup the other resumes at the commits"
done

scenario "commit: CommitUncommittedOffsets, CommitOffsetsSync; a new member resumes there" commit-resume
fg 60 commit "$BROKER" "$WORK/commit-state.json" || fail "commit"
ok "commits read back with FetchOffsets; a new member resumes exactly at them"

scenario "restart: kill -9 the broker, restart on the same data dir, resume after the last commit" commit-resume
stop_broker KILL
start_broker "$DATA" "${BROKER_ARGS[@]}"
opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
opened_line | grep -Eq "groups=[1-9]" || fail "expected the groups to be reloaded: $(opened_line)"
echo "   restart log: $(opened_line)"
fg 60 resume "$BROKER" "$WORK/commit-state.json" || fail "resume after restart"
ok "committed offsets survive kill -9; a new member resumes exactly after the last commit"

scenario "admin-topics: kadm CreateTopics (configs, validate-only, errors), Metadata, DeleteTopics" admin-topics
fg 60 admin-topics "$BROKER" || fail "admin topics"
ok "create, validate-only, Kafka's errors, describe, delete"

scenario "admin-configs: kadm DescribeConfigs, IncrementalAlterConfigs, AlterConfigs (topic, broker, cluster default)" admin-configs
fg 60 admin-configs "$BROKER" || fail "admin configs"
ok "sources, set/append/subtract/delete, validate-only, legacy replace, an effect on produce, cluster defaults"

scenario "admin-partitions: kadm CreatePartitions (validate-only, add, set, errors)" admin-partitions
fg 60 admin-partitions "$BROKER" || fail "admin partitions"
ok "2 -> 4 -> 6 partitions, INVALID_PARTITIONS, new partitions written from offset 0"

scenario "admin-records: kadm DeleteRecords, ListOffsets after, DescribeLogDirs" admin-delete-records
fg 60 admin-records "$BROKER" || fail "admin records"
ok "low watermarks, -1 = high watermark, OFFSET_OUT_OF_RANGE, consumers begin at the new start"

scenario "admin-groups: kadm ListGroups, DescribeGroups, Lag, Commit/Fetch/DeleteOffsets, LeaveGroup, DeleteGroups" admin-groups
fg 90 admin-groups "$BROKER" || fail "admin groups"
ok "a live and an empty group, Kafka's errors for a subscribed group, offsets with metadata, a static member removed"

scenario "idempotent: the default kgo producer, $IDEM_N keyed records, 3 partitions" idempotent
fg 120 idempotent "$BROKER" "$IDEM_N" || fail "idempotent"
ok "acked in order at contiguous offsets; DescribeProducers' last sequences; every record exactly once, in order"

TSTART=$SECONDS
scenario "txn-eos: GroupTransactSession consume-transform-produce, $TXN_N inputs, every 3rd transaction aborted" transactions
fg 120 txn-eos "$BROKER" "$TXN_N" || fail "txn eos"
ok "ListTransactions/DescribeTransactions/DescribeProducers on the open transaction; read_committed each input once; offsets only on commit"

scenario "txn-fence: a second producer with the same transactional id fences the first" transactions
fg 60 txn-fence "$BROKER" || fail "txn fence"
ok "the first producer's commit fails fenced; read_committed reads only the second one's records"
echo "   transactions part: $((SECONDS - TSTART))s"

stop_broker INT
plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"

# The epoch scenarios run their own broker on the same port (the consumer must outlive restarts).
scenario "epochs-restart: a kgo consumer across a broker restart: leader epoch 0 -> 2, position validated" leader-epochs
fg 120 epochs-restart "$BROKER" "$BROKK_BIN" "$WORK/data-e1" || fail "consumer across a restart"
ok "OffsetForLeaderEpoch after the restart, no data loss; the next records once each at epoch 2"

scenario "epochs-truncation: a crash loses acknowledged-but-unflushed records; kgo reports ErrDataLoss" leader-epochs
fg 120 epochs-truncation "$BROKER" "$BROKK_BIN" "$WORK/data-e2" || fail "log truncation detection"
ok "ErrDataLoss consumed to 8, reset to 5; the new records at epoch 4 follow without a seek"

CURRENT="finished"
echo "franz-go compat suite finished in ${SECONDS}s"
echo "franz-go: $PASSED passed, 0 failed"
