#!/usr/bin/env bash
# rskafka 0.6.0 (influxdata's pure-Rust client) in the compat matrix. Its scenarios are
# brokk's Rust tests that use it (tests/rskafka.rs) against an in-process broker; this runs
# them (the README's `cargo test --release` has already built them) and records the matrix,
# with what rskafka itself does not offer.
#
# Usage: compat/rskafka/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
harness_init rskafka rsk
client_version "0.6.0"
SECONDS=0
unsupported group-rebalance "rskafka has no consumer groups (a partition client reads a partition by offset)"
unsupported commit-resume "rskafka has no consumer groups, so no offset commits"
unsupported offsets-for-times "rskafka's OffsetAt has only Earliest and Latest (no ListOffsets by timestamp)"
unsupported admin-configs "rskafka has no DescribeConfigs/AlterConfigs"
unsupported admin-partitions "rskafka's controller client creates and deletes topics only"
unsupported admin-groups "rskafka has no group APIs"
unsupported idempotent "rskafka's producer has no producer id (no idempotence)"
unsupported transactions "rskafka has no transactions"
unsupported leader-epochs "rskafka names the OffsetForLeaderEpoch API key but has no such request, and does not track leader epochs"


rust_test rskafka every_codec_round_trips_with_headers_and_timestamps produce-codecs,consume
rust_test rskafka offsets_topics_and_delete_records admin-topics,admin-delete-records

CURRENT="finished"
echo "rskafka compat suite finished in ${SECONDS}s"
echo "rskafka: $PASSED passed, 0 failed"
