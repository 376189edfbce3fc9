#!/usr/bin/env bash
# aiokafka (asyncio client) compatibility suite for brokk: every codec, a consumer group
# with a rebalance, commit and resume, offsets for times, the admin client (topics,
# configs, partitions, records, groups), the idempotent producer and transactions.
#
# Usage: compat/aiokafka/run.sh   (BROKK_BIN, KEEP_WORK as in ../lib/harness.sh)
#
# Creates .venv here with aiokafka==$AIO_VERSION (cramjam brings snappy, lz4 and zstd).
# Starts its own broker on a free 127.0.0.1 port. Exits non-zero on the first failure.
# See FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"
AIO_VERSION=0.14.0
VENV=$HERE/.venv
PY=$VENV/bin/python
ensure_venv "$VENV" aiokafka "$AIO_VERSION" cramjam==2.14.0
harness_init aiokafka aio

SECONDS=0
client_version "$("$PY" -c 'import aiokafka; print(aiokafka.__version__)')"
unsupported leader-epochs "aiokafka 0.14.0 has no OffsetForLeaderEpoch request (only the API's name in its key table) and never validates a position (KIP-320)"
echo "aiokafka compat: aiokafka $("$PY" -c 'import aiokafka; print(aiokafka.__version__)') / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"
start_broker "$WORK/data" --override group.min.session.timeout.ms=1000

scenario "codecs: a producer per codec (none, gzip, snappy, lz4, zstd), keyed records with headers" produce-codecs,consume
py 150 scenarios.py codecs "$BROKER" || fail "codecs"
ok "500 records per codec: offsets, keys, values and headers intact"

scenario "group: two members split 4 partitions, one leaves, the other takes over" group-rebalance
py 90 scenarios.py group "$BROKER" || fail "group"
ok "2+2 assignment, then 4 after the LeaveGroup"

scenario "commit: commit, committed(), a new member resumes" commit-resume
py 60 scenarios.py commit "$BROKER" || fail "commit"
ok "resumed exactly at the committed offset"

scenario "times: offsets_for_times, beginning_offsets, end_offsets" offsets-for-times
py 60 scenarios.py times "$BROKER" || fail "times"
ok "Kafka's offsets for a timestamp, past the end, and the bounds"

scenario "admin: topics, configs, partitions, records, groups" admin-topics,admin-configs,admin-partitions,admin-delete-records,admin-groups
py 90 scenarios.py admin "$BROKER" || fail "admin"
ok "create/describe/delete topics, describe/alter configs (legacy AlterConfigs), create_partitions, delete_records, list/describe groups"

scenario "idempotent: enable_idempotence=True" idempotent
py 60 scenarios.py idempotent "$BROKER" || fail "idempotent"
ok "2000 records once each, in order"

scenario "transactions: commit, abort, send_offsets_to_transaction, read_committed" transactions
py 60 scenarios.py txn "$BROKER" || fail "transactions"
ok "read_committed sees only committed records; the group's offset moves with the commit"

stop_broker INT
plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"
CURRENT="finished"
echo "aiokafka compat suite finished in ${SECONDS}s"
echo "aiokafka: $PASSED passed, 0 failed"
