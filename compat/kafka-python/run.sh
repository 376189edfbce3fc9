#!/usr/bin/env bash
# kafka-python (pure-Python client) compatibility suite for brokk: consumer groups, the
# idempotent producer (kafka-python 3.x's default) and transactions.
#
# Usage: compat/kafka-python/run.sh
#   BROKK_BIN=/path/to/brokk   broker binary (default: <repo>/target/release/brokk)
#   N=5000                     messages in the split scenario
#   IDEM_N=20000               messages in the idempotent scenario
#   IDEM_CHAOS_N=30000         messages in idempotent-chaos (0: skip it)
#   IDEM_KILL_KB=100-1000      idempotent-chaos: the proxy kills each connection after this many KB
#   TXN_N=1000                 inputs of the transactional consume-transform-produce scenario
#   KEEP_WORK=1                keep the temp dir (data dir, broker logs, state file)
#
# Creates .venv here with kafka-python==$KP_VERSION if missing. Starts its own broker on a
# free 127.0.0.1 port with its own data dir. Exits non-zero on the first failure. See
# FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"   # sets BROKK_BIN, checks it; fail/scenario/ok/start_broker/...
N=${N:-5000}
IDEM_N=${IDEM_N:-20000}
IDEM_CHAOS_N=${IDEM_CHAOS_N:-30000}
IDEM_KILL_KB=${IDEM_KILL_KB:-100-1000}
TXN_N=${TXN_N:-1000}
KP_VERSION=3.0.12
VENV=$HERE/.venv
PY=$VENV/bin/python

# ---------------------------------------------------------------------------- venv
# The codecs kafka-python compresses with are optional packages.
ensure_venv "$VENV" kafka-python "$KP_VERSION" python-snappy==0.7.3 lz4==4.4.5 zstandard==0.25.0

harness_init kafka-python kp   # WORK, BROKER, traps

# py TIMEOUT SCRIPT ARGS...: see ../lib/harness.sh

SECONDS=0
client_version "$("$PY" -c 'import kafka; print(kafka.__version__)')"
echo "kafka-python compat: kafka-python $("$PY" -c 'import kafka; print(kafka.__version__)') / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"

DATA=$WORK/data
# session timeouts of a few seconds need a lower group.min.session.timeout.ms (Kafka: 6000)
BROKER_ARGS=(--override group.min.session.timeout.ms=1000)
start_broker "$DATA" "${BROKER_ARGS[@]}"

scenario "split: two KafkaConsumers in one group share a 4-partition topic; LeaveGroup" group-rebalance
py 120 groups.py split "$BROKER" "$N" || fail "split"
ok "2 partitions each; $N messages exactly once; after B's close() A resumes B's partitions at B's commit"

scenario "commit: commit(), commit(OffsetAndMetadata), committed(); a new member resumes there" commit-resume
py 120 groups.py commit "$BROKER" "$WORK/commit-state.json" || fail "commit"
ok "commits and metadata read back; resume exactly at the committed offsets"

scenario "restart: kill -9 the broker, restart on the same data dir, resume after the last commit" commit-resume
stop_broker KILL
start_broker "$DATA" "${BROKER_ARGS[@]}"
opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
opened_line | grep -Eq "groups=[1-9]" || fail "expected the groups to be reloaded: $(opened_line)"
echo "   restart log: $(opened_line)"
py 120 groups.py resume "$BROKER" "$WORK/commit-state.json" || fail "resume after restart"
ok "committed offsets + metadata survive kill -9; a new member resumes exactly after the last commit"

scenario "admin: KafkaAdminClient group APIs" admin-groups
py 120 groups.py admin "$BROKER" || fail "admin"
ok "list_groups (+states_filter), describe_groups, remove_group_members, list/alter/delete_group_offsets, delete_groups"

scenario "admin-partitions: create_partitions (validate_only, grow, manual assignments, errors)" admin-partitions
py 60 admin.py partitions "$BROKER" || fail "admin partitions"
ok "validate_only changes nothing; 2 -> 4 -> 6 partitions; new partitions written from offset 0 and read back; Kafka's errors"

scenario "admin-records: describe_log_dirs, delete_records" admin-delete-records
py 60 admin.py records "$BROKER" || fail "admin records"
ok "describe_log_dirs: the data dir, partition sizes, disk space; the log start moves (low watermark), consumers begin there, OffsetOutOfRange past the high watermark, -1 = high watermark"

scenario "admin-cluster: describe_cluster, elect_leaders, list/alter_partition_reassignments"
py 60 admin.py cluster "$BROKER" || fail "admin cluster"
ok "one unfenced broker at the bootstrap address, its own controller, cluster operations; elections never needed; no reassignment in progress, only this broker as a target; DescribeQuorum and the finalized features follow metadata changes"

