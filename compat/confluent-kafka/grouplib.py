"""Helpers for the consumer-group scenarios (group_*.py).

- Ledger: who owns which partition, fed by every in-process member's rebalance callbacks.
  A partition handed to a member while another member still holds it is recorded as a
  violation (checked by Ledger.check()). With eager protocols a member's revoke callback
  runs before it rejoins, and with cooperative-sticky a partition is only re-assigned in the
  rebalance after its owner revoked it, so against a correct coordinator the ledger never
  sees a partition owned twice.
- Member: one subscribed Consumer with its callbacks, assignment, rebalance events and
  received messages.
- pump(): polls members round-robin (single thread, so callbacks and bookkeeping never race)
  until a predicate holds or a deadline passes.
- produce_batch(): explicit-partition produce with delivery reports -> {(p, off): value}.
"""
import os
import struct
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from common import Failure, check, producer_conf

# librdkafka: committed() / OffsetFetch answer for "no committed offset"
OFFSET_INVALID = -1001


def group_conf(bootstrap, group, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "check.crcs": True,
    }
    if os.environ.get("CK_DEBUG"):  # e.g. CK_DEBUG=cgrp: librdkafka debug log on stderr
        conf["debug"] = os.environ["CK_DEBUG"]
    conf.update(extra)
    return conf


class Ledger:
    def __init__(self):
        self.owner = {}  # (topic, partition) -> member name
        self.violations = []

    def take(self, name, keys):
        for k in keys:
            o = self.owner.get(k)
            if o is not None and o != name:
                self.violations.append(f"{k} assigned to {name} while still owned by {o}")
            self.owner[k] = name

    def release(self, name, keys):
        for k in keys:
            if self.owner.get(k) == name:
                del self.owner[k]

    def check(self):
        check(not self.violations, "partition owned by two members at once: " + "; ".join(self.violations[:5]))


def generation(consumer):
    """The member's current generation id. librdkafka only exposes it inside the opaque
    consumer_group_metadata() blob: b"CGMDv2:" + int32 generation (native byte order) +
    group id + NUL + member id + ..."""
    md = consumer.consumer_group_metadata()
    check(md[:7] == b"CGMDv2:", f"unknown consumer_group_metadata format {md[:16]!r}")
    return struct.unpack("=i", md[7:11])[0]


def keys_of(parts):
    return {(tp.topic, tp.partition) for tp in parts}


class Member:
    """A subscribed consumer. commit_on_revoke: synchronously commit the consumed positions
    in the revoke callback (the usual pattern, so a partition's next owner resumes exactly
    where this one stopped)."""

    def __init__(self, name, conf, topics, ledger=None, commit_on_revoke=True):
        self.name = name
        self.ledger = ledger
        self.commit_on_revoke = commit_on_revoke
        self.assigned = set()
        self.assign_gen = None  # generation at the last assign callback
        self.events = []  # (monotonic time, "assign" | "revoke" | "lost", frozenset of keys)
        self.msgs = []  # (monotonic time, topic, partition, offset, value)
        self.errors = []
        self.revoke_commit_errors = []
        self.closed = False
        self.c = Consumer(conf)
        self.c.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)

    def _on_assign(self, c, parts):
        keys = keys_of(parts)
        self.events.append((time.monotonic(), "assign", frozenset(keys)))
        if self.ledger is not None:
            self.ledger.take(self.name, keys)
        self.assigned |= keys  # incremental (cooperative) or full (eager, after a full revoke)
        self.assign_gen = generation(c)

    def _on_revoke(self, c, parts):
        keys = keys_of(parts)
        self.events.append((time.monotonic(), "revoke", frozenset(keys)))
        if self.commit_on_revoke and keys:
            try:
                res = c.commit(asynchronous=False)
                bad = [tp for tp in (res or []) if tp.error is not None]
                if bad:
                    self.revoke_commit_errors.append(str(bad))
            except KafkaException as e:
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    self.revoke_commit_errors.append(str(e))
        if self.ledger is not None:
            self.ledger.release(self.name, keys)
        self.assigned -= keys

    def _on_lost(self, c, parts):
        keys = keys_of(parts)
        self.events.append((time.monotonic(), "lost", frozenset(keys)))
        if self.ledger is not None:
            self.ledger.release(self.name, keys)
        self.assigned -= keys

    def poll(self, timeout):
        m = self.c.poll(timeout)
        if m is None:
            return None
        if m.error():
            # end-of-partition is off by default; anything else is a real error
            self.errors.append(str(m.error()))
            raise Failure(f"{self.name}: consume error {m.error()}")
        self.msgs.append((time.monotonic(), m.topic(), m.partition(), m.offset(), m.value()))
        return m

    def parts(self, topic=None):
        return {p for (t, p) in self.assigned if topic is None or t == topic}

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()


