"""kafka-python against a three-node brokk cluster (same modes as ck.py).

    kp.py create BOOTSTRAP TOPIC
    kp.py produce BOOTSTRAP TOPIC FROM TO
    kp.py consume BOOTSTRAP TOPIC N GROUP
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def create(bootstrap, topic):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=60000)
    admin.create_topics([NewTopic(topic, 3, 3, topic_configs={"min.insync.replicas": "2"})])
    deadline = time.time() + 60
    while time.time() < deadline:
        md = admin.describe_topics([topic])[0]
        # kafka-python names the fields after Kafka's schema (replica_nodes, isr_nodes,
        # leader_id); older releases used replicas, isr, leader.
        parts = [
            (p.get("partition_index", p.get("partition")), p.get("leader_id", p.get("leader", -1)),
             p.get("replica_nodes", p.get("replicas", [])), p.get("isr_nodes", p.get("isr", [])))
            for p in md.get("partitions", [])
        ]
        if len(parts) == 3 and all(len(r) == 3 and len(i) == 3 and l >= 0 for _, l, r, i in parts):
            print(f"created {topic}: {sorted((p, l) for p, l, _, _ in parts)}")
            admin.close()
            return
        time.sleep(0.2)
    fail(f"{topic} not fully in sync within 60 s")


def produce(bootstrap, topic, start, end):
    p = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
        retries=1000,
        request_timeout_ms=10000,
        delivery_timeout_ms=90000,
    )
    futures = [p.send(topic, key=str(i).encode(), value=str(i).encode()) for i in range(start, end)]
    p.flush(timeout=120)
    for i, f in zip(range(start, end), futures):
        try:
            f.get(timeout=1)
        except Exception as e:  # noqa: BLE001 - any failure of an acks=all send fails the test
            fail(f"value {i}: {e!r}")
    p.close()
    print(f"produced {start}..{end - 1}, all acknowledged")


def consume(bootstrap, topic, n, group):
    c = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    seen, last = set(), {}
    deadline = time.time() + 120
    while len(seen) < n and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=1000).items():
            for m in msgs:
                v = int(m.value)
                if v in seen:
                    fail(f"value {v} read twice")
                if last.get(tp.partition, -1) >= m.offset:
                    fail(f"partition {tp.partition} went back to offset {m.offset}")
                last[tp.partition] = m.offset
                seen.add(v)
    c.close()
    if seen != set(range(n)):
        fail(f"read {len(seen)} of {n} values")
    print(f"group {group} read {n} values once each, partitions {sorted(last)} in order")


def main():
    mode, bootstrap, topic = sys.argv[1:4]
    if mode == "create":
        create(bootstrap, topic)
    elif mode == "produce":
        produce(bootstrap, topic, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "consume":
        consume(bootstrap, topic, int(sys.argv[4]), sys.argv[5])
    else:
        fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
