#!/usr/bin/env bash
# @confluentinc/kafka-javascript (Confluent's Node client: librdkafka underneath, with a
# KafkaJS-compatible API) compatibility suite for brokk: every codec, a consumer group with
# a rebalance, commit and resume, offsets for times, the admin client (topics, partitions,
# records, groups), the idempotent producer, transactions and leader epochs.
#
# Usage: compat/confluent-kafka-javascript/run.sh   (BROKK_BIN, KEEP_WORK as in ../lib/harness.sh)
#
# Installs package.json's pinned version into node_modules here if missing. The package
# builds its bundled librdkafka from source (`CKJS_LINKING=dynamic`: linked against the
# system's zstd, lz4, sasl and curl, which .ci/run installs; the default install downloads a
# prebuilt binary, which this network does not allow). A few minutes on 2 cores, once.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
CKJS_VERSION=1.10.1
installed=$(cd "$HERE" && node -e "console.log(require('@confluentinc/kafka-javascript/package.json').version)" 2>/dev/null || true)
loads=$(cd "$HERE" && node -e "require('@confluentinc/kafka-javascript'); console.log('yes')" 2>/dev/null || true)
if [[ $installed != "$CKJS_VERSION" || $loads != yes ]]; then
    echo "installing @confluentinc/kafka-javascript $CKJS_VERSION into $HERE/node_modules (builds librdkafka)"
    (cd "$HERE" && CKJS_LINKING=dynamic timeout 1500 npm install --no-audit --no-fund --silent)
fi
harness_init confluent-kafka-javascript ckjs


SECONDS=0
client_version "$CKJS_VERSION (librdkafka $(cd "$HERE" && node -e "console.log(require('@confluentinc/kafka-javascript').librdkafkaVersion)"))"
unsupported admin-configs "@confluentinc/kafka-javascript 1.10 has no DescribeConfigs/AlterConfigs (neither its KafkaJS-compatible admin nor its AdminClient)"
echo "confluent-kafka-javascript compat: $CKJS_VERSION / node $(node --version) / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"
start_broker "$WORK/data" --override group.min.session.timeout.ms=1000

scenario "codecs: none, gzip, snappy, lz4, zstd; keyed records with headers" produce-codecs,consume
node_scenario 150 codecs || fail "codecs"
ok "500 records per codec: offsets, keys, values and headers intact"

scenario "group: two members split 4 partitions, one leaves, the other takes over" group-rebalance
node_scenario 90 group || fail "group"
ok "2+2 assignment, then 4 after the disconnect"

scenario "commit: commitOffsets, fetchOffsets, a new member resumes" commit-resume
node_scenario 60 commit || fail "commit"
ok "resumed exactly at the committed offset"

scenario "times: fetchTopicOffsetsByTimestamp, fetchTopicOffsets" offsets-for-times
node_scenario 60 times || fail "times"
ok "Kafka's offset for a timestamp; low and high watermarks"

scenario "admin: topics, partitions, records, groups" admin-topics,admin-partitions,admin-delete-records,admin-groups
node_scenario 90 admin || fail "admin"
ok "create/list/metadata/delete topics, createPartitions, deleteTopicRecords, listGroups/describeGroups"

scenario "idempotent: idempotent: true" idempotent
node_scenario 60 idempotent || fail "idempotent"
ok "2000 records once each, in order"

scenario "transactions: commit, abort, sendOffsets, read_committed" transactions
node_scenario 60 txn || fail "transactions"
ok "read_committed sees only committed records; the group's offset moves with the commit"

stop_broker INT
plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"

# epochs.js runs its own broker on the same port (the consumer must outlive a restart).
scenario "epochs: a KafkaConsumer across a broker restart: leader epoch 0 -> 2, position validated" leader-epochs
(cd "$HERE" && exec timeout 90 node epochs.js "$BROKER" "$BROKK_BIN" "$WORK/data-e1") &
CLIENT_PID=$!
rc=0
wait "$CLIENT_PID" || rc=$?
CLIENT_PID=
((rc == 0)) || fail "consumer across a restart"
ok "validated with OffsetForLeaderEpoch (end offset 10 of epoch 0); the next messages once each"
CURRENT="finished"
echo "confluent-kafka-javascript compat suite finished in ${SECONDS}s"
echo "confluent-kafka-javascript: $PASSED passed, 0 failed"
