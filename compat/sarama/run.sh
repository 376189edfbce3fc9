#!/usr/bin/env bash
# sarama (github.com/IBM/sarama, a pure-Go client with its own protocol code) compatibility
# suite for brokk: every codec, consumer groups with each balance strategy, commits across a
# kill -9, ClusterAdmin, the idempotent producer, transactions, and a consumer across a
# broker restart. sarama does not implement KIP-320's position validation (see FINDINGS.md).
#
# Usage: compat/sarama/run.sh
#   BROKK_BIN=/path/to/brokk   broker binary (default: <repo>/target/release/brokk)
#   STRATEGIES="range roundrobin sticky cooperative-sticky"   balance strategies to run
#   IDEM_N=20000               messages in the idempotent scenario
#   TXN_N=1000                 inputs of the transactional consume-transform-produce scenario
#   SARAMA_LOG=1               sarama's own log on stderr
#   KEEP_WORK=1                keep the temp dir (data dirs, broker logs, the binary)
#
# The Go program (main.go and the files next to it, with ../go-common) is built into the
# work dir from the module cache alone (see ../lib/go-suite.sh, which runs the scenarios
# the franz-go suite has too). Starts its own broker on a free 127.0.0.1 port with its own
# data dir. Exits non-zero on the first failure. See FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/go-suite.sh
. "$HERE/../lib/go-suite.sh"   # harness.sh, IDEM_N, TXN_N; go_suite_*, go_run
STRATEGIES=${STRATEGIES:-range roundrobin sticky cooperative-sticky}

go_suite_build sarama sarama saramacompat   # WORK, BROKER, traps; BIN
VERSION=$(go_mod_version github.com/IBM/sarama)
client_version "$VERSION"
unsupported leader-epochs "sarama $VERSION has no OffsetForLeaderEpoch request (the API key is only in its version table) and fetches with last_fetched_epoch -1: on FENCED_LEADER_EPOCH it refreshes the leader and fetches again from the same offset, never validating its position (KIP-320)"
go_suite_banner "sarama $VERSION"

# What the scenarios of go_suite_scenarios say (ID: title, ID.ok: what passed).
declare -A SAY=(
    [codecs]="a SyncProducer per codec, 2000 keyed messages with headers over 3 partitions, read back"
    [codecs.ok]="none, gzip, snappy, lz4, zstd: offsets, keys, values (null and empty ones too), headers, timestamps; the codec of every batch on disk"
    [times]="GetOffset and ListOffsets by time, oldest, newest; a consumer from a time"
    [times.ok]="the first offset at or after a time, -1 past every message, the log's bounds"
    [group]="two ConsumerGroup members share a 4-partition topic; one leaves"
    [group.ok]="2 partitions each (DescribeConsumerGroups agrees), never one partition in two members; exactly once; after LeaveGroup the other resumes at the commits"
    [commit]="MarkMessage/MarkOffset/ResetOffset with metadata + Commit; a new member resumes there"
    [commit.ok]="commits and metadata read back with ListConsumerGroupOffsets; a new member resumes exactly at them"
    [restart.ok]="committed offsets and metadata survive kill -9; a new member resumes exactly after the last commit"
    [admin-topics]="ClusterAdmin CreateTopic (configs, validate-only, errors), ListTopics, DescribeTopics, DeleteTopic"
    [admin-topics.ok]="create, validate-only, Kafka's errors, list, describe, delete"
    [admin-configs]="ClusterAdmin DescribeConfig, IncrementalAlterConfig, AlterConfig (topic, broker, cluster default)"
    [admin-configs.ok]="sources, set/append/subtract/delete, validate-only, legacy replace, an effect on produce, cluster defaults"
    [admin-partitions]="ClusterAdmin CreatePartitions (validate-only, grow, manual assignment, errors)"
    [admin-partitions.ok]="2 -> 4 -> 6 partitions, Kafka's errors, new partitions written from offset 0"
    [admin-records]="ClusterAdmin DeleteRecords, offsets after, DescribeLogDirs"
    [admin-records.ok]="the log start moves, -1 = high watermark, OFFSET_OUT_OF_RANGE, consumers begin at the new start"
    [admin-groups]="ClusterAdmin group APIs (list, describe, offsets, delete, RemoveMemberFromConsumerGroup)"
    [admin-groups.ok]="a live and an empty group, Kafka's errors for a subscribed group, offsets with metadata, a static member removed"
    [idempotent]="SyncProducer Idempotent=true, MaxOpenRequests=1, acks=all, $IDEM_N keyed messages, 3 partitions"
    [idempotent.ok]="acked in order at contiguous offsets; DescribeProducers' last sequences; every message exactly once, in order"
    [txn-eos]="ConsumerGroup + transactional SyncProducer consume-transform-produce, $TXN_N inputs, every 3rd transaction aborted"
    [txn-eos.ok]="the open transaction described; read_committed each input once; offsets only on commit"
    [txn-fence]="a second producer with the same transactional id fences the first"
    [txn-fence.ok]="the first producer's CommitTxn fails fenced; read_committed reads only the second one's messages; AddMessageToTxn's offset committed"
)
go_suite_scenarios sa "$STRATEGIES"

# Runs its own broker on the same port (the consumer must outlive the restart). Not tagged
# leader-epochs: sarama does not validate its position (see the unsupported line above).
scenario "restart-consumer: a PartitionConsumer across a broker restart (leader epoch 0 -> 2)"
go_run 120 restart "$BROKER" "$BROKK_BIN" "$WORK/data-r" || fail "consumer across a restart"
ok "the next messages once each after the restart, nothing more"

# Last, so that a failure here leaves every other scenario's result recorded: brokk answers
# ListOffsets v6 with timestamp -3, where Kafka answers UNSUPPORTED_VERSION (see FINDINGS.md).
scenario "times-max: ClusterAdmin.ListOffsets(-3) as sarama sends it (ListOffsets v6; -3 needs v7)" offsets-for-times
start_broker "$WORK/data-max"
go_run 60 times-max "$BROKER" || fail "ListOffsets v6 with -3"
stop_broker INT
ok "UNSUPPORTED_VERSION for the partition, as Kafka"

go_suite_finish
