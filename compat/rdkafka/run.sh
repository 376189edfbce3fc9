#!/usr/bin/env bash
# The rdkafka crate (librdkafka 2.12.1, vendored by rdkafka-sys) in the compat matrix. Its
# scenarios are brokk's own Rust tests that use it as the client, against an in-process
# broker (tests/clients.rs, client_groups.rs, client_txn.rs, compaction.rs, client_epochs.rs);
# this runs them
# (the README's `cargo test --release` has already built them) and records each in the
# matrix.
#
# Usage: compat/rdkafka/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
harness_init rdkafka rdk
client_version "0.39.0 (librdkafka 2.12.1)"
SECONDS=0


rust_test clients produce_and_consume_every_codec_with_keys_headers_timestamps produce-codecs,consume
rust_test clients watermarks_offsets_for_times_and_metadata offsets-for-times
rust_test clients admin_client_creates_and_deletes_topics admin-topics
rust_test client_groups one_group_shares_partitions_and_two_groups_each_get_everything group-rebalance
rust_test client_groups committed_offsets_and_metadata_resume_after_a_restart commit-resume
rust_test client_txn idempotent_producer_writes_each_record_once_in_order idempotent
rust_test client_txn transactions_commit_abort_and_carry_offsets transactions
rust_test client_txn create_partitions_and_the_group_list admin-partitions,admin-groups
rust_test compaction a_compacted_topic_keeps_the_latest_value_of_every_key admin-configs,admin-delete-records
rust_test client_epochs a_consumer_validates_its_position_after_a_restart leader-epochs
rust_test client_epochs a_consumer_detects_a_log_truncated_by_a_crash leader-epochs

CURRENT="finished"
echo "rdkafka compat suite finished in ${SECONDS}s"
echo "rdkafka: $PASSED passed, 0 failed"
