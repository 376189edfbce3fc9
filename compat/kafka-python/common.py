"""Shared helpers for the kafka-python compat scripts (kafka-python 3.0.x, pure Python)."""
import os
import queue
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

if os.environ.get("KP_LOG"):   # e.g. KP_LOG=DEBUG: kafka-python's own log on stderr
    import logging
    logging.basicConfig(level=os.environ["KP_LOG"],
                        format="%(relativeCreated)7d %(threadName)s %(name)s %(message)s")

# Short sessions and heartbeats so rebalances are quick; the broker runs with
# group.min.session.timeout.ms=1000 (Kafka's default minimum is 6000).
SESSION_MS = 3000
HEARTBEAT_MS = 300
# consumer.poll() timeout of the Member threads. kafka-python 3.0.12 sometimes hangs a member
# for good when poll() times out while its JoinGroup/SyncGroup is in flight (FINDINGS.md,
# finding 1): with 50 ms 6 joins in 50 hung; with 1000 ms none in 30. POLL_MS=50 repeats it.
POLL_MS = int(os.environ.get("POLL_MS", "1000"))


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def log(*a):
    print(*a, flush=True)


def consumer_conf(bootstrap, group, **extra):
    # api_version is left to auto-detection (ApiVersions).
    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,   # the scripts commit explicitly
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
        check_crcs=True,
        allow_auto_create_topics=False,
        bootstrap_timeout_ms=10000,
        request_timeout_ms=10000,
    )
    conf.update(extra)
    return conf


def producer(bootstrap, **extra):
    # kafka-python 3.x's default: idempotent (KIP-679; InitProducerId, acks=all).
    conf = dict(bootstrap_servers=bootstrap, acks="all", linger_ms=5, bootstrap_timeout_ms=10000)
    conf.update(extra)
    return KafkaProducer(**conf)


def admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10000,
                            request_timeout_ms=10000)


def create_topic(adm, topic, partitions, topic_configs=None):
    spec = {"num_partitions": partitions, "replication_factor": 1}
    if topic_configs:
        spec["configs"] = topic_configs
    r = adm.create_topics({topic: spec}, wait_for_metadata=True)
    t = r["topics"][0]
    check(t["error_code"] == 0 and t["num_partitions"] == partitions,
          f"CreateTopics({topic}, {partitions}): {t}")


def produce(prod, topic, values, partition=None, key_fn=None):
    """Send values (bytes); return [(partition, offset)] in send order, all acked."""
    futs = [prod.send(topic, value=v, key=key_fn(i) if key_fn else None, partition=partition)
            for i, v in enumerate(values)]
    prod.flush(timeout=30)
    out = []
    for f in futs:
        md = f.get(timeout=30)
        out.append((md.partition, md.offset))
    return out


def wait_until(cond, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Member(threading.Thread):
    """A KafkaConsumer subscribed to topics, polled in its own thread (only this thread touches
    the consumer). It records every message with its current assignment at that moment, and
    runs commands (commit, close) between polls."""

    def __init__(self, name, bootstrap, group, topics, **extra):
        super().__init__(name=name, daemon=True)
        self.consumer = KafkaConsumer(**consumer_conf(bootstrap, group, **extra))
        self.topics = topics
        self.lock = threading.Lock()
        self.records = []             # (partition, offset, value, monotonic time, assignment)
        self.assignment = frozenset()  # partition numbers, after the last poll
        self.cmds = queue.Queue()
        self.error = None
        self.closed = threading.Event()
        self.start()

    def run(self):
        c = self.consumer
        try:
            c.subscribe(self.topics)
            while True:
                try:
                    fn, reply = self.cmds.get_nowait()
                except queue.Empty:
                    pass
                else:
                    try:
                        reply.put((True, fn(c)))
                    except Exception as e:  # handed to the caller
                        reply.put((False, e))
                    if self.closed.is_set():
                        return
                    continue
                polled = c.poll(timeout_ms=POLL_MS)
                now = time.monotonic()
                with self.lock:
                    self.assignment = frozenset(tp.partition for tp in c.assignment())
                    for tp, recs in polled.items():
                        for r in recs:
                            self.records.append((r.partition, r.offset, r.value, now, self.assignment))
        except Exception as e:
            self.error = e
            self.closed.set()

    def call(self, fn, timeout=30):
        """Run fn(consumer) in the member's thread between polls; return its result."""
        check(self.error is None, f"member {self.name} failed: {self.error!r}")
        reply = queue.Queue()
        self.cmds.put((fn, reply))
        try:
            ok, res = reply.get(timeout=timeout)
        except queue.Empty:
            raise Failure(f"member {self.name}: command not done within {timeout}s")
        if not ok:
            raise res
        return res

    def close(self, timeout=30):
        """consumer.close(autocommit=False): LeaveGroup. The thread ends. t_close: when the
        member's thread called close() (monotonic)."""
        def do(c):
            self.closed.set()
            self.t_close = time.monotonic()
            c.close(autocommit=False)
        self.call(do, timeout)
        self.join(timeout)

    def snapshot(self):
        check(self.error is None, f"member {self.name} failed: {self.error!r}")
        with self.lock:
            return list(self.records), self.assignment


def main_wrapper(fn):
    try:
        fn()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
