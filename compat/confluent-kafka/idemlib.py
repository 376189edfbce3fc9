"""Helpers for the idempotent-producer scenarios (idem_chaos.py, idem_restart.py):

* ProxyProc: runs ../lib/idem_proxy.py as a child process (dies with this one) and talks to it;
* RdStats: keeps librdkafka's latest statistics (retries, reconnects, producer id/epoch);
* message format: message i has key k<i % KEYS> and a value starting with i (9 digits), so
  the producer's order is known from the value alone;
* Deliveries: delivery reports per message, checked for exact per-partition offsets;
* read_back: every message of a topic straight from the broker, checked against the
  delivery reports (each message once, per-partition production order);
* check_disk_sequences / read_snapshots: the record batch headers (producer id, epoch, base
  sequence, via ../lib/disk_batches.py) and the producer-state .snapshot files in brokk's
  data dir.
"""
import glob
import json
import os
import struct
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from common import Failure, check, consumer_conf, log

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from disk_batches import batches as disk_batches, check_one_producer  # noqa: E402
from idem_proxy import ProxyProc as _ProxyProc  # noqa: E402

KEYS = 64


def key_of(i):
    return b"k%02d" % (i % KEYS)


def value_of(topic, i):
    return f"{i:09d}|{topic}|{i % KEYS}|".ljust(100, ".").encode()


def index_of(value):
    return int(value[:9])


def ProxyProc(port, target, *args):
    return _ProxyProc(port, target, *args, error=Failure)


class RdStats:
    """stats_cb target (statistics.interval.ms): keeps the latest librdkafka statistics."""

    def __init__(self):
        self.latest = None
        self.count = 0
        self.pids = set()  # every (producer_id, epoch) the statistics showed

    def __call__(self, js):
        self.latest = json.loads(js)
        self.count += 1
        eos = self.latest.get("eos") or {}
        if eos.get("producer_id", -1) >= 0:
            self.pids.add((eos["producer_id"], eos["producer_epoch"]))

    def fresh(self, producer, timeout=5):
        """Wait for the next statistics callback (served by producer.poll())."""
        n = self.count
        deadline = time.monotonic() + timeout
        while self.count == n:
            check(time.monotonic() < deadline, "no librdkafka statistics within 5s")
            producer.poll(0.05)
        return self.summary()

    def summary(self):
        s = self.latest or {}
        brokers = [b for b in (s.get("brokers") or {}).values() if b.get("nodeid", -1) >= 0]
        eos = s.get("eos") or {}
        return {
            "producer_id": eos.get("producer_id"),
            "producer_epoch": eos.get("producer_epoch"),
            "epoch_cnt": eos.get("epoch_cnt"),
            "idemp_state": eos.get("idemp_state"),
            "txretries": sum(b.get("txretries", 0) for b in brokers),
            "connects": sum(b.get("connects", 0) for b in brokers),
            "disconnects": sum(b.get("disconnects", 0) for b in brokers),
            "txmsgs": s.get("txmsgs"),
            "pids_seen": sorted(self.pids),
        }


class Deliveries:
    """on_delivery target: (partition, offset) or the error, per message index."""

    def __init__(self, n):
        self.part = [-1] * n
        self.off = [-1] * n
        self.errors = []
        self.acked = 0

    def __call__(self, err, msg):
        i = index_of(msg.value())
        if err is not None:
            self.errors.append((i, str(err)))
            return
        check(self.part[i] == -1, f"message {i} delivered twice")  # raised in poll()
        self.part[i], self.off[i] = msg.partition(), msg.offset()
        self.acked += 1

    def check_exact(self, nparts):
        """Every message delivered once; in each partition the offsets in production order
        are exactly 0..n_p-1. Returns {partition: [message index in offset order]}."""
        check(not self.errors, f"{len(self.errors)} delivery errors, e.g. {self.errors[:3]}")
        missing = [i for i, p in enumerate(self.part) if p < 0]
        check(not missing, f"{len(missing)} messages without a delivery report, e.g. {missing[:5]}")
        layout = {p: [] for p in range(nparts)}
        for i, p in enumerate(self.part):
            layout[p].append(i)
        for p, idx in layout.items():
            check(idx, f"partition {p} got no messages")
            offs = [self.off[i] for i in idx]
            if offs != list(range(len(idx))):
                bad = next(k for k, o in enumerate(offs) if o != k)
                raise Failure(f"partition {p}: in production order the delivered offsets are not 0..{len(idx) - 1}: "
                              f"message {idx[bad]} (#{bad} of the partition) got offset {offs[bad]}")
        return layout

    def to_json(self):
        return {"part": self.part, "off": self.off, "errors": self.errors}


