"""Scenario b, verification side (run after the broker was SIGKILLed and restarted):

* every acknowledged (offset, value) in ACKFILE is present at that exact offset;
* the partition's offsets are contiguous 0..N-1 (no gaps, no duplicates) and the
  values are the producer's stream in order (no duplicate or reordered values);
* a new message gets offset N exactly (no reuse, no gap) and reads back.

usage: crash_verify.py BOOTSTRAP TOPIC ACKFILE MIN_ACKED
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from common import Failure, check, consumer_conf, log, main_wrapper, producer_conf
from crash_producer import value_of


def run():
    bootstrap, topic, ackfile, min_acked = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    acked = {}
    with open(ackfile) as f:
        for lineno, line in enumerate(f, 1):
            check(line.endswith("\n"), f"{ackfile}:{lineno}: torn line {line!r}")
            off_s, val = line.rstrip("\n").split(" ", 1)
            off = int(off_s)
            check(off not in acked, f"offset {off} acknowledged twice ({acked.get(off)!r} and {val!r})")
            acked[off] = val.encode()
    check(len(acked) >= min_acked, f"only {len(acked)} acked messages recorded (< {min_acked})")
    max_acked = max(acked)

    tp = TopicPartition(topic, 0)
    c = Consumer(consumer_conf(bootstrap, **{"fetch.wait.max.ms": 100}))
    md = c.list_topics(topic, timeout=10).topics[topic]
    check(md.error is None and list(md.partitions) == [0], f"{topic} should have exactly 1 partition: {md.error} "
                                                          f"{list(md.partitions)}")
    lo, hi = c.get_watermark_offsets(tp, timeout=10)
    check(lo == 0, f"log start offset {lo} != 0")
    check(hi > max_acked, f"high watermark {hi} <= highest acknowledged offset {max_acked}: acked data lost")
    n = hi

    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    log_vals = []
    deadline = time.time() + 60
    while len(log_vals) < n:
        check(time.time() < deadline, f"timed out reading back: {len(log_vals)}/{n}")
        for m in c.consume(num_messages=10_000, timeout=1.0):
            if m.error():
                raise Failure(f"consume error: {m.error()}")
            if m.offset() != len(log_vals):
                raise Failure(f"offset gap/duplicate: got offset {m.offset()}, expected {len(log_vals)}")
            log_vals.append(m.value())
    extra = [m for m in c.consume(num_messages=10, timeout=0.3) if not m.error()]
    check(not extra, f"messages beyond the high watermark {n}: first at offset {extra[0].offset() if extra else ''}")
    c.close()

    # every acknowledged message at its exact offset
    for off, val in acked.items():
        if off >= n or log_vals[off] != val:
            raise Failure(f"acknowledged offset {off} value {val!r} but log has "
                          f"{log_vals[off] if off < n else 'nothing'!r}")
    # the log is exactly the producer's stream 0..N-1 (no dupes, no reordering, nothing foreign)
    for off, val in enumerate(log_vals):
        if val != value_of(topic, off):
            raise Failure(f"offset {off} holds {val!r}, expected {value_of(topic, off)!r}")
    log(f"  {len(acked)} acknowledged messages all present; log holds contiguous offsets 0..{n - 1}; "
        f"{n - len(acked)} unacknowledged-but-persisted message(s) beyond/between acks")

    # the next message must get offset N exactly
    dr = []
    p = Producer(producer_conf(bootstrap, **{"message.timeout.ms": 15_000}))
    p.produce(topic, value=b"after-crash", key=b"after", on_delivery=lambda e, m: dr.append((e, m)))
    check(p.flush(20) == 0, "post-crash produce not delivered")
    err, m = dr[0]
    check(err is None, f"post-crash produce failed: {err}")
    check(m.offset() == n, f"post-crash produce got offset {m.offset()}, expected {n}")
    c = Consumer(consumer_conf(bootstrap))
    c.assign([TopicPartition(topic, 0, n)])
    got = None
    deadline = time.time() + 15
    while got is None and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got = m
    c.close()
    check(got is not None and got.offset() == n and got.value() == b"after-crash",
          f"post-crash message not read back at offset {n}: {got and (got.offset(), got.value())}")
    log(f"  post-crash produce got offset {n} (no reuse, no gap) and reads back")
    log(f"OK crash verify topic={topic} acked={len(acked)} log_end={n + 1}")


if __name__ == "__main__":
    main_wrapper(run)