def _cycle(members, step):
    """One round: drain every open member without blocking; if nobody had anything, block
    up to step seconds in total (split between members) so an idle loop does not spin."""
    live = [m for m in members if not m.closed]
    got = 0
    for m in live:
        for _ in range(1000):
            if m.poll(0) is None:
                break
            got += 1
    if got == 0:
        for m in live:
            if m.poll(step / len(live)) is not None:
                break


def pump(members, until, timeout, what, step=0.02):
    """Poll every open member until until() is true; Failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if until():
            return
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout}s waiting for: {what}")
        _cycle(members, step)


def pump_for(members, seconds, step=0.02):
    """Poll every open member for a fixed window (used only to show that nothing happens)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _cycle(members, step)


def settled(members):
    """Every member has served the assign callback of the generation it is in, and all are in
    the same one. (Both eager and cooperative librdkafka call the assign callback at the end
    of every rebalance, with an empty list if nothing is added.)"""
    gens = {m.assign_gen for m in members}
    return len(gens) == 1 and None not in gens and all(generation(m.c) == m.assign_gen for m in members)


def balanced(members, topic, nparts, per_member):
    """every member holds per_member partitions of topic, disjoint, covering all nparts"""
    seen = []
    for m in members:
        ps = m.parts(topic)
        if len(ps) != per_member:
            return False
        seen += ps
    return sorted(seen) == list(range(nparts))


def produce_batch(bootstrap, topic, nparts, n, tag, producer=None):
    """Produce n messages round-robin over explicit partitions; all must be acked.
    Returns {(partition, offset): value}."""
    p = producer or Producer(producer_conf(bootstrap, **{"linger.ms": 2}))
    acked = {}
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[(msg.partition(), msg.offset())] = msg.value()

    for i in range(n):
        while True:
            try:
                p.produce(topic, value=f"{tag}-{i}".encode(), partition=i % nparts, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    left = p.flush(30)
    check(left == 0 and not errors, f"produce {tag}: {left} unflushed, errors {errors[:3]}")
    check(len(acked) == n, f"produce {tag}: {len(acked)} acked of {n}")
    return acked


def received(members, topic=None, since=0.0):
    """[(partition, offset, value)] over members, for messages received at/after since"""
    out = []
    for m in members:
        out += [(p, o, v) for (ts, t, p, o, v) in m.msgs if ts >= since and (topic is None or t == topic)]
    return out


def check_exactly_once(got, expected, what):
    """got: [(p, off, value)], expected: {(p, off): value}: each expected message exactly once"""
    keys = [(p, o) for (p, o, _) in got]
    dup = len(keys) - len(set(keys))
    missing = set(expected) - set(keys)
    extra = set(keys) - set(expected)
    check(dup == 0, f"{what}: {dup} duplicate deliveries, e.g. "
                    f"{sorted(k for k in set(keys) if keys.count(k) > 1)[:5]}")
    check(not missing, f"{what}: {len(missing)} of {len(expected)} messages never consumed, e.g. {sorted(missing)[:5]}")
    check(not extra, f"{what}: {len(extra)} unexpected messages, e.g. {sorted(extra)[:5]}")
    wrong = [(p, o) for (p, o, v) in got if expected[(p, o)] != v]
    check(not wrong, f"{what}: value mismatch at {wrong[:5]}")


def group_state(admin, group, timeout=10):
    d = admin.describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout=timeout)
    return d


def wait_state(admin, group, state, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        d = group_state(admin, group)
        if d.state.name == state:
            return d
        check(time.monotonic() < deadline, f"group {group} never reached state {state} (last: {d.state.name})")
        time.sleep(0.1)


def admin_client(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def committed(consumer, topic, parts, timeout=10):
    """{partition: (offset, metadata)} from Consumer.committed() (OffsetFetch)"""
    res = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=timeout)
    out = {}
    for tp in res:
        check(tp.error is None, f"committed(): {tp.topic}[{tp.partition}] error {tp.error}")
        out[tp.partition] = (tp.offset, tp.metadata or "")  # librdkafka gives "" as None
    return out
