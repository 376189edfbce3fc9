"""Helpers for the transactional-producer scenarios (txn_*.py):

* txn_producer(): a Producer with a transactional.id;
* Timings: how long init_transactions / commit_transaction / ... took (reported);
* read_all(): everything a consumer with a given isolation.level reads from a topic, from
  the start until its position reaches the high watermark of every partition (a
  read_committed consumer gets there only once no transaction is open: the aborted records
  and the control records are skipped, and the position moves past them);
* watermarks() / lso(): the high watermark (read_uncommitted) and the last stable offset (a
  read_committed consumer's ListOffsets answer);
* fenced(): is a KafkaError the fatal "this producer was fenced" kind.
"""
import statistics
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from common import Failure, check, consumer_conf, log

# librdkafka: position() of a partition nothing was consumed from yet
OFFSET_INVALID = -1001

FENCED_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


def txn_producer(bootstrap, txid, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txid, "linger.ms": 5}
    conf.update(extra)
    return Producer(conf)


def fenced(err):
    """err (a KafkaError): fatal, and one of the 'fenced by a newer producer' codes"""
    return err is not None and err.fatal() and err.code() in FENCED_CODES


class Timings:
    """Wall time of each producer call, by name; summary() for the log."""

    def __init__(self):
        self.t = {}

    def run(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.t.setdefault(name, []).append(time.monotonic() - t0)

    def summary(self):
        out = []
        for name, ts in self.t.items():
            ms = sorted(x * 1000 for x in ts)
            if len(ms) == 1:
                out.append(f"{name} {ms[0]:.1f}ms")
            else:
                out.append(f"{name} x{len(ms)} median {statistics.median(ms):.1f}ms max {ms[-1]:.1f}ms")
        return ", ".join(out)


def _consumer(bootstrap, isolation, **extra):
    # No enable.partition.eof: librdkafka 2.12's consume() (the batch call) moves position()
    # one past the end when it hands out a _PARTITION_EOF event (poll() does not); see
    # FINDINGS.md. read_all() goes by position() alone.
    return Consumer(consumer_conf(bootstrap, **{"isolation.level": isolation, "fetch.wait.max.ms": 100, **extra}))


def watermarks(bootstrap, topic, nparts, isolation="read_uncommitted"):
    """{partition: high offset}: the high watermark, or with read_committed the last stable
    offset (librdkafka's ListOffsets carries the consumer's isolation level)."""
    c = _consumer(bootstrap, isolation)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(nparts)}
    finally:
        c.close()


def lso(bootstrap, topic, nparts):
    return watermarks(bootstrap, topic, nparts, "read_committed")


def read_all(bootstrap, topic, nparts, isolation, timeout=30, what=None, forbidden=None):
    """{partition: [(offset, key, value)]}: everything the consumer reads from the start
    until its position is the high watermark of each partition (nothing may be producing;
    the high watermark is read again when the position reaches or passes it, as a Kafka
    broker may still be writing the markers of just-ended transactions). Failure after
    timeout seconds, e.g. a read_committed consumer held back by an open transaction.
    forbidden(value) -> True: fail at once if such a record is ever returned (e.g. one of
    an open transaction)."""
    hw = watermarks(bootstrap, topic, nparts)
    c = _consumer(bootstrap, isolation)
    tps = [TopicPartition(topic, p) for p in range(nparts)]
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
    got = {p: [] for p in range(nparts)}
    deadline = time.monotonic() + timeout
    what = what or f"{isolation} read of {topic}"
    try:
        while True:
            for m in c.consume(num_messages=1000, timeout=0.2):
                if m.error():
                    raise Failure(f"{what}: consume error {m.error()}")
                if forbidden is not None and forbidden(m.value()):
                    raise Failure(f"{what}: returned {m.value()!r} at {topic}/{m.partition()} offset {m.offset()}")
                got[m.partition()].append((m.offset(), m.key(), m.value()))
            pos = {tp.partition: tp.offset for tp in c.position(tps)}
            at_end = all(pos[p] == hw[p] or (hw[p] == 0 and pos[p] == OFFSET_INVALID) for p in range(nparts))
            if at_end or any(pos[p] > hw[p] for p in range(nparts)):
                # Kafka may write the markers after commit/abort_transaction returned: the
                # high watermark may have moved since it was read
                hw = watermarks(bootstrap, topic, nparts)
                if at_end and pos == {p: hw[p] if hw[p] else pos[p] for p in range(nparts)}:
                    break
                check(all(pos[p] <= hw[p] for p in range(nparts)),
                      f"{what}: position {pos} past the high watermarks {hw}")
            if time.monotonic() > deadline:
                raise Failure(f"{what}: position {pos} did not reach the high watermarks {hw} within {timeout}s "
                              f"(last stable offsets {lso(bootstrap, topic, nparts)})")
        extra = [m for m in c.consume(num_messages=10, timeout=0.3) if not m.error()]
        check(not extra, f"{what}: records beyond the high watermarks {hw}: {[m.value() for m in extra]}")
    finally:
        c.close()
    return got


def read_window(bootstrap, topic, nparts, isolation, seconds):
    """[(partition, offset, value)] a consumer reads from the start within a fixed window:
    only for showing that nothing is readable (a negative check has to wait somewhat)."""
    c = _consumer(bootstrap, isolation)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
    out = []
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for m in c.consume(num_messages=1000, timeout=0.1):
                check(m.error() is None, f"{isolation} read of {topic}: consume error {m.error()}")
                out.append((m.partition(), m.offset(), m.value()))
    finally:
        c.close()
    return out


def values(got):
    """[(partition, offset, value)] of a read_all() result"""
    return [(p, o, v) for p, recs in got.items() for (o, _k, v) in recs]


def produce_txn(producer, timings, topic, vals, commit=True):
    """One transaction: vals (list of (partition, bytes)), each delivery checked; all
    delivered (flush) before the commit or abort. Returns {partition: [offsets]}."""
    done = {}
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            done.setdefault(msg.partition(), []).append(msg.offset())

    timings.run("begin_transaction", producer.begin_transaction)
    for p, v in vals:
        producer.produce(topic, value=v, partition=p, on_delivery=dr)
    left = producer.flush(10)
    check(left == 0 and not errors, f"transactional produce to {topic}: {left} unflushed, errors {errors[:3]}")
    if commit:
        timings.run("commit_transaction", producer.commit_transaction, 10)
    else:
        timings.run("abort_transaction", producer.abort_transaction, 10)
    return done


def expect_exactly(got, expected, what):
    """got: [(partition, offset, value)]; expected: [(partition, value)] as a multiset, per
    partition in this order"""
    by_p = {}
    for p, _o, v in got:
        by_p.setdefault(p, []).append(v)
    want = {}
    for p, v in expected:
        want.setdefault(p, []).append(v)
    for p in sorted(set(by_p) | set(want)):
        g, w = by_p.get(p, []), want.get(p, [])
        if g != w:
            extra = [v for v in g if v not in w]
            missing = [v for v in w if v not in g]
            raise Failure(f"{what}, partition {p}: {len(g)} records, expected {len(w)}; unexpected {extra[:5]}, "
                          f"missing {missing[:5]}" + ("" if extra or missing else f"; order {g[:5]} vs {w[:5]}"))


def show(label, text):
    log(f"   {label}: {text}")
