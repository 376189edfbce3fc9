"""Produce/consume and topic-admin scenarios for kafka-python 3.0.x against brokk.

    basics.py codecs BOOTSTRAP   a KafkaProducer per codec (none, gzip, snappy, lz4, zstd):
                                 keyed records with headers read back in order by a consumer
    basics.py times BOOTSTRAP    offsets_for_times, beginning_offsets, end_offsets
    basics.py topics BOOTSTRAP   create_topics (configs, validate_only, errors),
                                 describe_topics, list_topics, delete_topics
"""
import sys
import time

import kafka.errors as Errors
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common import admin, check, log, main_wrapper


def codecs(bootstrap):
    for codec in (None, "gzip", "snappy", "lz4", "zstd"):
        topic = f"kp-codec-{codec or 'none'}"
        p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=20, acks="all")
        futs = [p.send(topic, key=f"k{i}".encode(), value=f"{codec}-{i}".encode() * 20,
                       headers=[("h", str(i).encode())]) for i in range(500)]
        p.flush(timeout=30)
        offsets = [f.get(timeout=10).offset for f in futs]
        p.close()
        check(offsets == list(range(500)), f"{codec}: offsets {offsets[:5]}...")
        c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
        c.assign([TopicPartition(topic, 0)])
        got = [(m.offset, m.key, m.value, m.headers) for m in c]
        c.close()
        want = [(i, f"k{i}".encode(), f"{codec}-{i}".encode() * 20, [("h", str(i).encode())]) for i in range(500)]
        check(got == want, f"{codec}: {len(got)} records read back, first {got[:1]}")
    log("500 keyed records with headers per codec (none, gzip, snappy, lz4, zstd) read back in order")


def times(bootstrap):
    topic = "kp-times"
    base = int(time.time() * 1000) - 100_000
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(10):
        p.send(topic, value=f"t{i}".encode(), timestamp_ms=base + i * 1000, partition=0)
    p.flush(timeout=30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    tp = TopicPartition(topic, 0)
    found = c.offsets_for_times({tp: base + 4500})[tp]
    check(found.offset == 5 and found.timestamp == base + 5000, f"offsets_for_times: {found}")
    check(c.offsets_for_times({tp: base + 999_999})[tp] is None, "a future timestamp finds nothing")
    check(c.beginning_offsets([tp])[tp] == 0 and c.end_offsets([tp])[tp] == 10, "beginning/end offsets")
    c.close()
    log("offsets_for_times (found, and None past the end), beginning_offsets, end_offsets")


def topics(bootstrap):
    adm = admin(bootstrap)
    r = adm.create_topics({"kp-admin-t": {"num_partitions": 3, "replication_factor": 1,
                                          "configs": {"retention.ms": "3600000"}}})
    check(r["topics"][0]["error_code"] == 0, f"create: {r}")
    adm.create_topics({"kp-admin-v": {"num_partitions": 1, "replication_factor": 1}}, validate_only=True)
    check("kp-admin-v" not in adm.list_topics(), "validate_only creates nothing")
    try:
        adm.create_topics({"kp-admin-t": {"num_partitions": 1, "replication_factor": 1}})
        raise AssertionError("a second create succeeded")
    except Errors.TopicAlreadyExistsError:
        pass
    [d] = adm.describe_topics(["kp-admin-t"])
    check(len(d["partitions"]) == 3 and all(p["leader_id"] == 0 for p in d["partitions"]), f"describe: {d}")
    adm.delete_topics(["kp-admin-t"])
    deadline = time.time() + 10
    while "kp-admin-t" in adm.list_topics() and time.time() < deadline:
        time.sleep(0.1)
    check("kp-admin-t" not in adm.list_topics(), "deleted")
    adm.close()
    log("create_topics (configs, validate_only, TopicAlreadyExists), describe_topics, delete_topics")


def main():
    cmd, bootstrap = sys.argv[1], sys.argv[2]
    {"codecs": codecs, "times": times, "topics": topics}[cmd](bootstrap)


if __name__ == "__main__":
    main_wrapper(main)
