"""Shared helpers for the confluent-kafka (librdkafka) compat scripts."""
import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def log(*a):
    print(*a, flush=True)


def consumer_conf(bootstrap, **extra):
    # The data scenarios (a-d) use manual assign() with a dummy group.id and no commits, so
    # they exercise produce/fetch only; the group scenarios use grouplib.group_conf().
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "brokk-compat-dummy",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "check.crcs": True,
    }
    conf.update(extra)
    return conf


def producer_conf(bootstrap, **extra):
    # Idempotence off: the data and group scenarios test plain produce (acks=all); the
    # idempotent producer has its own scenarios (idem_*.py).
    conf = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": False,
        "acks": "all",
    }
    conf.update(extra)
    return conf


def create_topic(bootstrap, topic, partitions, timeout=20, config=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
                             operation_timeout=10, request_timeout=timeout)
    try:
        fs[topic].result(timeout=timeout)
    except KafkaException as e:
        raise Failure(f"CreateTopics({topic}, {partitions}) failed: {e}")
    # metadata must show the partitions
    deadline = time.time() + timeout
    while True:
        md = admin.list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            return
        check(time.time() < deadline, f"topic {topic} metadata never showed {partitions} partitions: {t}")
        time.sleep(0.1)


def main_wrapper(fn):
    try:
        fn()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