def read_back(bootstrap, topic, nparts, timeout=60):
    """{partition: [(offset, key, value)]} of everything in the topic, read from the start to
    the high watermark (checked: log start 0, nothing past the high watermark)."""
    c = Consumer(consumer_conf(bootstrap, **{"fetch.wait.max.ms": 100}))
    md = c.list_topics(topic, timeout=10).topics[topic]
    check(md.error is None and sorted(md.partitions) == list(range(nparts)),
          f"{topic}: expected partitions 0..{nparts - 1}: {md.error} {sorted(md.partitions)}")
    hw = {}
    for p in range(nparts):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        check(lo == 0, f"{topic}/{p}: log start offset {lo} != 0")
        hw[p] = hi
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
    got = {p: [] for p in range(nparts)}
    total = sum(hw.values())
    n = 0
    deadline = time.monotonic() + timeout
    while n < total:
        check(time.monotonic() < deadline, f"timed out reading back {topic}: {n}/{total}")
        for m in c.consume(num_messages=10_000, timeout=0.5):
            if m.error():
                raise Failure(f"consume error: {m.error()}")
            got[m.partition()].append((m.offset(), m.key(), m.value()))
            n += 1
    extra = [m for m in c.consume(num_messages=10, timeout=0.3) if not m.error()]
    check(not extra, f"{topic}: messages beyond the high watermarks {hw}")
    c.close()
    for p, recs in got.items():
        offs = [o for o, _, _ in recs]
        check(offs == list(range(hw[p])), f"{topic}/{p}: offsets are not contiguous 0..{hw[p] - 1}")
    return got


def check_log_exact(got, topic, layout):
    """The log of each partition is exactly the delivered messages in production order."""
    for p, idx in layout.items():
        recs = got[p]
        if len(recs) != len(idx):
            seen = [index_of(v) for _, _, v in recs]
            dups = len(seen) - len(set(seen))
            raise Failure(f"{topic}/{p}: log holds {len(recs)} messages, {len(idx)} were delivered "
                          f"({dups} duplicate values)")
        for (off, k, v), i in zip(recs, idx):
            if v != value_of(topic, i) or k != key_of(i):
                raise Failure(f"{topic}/{p} offset {off}: holds {v[:30]!r} key {k!r}, expected message {i}")


def check_disk_sequences(data_dir, topic, nparts, pid, epoch=0):
    """Every batch was written by producer (pid, epoch) and, as the topic has that one
    producer, its base sequence equals its base offset: no gap, no duplicate batch, no epoch
    bump. Returns the number of batches."""
    n = 0
    for p in range(nparts):
        try:
            got = check_one_producer(data_dir, topic, p)
        except ValueError as e:
            raise Failure(f"on disk: {e}")
        check(got[:2] == (pid, epoch), f"{topic}/{p}: batches by producer {got[0]} epoch {got[1]}, "
                                       f"expected {pid} epoch {epoch}")
        n += got[2]
    return n


def read_snapshots(data_dir, topic, partition):
    """{snapshot offset: {producer_id: (epoch, last_seq, last_offset, offset_delta)}} from the
    partition's <offset>.snapshot files (Kafka's format, version 1; CRC32C not recomputed)."""
    out = {}
    for f in sorted(glob.glob(os.path.join(data_dir, f"{glob.escape(topic)}-{partition}", "*.snapshot"))):
        b = open(f, "rb").read()
        version, _crc, count = struct.unpack_from(">hIi", b, 0)
        check(version == 1, f"{f}: snapshot version {version}")
        entries = {}
        pos = 10
        for _ in range(count):
            pid, epoch, last_seq, last_off, delta, _ts, _ce, _txn = struct.unpack_from(">qhiqiqiq", b, pos)
            entries[pid] = (epoch, last_seq, last_off, delta)
            pos += 46
        check(pos == len(b), f"{f}: {len(b) - pos} trailing bytes after {count} entries")
        out[int(os.path.basename(f).split(".")[0])] = entries
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def show(label, d):
    log(f"   {label}: " + ", ".join(f"{k}={v}" for k, v in d.items()))
