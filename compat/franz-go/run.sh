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
# The Go program (main.go and the files next to it, with ../go-common) is built into the
# work dir from the module cache alone (see ../lib/go-suite.sh, which runs the scenarios
# the sarama suite has too). Starts its own broker on a free 127.0.0.1 port with its own
# data dir. Exits non-zero on the first failure. See FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/go-suite.sh
. "$HERE/../lib/go-suite.sh"   # harness.sh, IDEM_N, TXN_N; go_suite_*, go_run
BALANCERS=${BALANCERS:-cooperative-sticky range roundrobin sticky}

go_suite_build franz-go fg franzgo   # WORK, BROKER, traps; BIN
VERSION="$(go_mod_version github.com/twmb/franz-go) (kadm $(go_mod_version github.com/twmb/franz-go/pkg/kadm))"
client_version "$VERSION"
go_suite_banner "franz-go $VERSION"

# What the scenarios of go_suite_scenarios say (ID: title, ID.ok: what passed).
declare -A SAY=(
    [codecs]="2000 keyed records with headers per codec over 3 partitions, read back"
    [codecs.ok]="none, gzip, snappy, lz4, zstd: offsets, keys, values (empty ones too), headers, timestamps; the codec of every batch fetched and on disk"
    [times]="ListOffsets by time, earliest, latest, max timestamp; a consumer starting at a time"
    [times.ok]="the first offset at or after a time, the end past every record, the log's bounds, the max timestamp's offset"
    [group]="two members share a 4-partition topic; one leaves"
    [group.ok]="2 partitions each (DescribeGroups agrees); exactly once; after LeaveGroup the other resumes at the commits"
    [commit]="CommitUncommittedOffsets, CommitOffsetsSync; a new member resumes there"
    [commit.ok]="commits read back with FetchOffsets; a new member resumes exactly at them"
    [restart.ok]="committed offsets survive kill -9; a new member resumes exactly after the last commit"
    [admin-topics]="kadm CreateTopics (configs, validate-only, errors), Metadata, DeleteTopics"
    [admin-topics.ok]="create, validate-only, Kafka's errors, describe, delete"
    [admin-configs]="kadm DescribeConfigs, IncrementalAlterConfigs, AlterConfigs (topic, broker, cluster default)"
    [admin-configs.ok]="sources, set/append/subtract/delete, validate-only, legacy replace, an effect on produce, cluster defaults"
    [admin-partitions]="kadm CreatePartitions (validate-only, add, set, errors)"
    [admin-partitions.ok]="2 -> 4 -> 6 partitions, INVALID_PARTITIONS, new partitions written from offset 0"
    [admin-records]="kadm DeleteRecords, ListOffsets after, DescribeLogDirs"
    [admin-records.ok]="low watermarks, -1 = high watermark, OFFSET_OUT_OF_RANGE, consumers begin at the new start"
    [admin-groups]="kadm ListGroups, DescribeGroups, Lag, Commit/Fetch/DeleteOffsets, LeaveGroup, DeleteGroups"
    [admin-groups.ok]="a live and an empty group, Kafka's errors for a subscribed group, offsets with metadata, a static member removed"
    [idempotent]="the default kgo producer, $IDEM_N keyed records, 3 partitions"
    [idempotent.ok]="acked in order at contiguous offsets; DescribeProducers' last sequences; every record exactly once, in order"
    [txn-eos]="GroupTransactSession consume-transform-produce, $TXN_N inputs, every 3rd transaction aborted"
    [txn-eos.ok]="ListTransactions/DescribeTransactions/DescribeProducers on the open transaction; read_committed each input once; offsets only on commit"
    [txn-fence]="a second producer with the same transactional id fences the first"
    [txn-fence.ok]="the first producer's commit fails fenced; read_committed reads only the second one's records"
)
go_suite_scenarios fg "$BALANCERS"

# The epoch scenarios run their own broker on the same port (the consumer must outlive restarts).
scenario "epochs-restart: a kgo consumer across a broker restart: leader epoch 0 -> 2, position validated" leader-epochs
go_run 120 epochs-restart "$BROKER" "$BROKK_BIN" "$WORK/data-e1" || fail "consumer across a restart"
ok "OffsetForLeaderEpoch after the restart, no data loss; the next records once each at epoch 2"

scenario "epochs-truncation: a crash loses acknowledged-but-unflushed records; kgo reports ErrDataLoss" leader-epochs
go_run 120 epochs-truncation "$BROKER" "$BROKK_BIN" "$WORK/data-e2" || fail "log truncation detection"
ok "ErrDataLoss consumed to 8, reset to 5; the new records at epoch 4 follow without a seek"

go_suite_finish
