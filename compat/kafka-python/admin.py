"""Admin-API scenarios for kafka-python 3.0.x against brokk.

    admin.py partitions BOOTSTRAP   create_partitions: validate_only, grow, write and read the
                                    new partitions, Kafka's errors (not an increase, bad manual
                                    assignments, unknown topic)
    admin.py records BOOTSTRAP      describe_log_dirs; delete_records: the log start moves, a
                                    consumer starts there, OffsetOutOfRange past the end
    admin.py cluster BOOTSTRAP      describe_cluster (DescribeCluster v2): one unfenced broker,
                                    the controller, the cluster id, the cluster operations;
                                    elect_leaders, list/alter_partition_reassignments
    admin.py describe BOOTSTRAP     describe_topic_partitions (DescribeTopicPartitions, paged
                                    by cursor), alter_replica_log_dirs, list_config_resources
    admin.py configs BOOTSTRAP      describe_configs / alter_configs (incremental and legacy) /
                                    reset_configs on a topic, the broker and the broker's
                                    loggers; changed topic configs take effect on the next
                                    produce (max.message.bytes, cleanup.policy=compact)
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

    # brokk is its own single-voter controller; each metadata change moves its offset.
    q = adm.describe_metadata_quorum()["topics"][0]["partitions"][0]
    check(q["leader_id"] == b["broker_id"] and q["leader_epoch"] >= 1 and q["observers"] == []
          and [v["replica_id"] for v in q["current_voters"]] == [b["broker_id"]], f"quorum: {q}")
    features = adm.describe_features()
    mv = features["metadata.version"]
    check(mv["supported"] == (7, 25) and mv["finalized"] == (25, 25), f"features: {features}")
    check("group.version" not in features, f"no KIP-848 group.version: {features}")
    before = mv["finalized_epoch"]
    create_topic(adm, "kp-quorum", 1)
    q2 = adm.describe_metadata_quorum()["topics"][0]["partitions"][0]
    check(q2["high_watermark"] == q["high_watermark"] + 1, f"a topic creation is one metadata change: {q} {q2}")
    check(adm.describe_features()["metadata.version"]["finalized_epoch"] == before + 1, "the features epoch follows")
    log(f"describe_metadata_quorum: leader {q['leader_id']} at epoch {q['leader_epoch']}, one voter; "
        "describe_features: metadata.version 25; a topic creation moves the metadata offset by one")
    adm.close()


def configs(bootstrap):
    from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType
    topic = "kp-configs"
    adm = admin(bootstrap)
    create_topic(adm, topic, 1, topic_configs={"retention.ms": "86400000"})
    res = ConfigResource(ConfigResourceType.TOPIC, topic)

    def topic_configs(flt="modified"):
        return adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                    include_synonyms=True, config_filter=flt)["topic"][topic]

    mod = topic_configs()
    check(set(mod) == {"retention.ms"} and mod["retention.ms"]["value"] == "86400000"
          and mod["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG",
          f"only the creation override is modified: {mod}")
    everything = topic_configs("all")
    check(len(everything) == 33 and everything["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"
          and everything["cleanup.policy"]["value"] == "delete",
          f"all 33 topic configs, defaults from the broker: {sorted(everything)}")
    log("describe_configs: the creation override as DYNAMIC_TOPIC_CONFIG, 33 configs in all")

    r = adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={
        "max.message.bytes": "2000", "cleanup.policy": (AlterConfigOp.APPEND, "compact")})])
    check(r["topic"][topic] == "OK", f"incremental alter: {r}")
    mod = topic_configs()
    check(mod["max.message.bytes"]["value"] == "2000" and mod["cleanup.policy"]["value"] == "delete,compact",
          f"altered: {mod}")
    # A failed batch leaves an idempotent producer unusable, so each case gets its own.
    prod = producer(bootstrap, max_request_size=10_000_000)
    try:
        prod.send(topic, key=b"k", value=b"x" * 5000).get(timeout=10)
        raise AssertionError("a 5000-byte record was accepted with max.message.bytes=2000")
    except Errors.MessageSizeTooLargeError:
        pass
    prod.close()
    prod = producer(bootstrap)
    try:
        prod.send(topic, value=b"no key").get(timeout=10)
        raise AssertionError("a keyless record was accepted on a compacted topic")
    except Errors.InvalidRecordError as e:
        check("without key" in str(e), f"the broker's reason: {e}")
    prod.close()
    prod = producer(bootstrap)
    acked = prod.send(topic, key=b"k", value=b"small").get(timeout=10)
    check(acked.offset == 0, f"a keyed small record is accepted: {acked}")
    prod.close()
    log("max.message.bytes=2000 and cleanup.policy=delete,compact take effect on the next produce: "
        "MessageSizeTooLarge, InvalidRecord for a keyless record, a keyed record accepted")

    r = adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "soon"})])
    check("InvalidConfigurationError: Invalid value soon for configuration retention.ms" in r["topic"][topic],
          f"bad value: {r}")
    r = adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"segment.ms": "60000"})],
                          validate_only=True)
    check("segment.ms" not in topic_configs(), "validate_only changes nothing")
    # The legacy AlterConfigs replaces the whole set; kafka-python sends the other modified
    # keys along so that they stay.
    adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"segment.ms": "60000"})],
                      incremental=False)
    mod = topic_configs()
    check(set(mod) == {"segment.ms", "retention.ms", "max.message.bytes", "cleanup.policy"},
          f"legacy alter_configs: {sorted(mod)}")
    # kafka-python 3.0.12's full reset needs configs={} (None raises TypeError in the client).
    adm.reset_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={})])
    check(topic_configs() == {}, f"reset_configs: {topic_configs()}")
    log("InvalidConfiguration for a bad value; validate_only; legacy alter replaces; reset_configs")

    broker_res = ConfigResource(ConfigResourceType.BROKER, "0")
    b = adm.describe_configs([broker_res], config_filter="all")["broker"]["0"]
    check(b["log.retention.hours"]["read_only"] and not b["log.retention.ms"]["read_only"]
          and b["num.partitions"]["read_only"], "read-only and dynamic broker configs")
    adm.alter_configs([ConfigResource(ConfigResourceType.BROKER, "0", configs={"log.retention.ms": "3600000"})])
    t = topic_configs("all")["retention.ms"]
    check(t["value"] == "3600000" and t["config_source"] == "DYNAMIC_BROKER_CONFIG",
          f"a dynamic broker default reaches the topic: {t}")
    adm.reset_configs([ConfigResource(ConfigResourceType.BROKER, "0", configs=["log.retention.ms"])])
    check(topic_configs("all")["retention.ms"]["value"] == "604800000", "broker default reset")
    r = adm.alter_configs([ConfigResource(ConfigResourceType.BROKER, "0", configs={"num.partitions": "3"})],
                          raise_on_unknown=False)
    check("Cannot update these configs dynamically: Set(num.partitions)" in r["broker"]["0"],
          f"a static broker config: {r}")
    log("broker: read-only flags; log.retention.ms set dynamically reaches the topic, then reset; "
        "num.partitions refused")

    adm.alter_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, "0", configs={"brokk::group": "DEBUG"})],
                      raise_on_unknown=False)
    loggers = adm.describe_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, "0")],
                                   config_filter="all")["broker_logger"]["0"]
    check(loggers["brokk::group"]["value"] == "DEBUG" and "root" in loggers, f"loggers: {loggers}")
    adm.reset_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, "0", configs=["brokk::group"])],
                      raise_on_unknown=False)
    log("broker loggers: brokk::group set to DEBUG and reset")
    adm.close()


def describe(bootstrap):
    from kafka.structs import TopicPartitionReplica
    adm = admin(bootstrap)
    create_topic(adm, "kp-dtp-a", 3)
    create_topic(adm, "kp-dtp-b", 2)
    pages, cursor = [], None
    for _ in range(10):
        r = adm.describe_topic_partitions(["kp-dtp-a", "kp-dtp-b"], response_partition_limit=2, cursor=cursor)
        pages.append([(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in r["topics"]])
        cursor = r["next_cursor"]
        if cursor is None:
            break
    check(pages == [[("kp-dtp-a", [0, 1])], [("kp-dtp-a", [2]), ("kp-dtp-b", [0])], [("kp-dtp-b", [1])]],
          f"describe_topic_partitions pages of 2: {pages}")
    log(f"describe_topic_partitions, 2 partitions per page: {pages}")
    dirs = adm.describe_log_dirs()
    paths = [d["log_dir"] for b in dirs for d in b["log_dirs"]]
    check(len(paths) == 1, f"one log dir: {dirs}")
    path = paths[0]
    r = adm.alter_replica_log_dirs({TopicPartitionReplica("kp-dtp-a", 0, 0): path,
                                    TopicPartitionReplica("kp-dtp-a", 1, 0): "/no/such/dir"})
    codes = {k.partition: v for k, v in r.items()}
    check(codes[0] is Errors.NoError and codes[1] is Errors.LogDirNotFoundError,
          f"alter_replica_log_dirs: {r}")
    log("alter_replica_log_dirs: the broker's own dir is a no-op, another path LogDirNotFound")
    listed = adm.list_config_resources()
    check(listed.get("broker") == ["0"] and listed.get("broker_logger") == ["0"]
          and {"kp-dtp-a", "kp-dtp-b"} <= set(listed.get("topic", [])), f"list_config_resources: {listed}")
    log(f"list_config_resources: broker, broker_logger and {len(listed.get('topic', []))} topics")
    adm.close()


def main():
    cmd, bootstrap = sys.argv[1], sys.argv[2]
    {"partitions": partitions, "records": records, "cluster": cluster, "configs": configs,
     "describe": describe}[cmd](bootstrap)


if __name__ == "__main__":
    main_wrapper(main)
