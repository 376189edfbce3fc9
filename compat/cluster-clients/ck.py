"""confluent-kafka (librdkafka) against a three-node brokk cluster.

    ck.py create BOOTSTRAP TOPIC           replication factor 3, 3 partitions, min.insync.replicas=2
    ck.py produce BOOTSTRAP TOPIC FROM TO  values FROM..TO-1, idempotent, acks=all
    ck.py consume BOOTSTRAP TOPIC N GROUP  a consumer group reads N distinct values, none twice,
                                           each partition in offset order
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def create(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})])[topic]
    fut.result(timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline:
        md = admin.list_topics(topic, timeout=10).topics[topic]
        parts = md.partitions.values()
        if len(parts) == 3 and all(len(p.replicas) == 3 and len(p.isrs) == 3 and p.leader >= 0 for p in parts):
            print(f"created {topic}: {sorted((p.id, p.leader, sorted(p.replicas)) for p in parts)}")
            return
        time.sleep(0.2)
    fail(f"{topic} not fully in sync within 60 s")


def produce(bootstrap, topic, start, end):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 90000,
    })
    errors = []
    acked = [0]

    def done(err, _msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[0] += 1

    for i in range(start, end):
        while True:
            try:
                p.produce(topic, key=str(i), value=str(i), on_delivery=done)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(120)
    if left or errors:
        fail(f"{left} unflushed, errors: {errors[:5]}")
    if acked[0] != end - start:
        fail(f"{acked[0]} of {end - start} acknowledged")
    print(f"produced {start}..{end - 1}, all acknowledged")


def consume(bootstrap, topic, n, group):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    })
    c.subscribe([topic])
    seen, last = set(), {}
    deadline = time.time() + 120
    try:
        while len(seen) < n and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                # A broker of the bootstrap list that is down is reported and skipped.
                print(f"consumer event: {m.error()}", flush=True)
                continue
            v = int(m.value())
            if v in seen:
                fail(f"value {v} read twice")
            if last.get(m.partition(), -1) >= m.offset():
                fail(f"partition {m.partition()} went back to offset {m.offset()}")
            last[m.partition()] = m.offset()
            seen.add(v)
    finally:
        c.close()
    if seen != set(range(n)):
        fail(f"read {len(seen)} of {n} values")
    print(f"group {group} read {n} values once each, partitions {sorted(last)} in order")


def main():
    mode, bootstrap, topic = sys.argv[1:4]
    try:
        if mode == "create":
            create(bootstrap, topic)
        elif mode == "produce":
            produce(bootstrap, topic, int(sys.argv[4]), int(sys.argv[5]))
        elif mode == "consume":
            consume(bootstrap, topic, int(sys.argv[4]), sys.argv[5])
        else:
            fail(f"unknown mode {mode}")
    except KafkaException as e:
        fail(f"{mode}: {e}")


if __name__ == "__main__":
    main()
