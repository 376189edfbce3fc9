"""Admin-API scenarios for kafka-python 3.0.x against brokk.

    admin.py partitions BOOTSTRAP   create_partitions: validate_only, grow, write and read the
                                    new partitions, Kafka's errors (not an increase, bad manual
                                    assignments, unknown topic)
    admin.py records BOOTSTRAP      describe_log_dirs; delete_records: the log start moves, a
                                    consumer starts there, OffsetOutOfRange past the end
    admin.py cluster BOOTSTRAP      describe_cluster (DescribeCluster v2): one unfenced broker,
                                    the controller, the cluster id, the cluster operations;
                                    elect_leaders, list/alter_partition_reassignments
"""
import sys

import kafka.errors as Errors
from kafka import KafkaConsumer, TopicPartition

from common import admin, check, create_topic, log, main_wrapper, produce, producer

TOPIC = "kp-grow"


def partition_count(adm, topic):
    [t] = adm.describe_topics([topic])
    return len(t["partitions"])


def expect_error(fn, error, fragment, what):
    try:
        fn()
    except error as e:
        check(fragment in str(e), f"{what}: {error.__name__} without {fragment!r}: {e}")
        return
    raise AssertionError(f"{what}: no {error.__name__}")


def partitions(bootstrap):
    adm = admin(bootstrap)
    create_topic(adm, TOPIC, 2)

    adm.create_partitions({TOPIC: 4}, validate_only=True)
    check(partition_count(adm, TOPIC) == 2, "validate_only must not add partitions")

    adm.create_partitions({TOPIC: 4})
    check(partition_count(adm, TOPIC) == 4, "create_partitions to 4")
    log("grew to 4 partitions")

    prod = producer(bootstrap)
    for p in (2, 3):
        acked = produce(prod, TOPIC, [f"new-{p}".encode()], partition=p)
        check(acked == [(p, 0)], f"a new partition takes writes from offset 0: {acked}")
    prod.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    c.assign([TopicPartition(TOPIC, 2), TopicPartition(TOPIC, 3)])
    got = {m.value for m in c}
    c.close()
    check({b"new-2", b"new-3"} <= got, f"records on the new partitions read back: {got}")
    log("produced to and consumed from partitions 2 and 3")

    expect_error(lambda: adm.create_partitions({TOPIC: 4}), Errors.InvalidPartitionsError,
                 "already has 4 partition", "same count")
    expect_error(lambda: adm.create_partitions({TOPIC: 3}), Errors.InvalidPartitionsError,
                 "would not be an increase", "lower count")
    expect_error(lambda: adm.create_partitions({TOPIC: {"count": 6, "assignments": [[0], [7]]}}),
                 Errors.InvalidReplicationAssignmentError, "broker 7", "unknown broker in an assignment")
    expect_error(lambda: adm.create_partitions({"kp-no-such-topic": 3}),
                 Errors.UnknownTopicOrPartitionError, "", "unknown topic")
    adm.create_partitions({TOPIC: {"count": 6, "assignments": [[0], [0]]}})
    check(partition_count(adm, TOPIC) == 6, "manual assignment onto broker 0")
    adm.close()
    log("errors: InvalidPartitions (same, lower), InvalidReplicaAssignment, UnknownTopicOrPartition")


def records(bootstrap):
    topic = "kp-delete-records"
    adm = admin(bootstrap)
    create_topic(adm, topic, 1)
    prod = producer(bootstrap)
    produce(prod, topic, [f"r{i}".encode() for i in range(10)], partition=0)
    prod.close()
    tp = TopicPartition(topic, 0)
    [entry] = adm.describe_log_dirs()
    [ld] = entry["log_dirs"]
    sizes = {(t["name"], p["partition_index"]): p["partition_size"] for t in ld["topics"] for p in t["partitions"]}
    check(sizes.get((topic, 0), 0) > 0 and ld["usable_bytes"] > 0 and ld["log_dir"].startswith("/"),
          f"describe_log_dirs: one log dir with the partition's size and the disk's space: {ld}")
    r = adm.delete_records({tp: 4})
    check(r[tp]["low_watermark"] == 4, f"low watermark 4: {r}")
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    check(c.beginning_offsets([tp])[tp] == 4, "beginning_offsets after delete_records")
    c.assign([tp])
    got = [m.value for m in c]
    check(got == [f"r{i}".encode() for i in range(4, 10)], f"a consumer from the beginning reads r4..r9: {got}")
    c.close()
    expect_error(lambda: adm.delete_records({tp: 11}), Errors.OffsetOutOfRangeError, "", "past the high watermark")
    r = adm.delete_records({tp: -1})
    check(r[tp]["low_watermark"] == 10, f"-1 deletes up to the high watermark: {r}")
    adm.close()
    log("delete_records 4 then -1 (high watermark); consumer starts at 4; OffsetOutOfRange past the end")


def cluster(bootstrap):
    adm = admin(bootstrap)
    d = adm.describe_cluster()
    log(f"describe_cluster: {d}")
    brokers = d["brokers"]
    check(len(brokers) == 1, f"one broker: {brokers}")
    host, port = bootstrap.rsplit(":", 1)
    b = brokers[0]
    check((b["host"], b["port"]) == (host, int(port)), f"the broker's advertised address: {b}")
    check(b.get("is_fenced") is False, f"not fenced: {b}")
    check(d["controller_id"] == b["broker_id"], f"controller is the broker: {d}")
    ops = {str(o).split(".")[-1] for o in d.get("authorized_operations") or ()}
    check(ops == {"CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
                  "IDEMPOTENT_WRITE"}, f"Kafka's cluster operations, all allowed without an authorizer: {ops}")
    check(len(d["cluster_id"]) == 22, f"a Kafka cluster id: {d['cluster_id']}")

    # One broker: elections and reassignments are never needed.
    create_topic(adm, "kp-elect", 2)
    r = adm.elect_leaders(0, {"kp-elect": [0, 1]})
    codes = [p.error_code for t in r.replica_election_results for p in t.partition_result]
    check(codes == [Errors.ElectionNotNeededError.errno] * 2, f"preferred election not needed: {r}")
    expect_error(lambda: adm.elect_leaders(1, {"kp-elect": [7]}), Errors.UnknownTopicOrPartitionError, "",
                 "unclean election of an unknown partition")
    check(adm.list_partition_reassignments() == {}, "no reassignment in progress")
    tp = TopicPartition("kp-elect", 0)
    r = adm.alter_partition_reassignments({tp: [b["broker_id"]]})
    check(r == {tp: None}, f"reassignment onto this broker accepted: {r}")
    r = adm.alter_partition_reassignments({tp: [b["broker_id"], 9]})
    check(r == {tp: Errors.InvalidReplicationAssignmentError}, f"reassignment onto an unknown broker: {r}")
    r = adm.alter_partition_reassignments({tp: None})
    check(r == {tp: Errors.NoReassignmentInProgressError}, f"cancelling a reassignment that is not there: {r}")
    log("elect_leaders: ElectionNotNeeded / UnknownTopicOrPartition; list_partition_reassignments empty; "
        "alter_partition_reassignments: onto this broker OK, unknown broker and cancel refused")
    adm.close()


def main():
    cmd, bootstrap = sys.argv[1], sys.argv[2]
    {"partitions": partitions, "records": records, "cluster": cluster}[cmd](bootstrap)


if __name__ == "__main__":
    main_wrapper(main)
