"""AdminClient and offset-lookup scenarios for confluent-kafka (librdkafka) against brokk.

    admin.py topics BOOTSTRAP       create_topics (configs, validate_only, errors), describe_topics,
                                    list_topics, delete_topics
    admin.py configs BOOTSTRAP      describe_configs, incremental_alter_configs (SET, APPEND,
                                    DELETE), alter_configs; max.message.bytes takes effect
    admin.py partitions BOOTSTRAP   create_partitions, then produce to the new partition
    admin.py records BOOTSTRAP      delete_records; POLICY_VIOLATION on a compact-only topic
    admin.py times BOOTSTRAP        list_offsets (earliest, latest, for_timestamp, max_timestamp)
                                    and Consumer.offsets_for_times
    admin.py compaction BOOTSTRAP   a compacted topic cleaned by the broker's own cleaner
                                    thread: the latest value of every key at its offset
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)

from common import check, log

try:
    from confluent_kafka import TopicCollection
except ImportError:  # pragma: no cover
    TopicCollection = None


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def wait(futures):
    return {k: f.result(timeout=20) for k, f in futures.items()}


def expect_kafka_error(fn, code, what):
    try:
        fn()
    except KafkaException as e:
        check(e.args[0].code() == code, f"{what}: expected {code}, got {e.args[0]}")
        return e.args[0]
    raise AssertionError(f"{what}: no error")


def produce(bootstrap, topic, records, **conf):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, **conf})
    for r in records:
        p.produce(topic, **r)
        p.flush(10)
    check(p.flush(10) == 0, "all delivered")


def read_all(bootstrap, topic, partition=0, last=None):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-admin-reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    out, deadline = [], time.time() + 20
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if last is None and out:
                break
            continue
        check(m.error() is None, f"consume: {m.error()}")
        out.append((m.offset(), m.key(), m.value()))
        if last is not None and m.offset() >= last:
            break
    c.close()
    return out


def topics(bootstrap):
    adm = admin(bootstrap)
    wait(adm.create_topics([NewTopic("ck-t1", 3, 1, config={"retention.ms": "3600000"})]))
    r = adm.create_topics([NewTopic("ck-t2", 2, 1)], validate_only=True)
    wait(r)
    check("ck-t2" not in adm.list_topics(timeout=10).topics, "validate_only created nothing")
    expect_kafka_error(lambda: wait(adm.create_topics([NewTopic("ck-t1", 1, 1)])),
                       KafkaError.TOPIC_ALREADY_EXISTS, "existing topic")
    expect_kafka_error(lambda: wait(adm.create_topics([NewTopic("ck-bad", 1, 1, config={"retention.ms": "x"})])),
                       KafkaError.INVALID_CONFIG, "bad config")
    md = adm.list_topics(timeout=10).topics
    check(len(md["ck-t1"].partitions) == 3, f"3 partitions: {md['ck-t1']}")
    if TopicCollection is not None:
        d = adm.describe_topics(TopicCollection(["ck-t1"]))["ck-t1"].result(timeout=20)
        check(len(d.partitions) == 3 and d.partitions[0].leader.id == 0, f"describe_topics: {d}")
    wait(adm.delete_topics(["ck-t1"], operation_timeout=10))
    deadline = time.time() + 10
    while "ck-t1" in adm.list_topics(timeout=10).topics and time.time() < deadline:
        time.sleep(0.1)
    check("ck-t1" not in adm.list_topics(timeout=10).topics, "deleted")
    log("create_topics (configs, validate_only, TOPIC_ALREADY_EXISTS, INVALID_CONFIG), describe_topics, delete_topics")


def configs(bootstrap):
    adm = admin(bootstrap)
    wait(adm.create_topics([NewTopic("ck-cfg", 1, 1)]))
    res = ConfigResource(ResourceType.TOPIC, "ck-cfg")
    d = wait(adm.describe_configs([res]))[res]
    check(len(d) == 33 and d["cleanup.policy"].value == "delete", f"33 configs: {sorted(d)}")
    check(d["segment.bytes"].source == 5, f"default source: {d['segment.bytes']}")
    res = ConfigResource(ResourceType.TOPIC, "ck-cfg", incremental_configs=[
        ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
    wait(adm.incremental_alter_configs([res]))
    d = wait(adm.describe_configs([ConfigResource(ResourceType.TOPIC, "ck-cfg")]))
    d = list(d.values())[0]
    check(d["max.message.bytes"].value == "2000" and d["max.message.bytes"].source == 1, f"{d['max.message.bytes']}")
    check(d["cleanup.policy"].value == "delete,compact", f"{d['cleanup.policy']}")
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    errors = []
    p.produce("ck-cfg", key=b"k", value=b"x" * 5000, on_delivery=lambda e, m: errors.append(e))
    p.flush(10)
    check(errors and errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE,
          f"max.message.bytes=2000 refuses 5000 bytes: {errors}")
    res = ConfigResource(ResourceType.TOPIC, "ck-cfg", incremental_configs=[
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    wait(adm.incremental_alter_configs([res]))
    d = list(wait(adm.describe_configs([ConfigResource(ResourceType.TOPIC, "ck-cfg")])).values())[0]
    check(d["max.message.bytes"].source == 5, "DELETE restores the default")
    bad = ConfigResource(ResourceType.TOPIC, "ck-cfg", incremental_configs=[
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    expect_kafka_error(lambda: wait(adm.incremental_alter_configs([bad])), KafkaError.INVALID_CONFIG, "bad value")
    b = wait(adm.describe_configs([ConfigResource(ResourceType.BROKER, "0")]))
    b = list(b.values())[0]
    check(b["log.retention.hours"].is_read_only and not b["log.retention.ms"].is_read_only, "broker flags")
    log("describe_configs (33 topic configs, broker), incremental_alter_configs SET/APPEND/DELETE, "
        "INVALID_CONFIG; max.message.bytes enforced on the next produce")


def partitions(bootstrap):
    adm = admin(bootstrap)
    wait(adm.create_topics([NewTopic("ck-grow", 1, 1)]))
    wait(adm.create_partitions([NewPartitions("ck-grow", 3)]))
    md = adm.list_topics(topic="ck-grow", timeout=10).topics["ck-grow"]
    check(len(md.partitions) == 3, f"grown to 3: {md.partitions}")
    produce(bootstrap, "ck-grow", [{"value": b"on-2", "partition": 2}])
    check(read_all(bootstrap, "ck-grow", partition=2) == [(0, None, b"on-2")], "new partition written")
    expect_kafka_error(lambda: wait(adm.create_partitions([NewPartitions("ck-grow", 2)])),
                       KafkaError.INVALID_PARTITIONS, "shrink")
    log("create_partitions 1 -> 3, produce/consume on the new partition, INVALID_PARTITIONS on a decrease")


def records(bootstrap):
    adm = admin(bootstrap)
    wait(adm.create_topics([NewTopic("ck-del", 1, 1), NewTopic("ck-del-compact", 1, 1, config={"cleanup.policy": "compact"})]))
    produce(bootstrap, "ck-del", [{"value": f"r{i}".encode()} for i in range(10)])
    r = adm.delete_records([TopicPartition("ck-del", 0, 4)])
    res = list(r.values())[0].result(timeout=20)
    check(res.low_watermark == 4, f"low watermark: {res}")
    got = read_all(bootstrap, "ck-del")
    check([o for o, _, _ in got] == list(range(4, 10)), f"read from the new start: {got}")
    produce(bootstrap, "ck-del-compact", [{"key": b"k", "value": b"v"}])
    r = adm.delete_records([TopicPartition("ck-del-compact", 0, 1)])
    expect_kafka_error(lambda: list(r.values())[0].result(timeout=20), KafkaError.POLICY_VIOLATION,
                       "compact-only topic")
    log("delete_records: low watermark 4, consumers start there; POLICY_VIOLATION on a compact-only topic")


def times(bootstrap):
    adm = admin(bootstrap)
    wait(adm.create_topics([NewTopic("ck-times", 1, 1)]))
    base = int(time.time() * 1000) - 100_000
    produce(bootstrap, "ck-times", [{"value": f"t{i}".encode(), "timestamp": base + i * 1000} for i in range(10)])
    tp = TopicPartition("ck-times", 0)
    specs = {tp: OffsetSpec.for_timestamp(base + 4500)}
    r = adm.list_offsets(specs)
    check(r[tp].result(timeout=20).offset == 5, "for_timestamp")
    for spec, want in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 10), (OffsetSpec.max_timestamp(), 9)):
        got = adm.list_offsets({tp: spec})[tp].result(timeout=20).offset
        check(got == want, f"{spec}: {got} != {want}")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-times"})
    found = c.offsets_for_times([TopicPartition("ck-times", 0, base + 2000)], timeout=10)
    check(found[0].offset == 2, f"offsets_for_times: {found}")
    c.close()
    log("list_offsets earliest/latest/for_timestamp/max_timestamp; Consumer.offsets_for_times")


def compaction(bootstrap):
    adm = admin(bootstrap)
    wait(adm.create_topics([NewTopic("ck-compact", 1, 1, config={
        "cleanup.policy": "compact", "segment.bytes": "2000", "min.cleanable.dirty.ratio": "0.01"})]))
    latest = {}
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    offsets = []
    for i in range(300):
        p.produce("ck-compact", key=f"k{i % 7}".encode(), value=f"v{i}".encode(),
                  on_delivery=lambda e, m: offsets.append((m.offset(), m.key(), m.value())))
        p.flush(10)
    for o, k, v in offsets:
        latest[k] = (o, k, v)
    last = max(o for o, _, _ in offsets)
    # The broker's cleaner (log.cleaner.backoff.ms=100 in run.sh) compacts the sealed
    # segments on its own: wait, bounded, until it has.
    deadline = time.time() + 30
    while True:
        got = read_all(bootstrap, "ck-compact", last=last)
        if len(got) < 100 or time.time() > deadline:
            break
        time.sleep(0.5)
    check(len(got) < 100, f"compacted: {len(got)} of 300 records left")
    check(all(a[0] < b[0] for a, b in zip(got, got[1:])), "offsets only increase")
    for rec in latest.values():
        check(rec in got, f"latest value of {rec[1]} kept at its offset: {rec}")
    by_offset = {o: (k, v) for o, k, v in offsets}
    check(all(by_offset[o] == (k, v) for o, k, v in got), "every kept record is the one produced at its offset")
    log(f"the broker's cleaner compacted 300 records over 7 keys to {len(got)}; every key's latest value "
        "at its original offset")


def main():
    cmd, bootstrap = sys.argv[1], sys.argv[2]
    {"topics": topics, "configs": configs, "partitions": partitions, "records": records,
     "times": times, "compaction": compaction}[cmd](bootstrap)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report any failure as the script's
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