scenario "codecs: a KafkaProducer per codec, keyed records with headers read back" produce-codecs,consume
py 120 basics.py codecs "$BROKER" || fail "codecs"
ok "none, gzip, snappy, lz4, zstd: 500 records each, offsets, keys, values and headers intact"

scenario "times: offsets_for_times, beginning_offsets, end_offsets" offsets-for-times
py 60 basics.py times "$BROKER" || fail "offsets for times"
ok "the first offset at or after a timestamp, None past the end, the log's bounds"

scenario "admin-topics: create/describe/delete topics" admin-topics
py 60 basics.py topics "$BROKER" || fail "admin topics"
ok "created with configs, validate_only, TopicAlreadyExists, described with this broker as leader, deleted"

scenario "admin-describe: describe_topic_partitions (paged), alter_replica_log_dirs, list_config_resources" admin-topics
py 60 admin.py describe "$BROKER" || fail "admin describe"
ok "DescribeTopicPartitions pages of 2 partitions follow the cursor; AlterReplicaLogDirs into the broker's dir; ListConfigResources lists the broker, its loggers and the topics"

scenario "admin-configs: describe/alter/reset configs of a topic, the broker and its loggers" admin-configs
py 60 admin.py configs "$BROKER" || fail "admin configs"
ok "33 topic configs with sources; incremental and legacy alter, validate_only, reset; max.message.bytes and cleanup.policy=compact take effect on the next produce; dynamic broker log.retention.ms reaches topics; loggers set and reset"

scenario "idempotent: default KafkaProducer (enable_idempotence=True), $IDEM_N keyed messages, 3 partitions" idempotent
py 120 idempotent.py plain "$BROKER" "$IDEM_N" "$DATA" || fail "idempotent"
ok "InitProducerId, every message exactly once in production order, contiguous sequences on disk"

TSTART=$SECONDS
scenario "txn-eos: transactional consume-transform-produce, $TXN_N inputs, every 3rd transaction aborted" transactions
py 120 txn.py eos "$BROKER" "$TXN_N" || fail "txn eos"
ok "list/describe_transactions + describe_producers on an open transaction; read_committed: each input once; offsets only on commit"

scenario "txn-fence: a second KafkaProducer with the same transactional_id fences the first" transactions
py 60 txn.py fence "$BROKER" || fail "txn fence"
ok "the first producer's commit raises ProducerFencedError; read_committed reads only the second one's records"
echo "   transactions part: $((SECONDS - TSTART))s"

stop_broker INT
plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"

# The epoch scripts run their own broker on the same port (the consumer must outlive restarts).
scenario "epochs-restart: a KafkaConsumer across a broker restart: leader epoch 0 -> 2, position validated" leader-epochs
py 120 epochs.py restart "$BROKER" "$BROKK_BIN" "$WORK/data-e1" || fail "consumer across a restart"
ok "fenced, OffsetForLeaderEpoch, no truncation: the next records once each at epoch 2 (fetches carry last_fetched_epoch)"

scenario "epochs-truncation: a crash loses acknowledged-but-unflushed records; poll() raises LogTruncationError" leader-epochs
py 120 epochs.py truncation "$BROKER" "$BROKK_BIN" "$WORK/data-e2" || fail "log truncation detection"
ok "epoch 2 ended at 5 < position 8: LogTruncationError(offset=5); after a seek, new records at epoch 4"

if ((IDEM_CHAOS_N > 0)); then
    # The broker advertises the proxy's port (../lib/idem_proxy.py, started by the client), so
    # every producer connection goes through it; the read-back goes straight to brokk after a
    # restart without the advertised proxy.
    scenario "idempotent-chaos: default KafkaProducer, $IDEM_CHAOS_N messages through a proxy killing connections every $IDEM_KILL_KB KB"
    CHAOS_DATA=$WORK/data-chaos
    PROXY_PORT=$(free_port)
    start_broker "$CHAOS_DATA" --advertised-listener "127.0.0.1:$PROXY_PORT"
    py 120 idempotent.py chaos-produce "$BROKER" "$PROXY_PORT" "$IDEM_CHAOS_N" "$WORK/chaos.json" "$IDEM_KILL_KB" ||
        fail "idempotent produce through the proxy"
    stop_broker TERM
    start_broker "$CHAOS_DATA"
    py 60 idempotent.py chaos-verify "$BROKER" "$WORK/chaos.json" "$CHAOS_DATA" || fail "read-back after the chaos"
    stop_broker INT
    ok "every lost answer retried and answered as a duplicate; every message exactly once, in order"
fi

CURRENT="finished"
echo "kafka-python compat suite finished in ${SECONDS}s"
echo "kafka-python: $PASSED passed, 0 failed"
