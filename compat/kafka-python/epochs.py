"""Leader epochs (KIP-320) with kafka-python 3: one consumer outlives broker restarts.

  epochs.py restart BOOTSTRAP BROKK_BIN DATA_DIR
      10 records at leader epoch 0; the broker restarts (SIGTERM) at epoch 2. The running
      consumer is fenced, validates its position with OffsetForLeaderEpoch (kafka-python's
      "Sending OffsetForLeaderEpochRequest" debug line, and no truncation), and reads the next
      10 records once each, at epoch 2. Its fetches carry last_fetched_epoch throughout.
  epochs.py truncation BOOTSTRAP BROKK_BIN DATA_DIR
      5 records at epoch 0, a clean restart, 3 at epoch 2, all consumed; a crash then loses
      the epoch-2 records (the log file is cut back, as a power loss would) and the broker
      comes back at epoch 4. With auto_offset_reset='none', poll() raises LogTruncationError
      naming offset 5 (where epoch 2 ended here). After a seek to 5, new records arrive at
      epoch 4.

The script runs the broker itself (../lib/brokerproc.py).
"""
import logging
import os
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka import errors as Errors
from kafka.admin import NewTopic

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from brokerproc import BrokerProc  # noqa: E402
from common import admin, check, log, main_wrapper, producer  # noqa: E402


class Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def create(bootstrap, topic):
    a = admin(bootstrap)
    a.create_topics([NewTopic(topic, 1, 1)])
    a.close()


def produce(bootstrap, topic, values):
    p = producer(bootstrap)
    for v in values:
        p.send(topic, v.encode(), partition=0)
    p.flush(30)
    p.close()


def consumer(bootstrap, topic, **extra):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, check_crcs=True,
                      bootstrap_timeout_ms=10000, request_timeout_ms=10000, reconnect_backoff_max_ms=500,
                      **extra)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    return c


def receive(c, n, timeout=60.0):
    """(offset, leader epoch, value) of the next n records."""
    got, deadline = [], time.time() + timeout
    while len(got) < n:
        check(time.time() < deadline, f"only {len(got)} of {n} records within {timeout}s: {got}")
        for records in c.poll(timeout_ms=500).values():
            got += [(r.offset, r.leader_epoch, r.value.decode()) for r in records]
    return got


def restart(bootstrap, binary, data):
    logs = Captured()
    fetcher_log = logging.getLogger("kafka.consumer.fetcher")
    fetcher_log.setLevel(logging.DEBUG)
    fetcher_log.addHandler(logs)
    b = BrokerProc(binary, bootstrap, data)
    try:
        b.start()
        create(bootstrap, "e1")
        produce(bootstrap, "e1", [f"a{i}" for i in range(10)])
        c = consumer(bootstrap, "e1")
        got = receive(c, 10)
        check(got == [(i, 0, f"a{i}") for i in range(10)], f"epoch 0 records: {got}")
        b.stop("TERM")
        b.start()
        produce(bootstrap, "e1", [f"b{i}" for i in range(10)])
        got = receive(c, 10)
        check(got == [(10 + i, 2, f"b{i}") for i in range(10)], f"after the restart: {got}")
        asked = [line for line in logs.lines if line.startswith("Sending OffsetForLeaderEpochRequest")]
        check(asked, "kafka-python never validated its position (no OffsetForLeaderEpoch)")
        truncated = [line for line in logs.lines if "Truncation detected" in line or "diverged" in line]
        check(not truncated, f"a truncation reported on a clean restart: {truncated}")
        log(f"   {len(asked)} OffsetForLeaderEpoch request(s): {asked[0][:160]}")
        check(not c.poll(timeout_ms=1000), "a duplicate after the restart")
        c.close()
    finally:
        b.close()


def truncation(bootstrap, binary, data):
    b = BrokerProc(binary, bootstrap, data)
    try:
        b.start()
        create(bootstrap, "e2")
        produce(bootstrap, "e2", [f"a{i}" for i in range(5)])
        b.stop("TERM")
        segment = os.path.join(data, "e2-0", "00000000000000000000.log")
        epoch0_bytes = os.path.getsize(segment)
        b.start()
        produce(bootstrap, "e2", [f"b{i}" for i in range(3)])
        c = consumer(bootstrap, "e2", auto_offset_reset="none")
        got = receive(c, 8)
        check([(o, e) for o, e, _ in got] == [(i, 0) for i in range(5)] + [(i, 2) for i in range(5, 8)],
              f"before the crash: {got}")
        b.stop("KILL")
        with open(segment, "r+b") as f:
            f.truncate(epoch0_bytes)
        b.start()
        deadline, err = time.time() + 60, None
        while err is None:
            check(time.time() < deadline, "no LogTruncationError within 60s")
            try:
                polled = c.poll(timeout_ms=500)
            except Errors.LogTruncationError as e:
                err = e
                continue
            check(not polled, f"records from the lost tail's offsets: {polled}")
        log(f"   poll() raised {type(err).__name__}: {err}")
        check("offset=5," in str(err),
              f"the error should name offset 5 (where epoch 2 ended): {err}")
        produce(bootstrap, "e2", [f"c{i}" for i in range(2)])
        c.seek(TopicPartition("e2", 0), 5)
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
