#!/usr/bin/env bash
# kafkajs (pure JavaScript client) compatibility suite for brokk: codecs, a consumer group
# with a rebalance, commit and resume, offsets for times, the admin client (topics, configs,
# partitions, records, groups), the idempotent producer and transactions.
#
# Usage: compat/kafkajs/run.sh   (BROKK_BIN, KEEP_WORK as in ../lib/harness.sh)
#
# Installs package.json's pinned kafkajs (+ the pure-JS kafkajs-snappy codec) into
# node_modules here with npm if missing. Starts its own broker on a free 127.0.0.1 port.
# Exits non-zero on the first failure. See FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
KAFKAJS_VERSION=2.2.4
installed=$(cd "$HERE" && node -e "console.log(require('kafkajs/package.json').version)" 2>/dev/null || true)
if [[ $installed != "$KAFKAJS_VERSION" || ! -d $HERE/node_modules/kafkajs-snappy ]]; then
    echo "installing kafkajs $KAFKAJS_VERSION into $HERE/node_modules"
    (cd "$HERE" && timeout 600 npm install --no-audit --no-fund --silent)
fi
harness_init kafkajs js


SECONDS=0
client_version "$KAFKAJS_VERSION"
unsupported produce-codecs "kafkajs implements GZIP only; snappy comes from the pure-JS kafkajs-snappy plugin (tested), while its LZ4 and ZSTD plugins (kafkajs-lz4 -> lz4@0.6, @kafkajs/zstd -> cppzst) are native addons npm does not build here without approving their install scripts: lz4 and zstd are not tested"
unsupported leader-epochs "KafkaJS 2.2.4 does not implement OffsetForLeaderEpoch (its request table maps it to noImplementedRequestDefinitions) and fetches with current_leader_epoch -1: it never validates a position (KIP-320)"
echo "kafkajs compat: kafkajs $KAFKAJS_VERSION / node $(node --version) / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"
start_broker "$WORK/data" --override group.min.session.timeout.ms=1000

scenario "codecs: none, gzip, snappy; keyed records with headers" produce-codecs,consume
node_scenario 150 codecs || fail "codecs"
ok "500 records per codec: offsets, keys, values and headers intact"

scenario "group: two members split 4 partitions, one leaves, the other takes over" group-rebalance
node_scenario 90 group || fail "group"
ok "2+2 assignment, then 4 after the disconnect (LeaveGroup)"

scenario "commit: commitOffsets, fetchOffsets, a new member resumes" commit-resume
node_scenario 60 commit || fail "commit"
ok "resumed exactly at the committed offset"

scenario "times: fetchTopicOffsetsByTimestamp, fetchTopicOffsets" offsets-for-times
node_scenario 60 times || fail "times"
ok "Kafka's offset for a timestamp; low and high watermarks"

scenario "admin: topics, configs, partitions, records, groups" admin-topics,admin-configs,admin-partitions,admin-delete-records,admin-groups
node_scenario 90 admin || fail "admin"
ok "create/list/delete topics, describe/alter configs, createPartitions, deleteTopicRecords, listGroups/describeGroups"

scenario "idempotent: idempotent: true" idempotent
node_scenario 60 idempotent || fail "idempotent"
ok "2000 records once each, in order"

scenario "transactions: commit, abort, sendOffsets, read_committed" transactions
node_scenario 60 txn || fail "transactions"
ok "read_committed sees only committed records; the group's offset moves with the commit"

stop_broker INT
plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"
CURRENT="finished"
echo "kafkajs compat suite finished in ${SECONDS}s"
echo "kafkajs: $PASSED passed, 0 failed"
