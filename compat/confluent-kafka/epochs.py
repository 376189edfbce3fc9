"""Leader epochs (KIP-320) with librdkafka: one consumer outlives broker restarts.

  epochs.py restart BOOTSTRAP BROKK_BIN DATA_DIR
      10 messages at leader epoch 0; the broker restarts (SIGTERM) and its leader epoch
      becomes 2. The running consumer is fenced, refreshes metadata, validates its position
      with OffsetForLeaderEpoch ("offset and epoch validation succeeded" in librdkafka's
      fetch debug log) and goes on: the next 10 messages arrive once each, at epoch 2.
  epochs.py truncation BOOTSTRAP BROKK_BIN DATA_DIR
      5 messages at epoch 0, a clean restart, 3 more at epoch 2, all consumed. A crash then
      loses the epoch-2 messages (the log file is cut back, as a power loss would), and the
      broker comes back at epoch 4. The consumer (auto.offset.reset=error) learns from
      OffsetForLeaderEpoch that epoch 2 ended at offset 5, below its position 8, and reports
      librdkafka's "Partition log truncation detected". New messages at offset 5 are then
      read at epoch 4.

The script runs the broker itself (../lib/brokerproc.py).
"""
import logging
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from brokerproc import BrokerProc  # noqa: E402
from common import check, consumer_conf, create_topic, log, main_wrapper, producer_conf  # noqa: E402


class Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def produce(bootstrap, topic, values):
    p = Producer(producer_conf(bootstrap))
    errors = []
    for v in values:
        p.produce(topic, v.encode(), partition=0, on_delivery=lambda e, m: e and errors.append(e))
    check(p.flush(30) == 0 and not errors, f"produce to {topic}: {errors}")


def consumer(bootstrap, topic, offset, logs, **extra):
    logger = logging.getLogger(f"rdkafka.{topic}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logs)
    c = Consumer(consumer_conf(bootstrap, debug="fetch", logger=logger, **extra))
    c.assign([TopicPartition(topic, 0, offset)])
    return c


def receive(c, n, timeout=60.0):
    """(offset, leader epoch, value) of the next n messages; fails on a consumer error."""
    got, deadline = [], time.time() + timeout
    while len(got) < n:
        check(time.time() < deadline, f"only {len(got)} of {n} messages within {timeout}s: {got}")
        m = c.poll(0.5)
        if m is None:
            continue
        check(m.error() is None, f"consumer error: {m.error()}")
        got.append((m.offset(), m.leader_epoch(), m.value().decode()))
    return got


def restart(bootstrap, binary, data):
    b = BrokerProc(binary, bootstrap, data)
    try:
        b.start()
        create_topic(bootstrap, "e1", 1)
        produce(bootstrap, "e1", [f"a{i}" for i in range(10)])
        logs = Captured()
        c = consumer(bootstrap, "e1", 0, logs)
        got = receive(c, 10)
        check(got == [(i, 0, f"a{i}") for i in range(10)], f"epoch 0 messages: {got}")
        b.stop("TERM")
        b.start()
        produce(bootstrap, "e1", [f"b{i}" for i in range(10)])
        got = receive(c, 10)
        check(got == [(10 + i, 2, f"b{i}") for i in range(10)], f"after the restart: {got}")
        valid = [line for line in logs.lines if "offset and epoch validation succeeded" in line]
        check(valid, "librdkafka never validated its position (no OffsetForLeaderEpoch answer)")
        log(f"   {valid[0]}")
        check(c.poll(1.0) is None, "a duplicate after the restart")
        c.close()
    finally:
        b.close()


def truncation(bootstrap, binary, data):
    b = BrokerProc(binary, bootstrap, data)
    try:
        b.start()
        create_topic(bootstrap, "e2", 1)
        produce(bootstrap, "e2", [f"a{i}" for i in range(5)])
        b.stop("TERM")
        segment = os.path.join(data, "e2-0", "00000000000000000000.log")
        epoch0_bytes = os.path.getsize(segment)
        b.start()
        produce(bootstrap, "e2", [f"b{i}" for i in range(3)])
        logs = Captured()
        c = consumer(bootstrap, "e2", 0, logs, **{"auto.offset.reset": "error"})
        got = receive(c, 8)
        check([(o, e) for o, e, _ in got] == [(i, 0) for i in range(5)] + [(i, 2) for i in range(5, 8)],
              f"before the crash: {got}")
        b.stop("KILL")
        with open(segment, "r+b") as f:
            f.truncate(epoch0_bytes)
        b.start()
        deadline, err = time.time() + 60, None
        while err is None:
            check(time.time() < deadline, "no truncation reported within 60s")
            m = c.poll(0.5)
            check(m is None or m.error() is not None, f"a message from the lost tail's offsets: {m and m.offset()}")
            if m is not None:
                err = m.error()
        check(err.code() == KafkaError._AUTO_OFFSET_RESET and "truncation detected" in str(err),
              f"expected librdkafka's log truncation error, got {err}")
        log(f"   consumer error: {err.str()}")
        produce(bootstrap, "e2", [f"c{i}" for i in range(2)])
        c.assign([TopicPartition("e2", 0, 5)])
        got = receive(c, 2)
        check(got == [(5, 4, "c0"), (6, 4, "c1")], f"after the truncation: {got}")
        c.close()
    finally:
        b.close()


def run():
    mode, bootstrap, binary, data = sys.argv[1:5]
    {"restart": restart, "truncation": truncation}[mode](bootstrap, binary, data)


if __name__ == "__main__":
    main_wrapper(run)
