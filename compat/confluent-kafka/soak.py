"""Concurrency soak: 4 producers (acks=all) and 2 long-polling consumers on a 4-partition
topic with 64 KiB segments (many rolls) and flush.ms=5 (background flushes racing the rolls).
Every consumer must see every message exactly once, in offset order per partition.

usage: soak.py BOOTSTRAP MESSAGES_PER_PRODUCER
"""
import sys, threading, time
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
args = sys.argv[1:]
verify_only = args[:1] == ["--verify-only"]
if verify_only:
    args = args[1:]
boot = args[0]; N = int(args[1]); P = 4; PRODUCERS = 4
if not verify_only:
    a = AdminClient({"bootstrap.servers": boot})
    for f in a.create_topics([NewTopic("soak", P, 1, config={"segment.bytes": "65536", "flush.ms": "5"})]).values():
        f.result()
errors = []
def produce(k):
    p = Producer({"bootstrap.servers": boot, "acks": "all", "enable.idempotence": False, "linger.ms": 2})
    def cb(err, msg):
        if err: errors.append(err)
    for i in range(N):
        while True:
            try:
                p.produce("soak", value=b"%d-%d" % (k, i), partition=(i + k) % P, on_delivery=cb); break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(60)
got = {}
def consume(name):
    c = Consumer({"bootstrap.servers": boot, "group.id": "soak-" + name, "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition("soak", i, OFFSET_BEGINNING) for i in range(P)])
    seen = 0; last = {}; deadline = time.time() + 120
    while seen < N * PRODUCERS and time.time() < deadline:
        m = c.poll(0.2)
        if m is None or m.error(): continue
        # Contiguous offsets from 0 in every partition: no loss, no duplicates, in order.
        assert last.get(m.partition(), -1) + 1 == m.offset(), ("gap or reorder", m.partition(), m.offset())
        last[m.partition()] = m.offset(); seen += 1
    got[name] = seen
    c.close()
ts = [] if verify_only else [threading.Thread(target=produce, args=(k,)) for k in range(PRODUCERS)]
consumers = ("v",) if verify_only else ("a", "b")
ts += [threading.Thread(target=consume, args=(n,)) for n in consumers]
t0 = time.time()
[t.start() for t in ts]; [t.join() for t in ts]
print("soak: errors", len(errors), "consumed", got, "expected", N * PRODUCERS, "in %.1fs" % (time.time() - t0))
# A consumer thread that failed an assertion never records its count.
assert not errors and set(got) == set(consumers) and all(v == N * PRODUCERS for v in got.values()), "soak failed"
