"""Idempotent produce with kafka-python 3.x's default KafkaProducer (enable_idempotence=True,
acks=all, retries unlimited, max_in_flight 5: nothing about idempotence is configured).

    idempotent.py plain BOOTSTRAP N DATA_DIR
        Creates kp-idem (3 partitions) and sends N keyed messages straight to brokk.
    idempotent.py chaos-produce BROKER PROXY_PORT N OUT_JSON [KILL_KB]
        The broker advertises 127.0.0.1:PROXY_PORT, where ../lib/idem_proxy.py runs (started
        here) and kills connections after KILL_KB (MIN-MAX, default 100-1000) of Produce
        traffic, most of them after the broker answered (the answer is swallowed). Creates
        kp-idem-chaos (3 partitions) through it and sends N keyed messages. Writes the
        acknowledgements and the proxy's counts to OUT_JSON.
    idempotent.py chaos-verify BROKER OUT_JSON DATA_DIR
        (after a restart without the proxy) the read-back and on-disk checks below.

Checks:
* idempotence is on and the producer got a producer id from InitProducerId (epoch 0), and
  kept it;
* every send succeeds, and in each partition the offsets in production order are exactly
  0..n-1;
* chaos: the proxy swallowed at least one successful Produce answer; every batch whose
  answer was swallowed was sent again and answered with its original offset; no retry was
  answered with another offset; no Produce error;
* a consumer reads every message exactly once, in production order per partition, with the
  key and value sent;
* on disk (DATA_DIR) every batch carries that producer id and epoch 0, and its base
  sequence equals its base offset (no gap, no duplicate batch).
"""
import json
import os
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common import Failure, admin, check, create_topic, log, main_wrapper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from disk_batches import check_one_producer  # noqa: E402
from idem_proxy import ProxyProc  # noqa: E402

P = 3


def key_of(i):
    return b"k%02d" % (i % 64)


def value_of(i):
    return b"kp-idem-%07d|" % i + b"." * 80


def produce(bootstrap, topic, n, **extra):
    """Sends n messages with a default KafkaProducer; returns (where, producer id, epoch)."""
    adm = admin(bootstrap)
    create_topic(adm, topic, P)
    adm.close()
    # Only connection settings: everything about idempotence is kafka-python's default.
    prod = KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10000, **extra)
    check(prod.config["enable_idempotence"] is True, f"idempotence is off: {prod.config['enable_idempotence']}")
    check(prod.config["acks"] == -1, f"acks={prod.config['acks']}")
    t0 = time.monotonic()
    futs = [prod.send(topic, key=key_of(i), value=value_of(i)) for i in range(n)]
    prod.flush(timeout=90)
    where = []
    for i, f in enumerate(futs):
        try:
            md = f.get(timeout=30)
        except Exception as e:  # a failed send
            raise Failure(f"send {i} failed: {e!r}")
        where.append((md.partition, md.offset))
    elapsed = time.monotonic() - t0
    pe = prod._transaction_manager.producer_id_and_epoch  # no public accessor in kafka-python 3.0
    pid, epoch = pe.producer_id, pe.epoch
    prod.close(timeout=10)
    check(pid >= 0 and epoch == 0, f"producer id {pid} epoch {epoch}: no producer id from InitProducerId")
    layout = layout_of(where)
    log(f"   producer id {pid} epoch {epoch}: {n} sends acknowledged in {elapsed:.1f}s, per-partition offsets "
        f"0..n-1 in production order ({', '.join(str(len(layout[p])) for p in range(P))})")
    return where, pid, epoch


def layout_of(where):
    """{partition: [message index in production order]}, checked: offsets exactly 0..n-1."""
    layout = {p: [] for p in range(P)}
    for i, (p, _off) in enumerate(where):
        layout[p].append(i)
    for p, idx in layout.items():
        check(idx, f"partition {p} got no messages")
        offs = [where[i][1] for i in idx]
        if offs != list(range(len(idx))):
            k, o = next((k, o) for k, o in enumerate(offs) if o != k)
            raise Failure(f"partition {p}: offsets in production order are not 0..{len(idx) - 1}: "
                          f"message {idx[k]} (#{k} of the partition) got offset {o}")
    return layout


def verify(bootstrap, topic, where, pid, epoch, data_dir):
    n = len(where)
    layout = layout_of(where)
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, check_crcs=True,
                      auto_offset_reset="earliest", bootstrap_timeout_ms=10000, request_timeout_ms=10000)
    tps = [TopicPartition(topic, p) for p in range(P)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = {p: [] for p in range(P)}
    deadline = time.monotonic() + 60
    total = 0
    while total < n:
        check(time.monotonic() < deadline, f"read back only {total}/{n} in 60s")
        for tp, recs in c.poll(timeout_ms=500).items():
            for r in recs:
                got[tp.partition].append((r.offset, r.key, r.value))
                total += 1
    extra = sum(len(v) for v in c.poll(timeout_ms=300).values())
    end = c.end_offsets(tps)
    c.close()
    check(extra == 0, f"{extra} messages beyond the {n} produced")
    for p, idx in layout.items():
        e = end[TopicPartition(topic, p)]
        check(e == len(idx), f"partition {p}: end offset {e}, {len(idx)} produced")
        exp = [(k, key_of(i), value_of(i)) for k, i in enumerate(idx)]
        if got[p] != exp:
            bad = next(k for k in range(len(exp)) if k >= len(got[p]) or got[p][k] != exp[k])
            raise Failure(f"partition {p}: record #{bad} is {got[p][bad] if bad < len(got[p]) else None}, "
                          f"expected {exp[bad]} ({len(got[p])} read, {len(exp)} produced)")
    nb = 0
    for p in range(P):
        try:
            bpid, bepoch, k = check_one_producer(data_dir, topic, p)
        except ValueError as e:
            raise Failure(f"on disk: {e}")
        check((bpid, bepoch) == (pid, epoch), f"partition {p}: batches by producer {bpid} epoch {bepoch}, "
                                             f"the producer had {pid} epoch {epoch}")
        nb += k
    log(f"   read back exactly once in production order; {nb} batches on disk, all producer {pid} epoch 0 "
        f"with base sequence == base offset")


def describe_producers(bootstrap, topic, where, pid, epoch):
    """DescribeProducers (KafkaAdminClient.describe_producers): each partition reports the
    producer with its epoch, no open transaction, and the last sequence it wrote (its
    record count there minus one, as sequences start at 0 and the run had no epoch bump)."""
    from kafka import KafkaAdminClient
    layout = layout_of(where)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        states = admin.describe_producers([TopicPartition(topic, p) for p in range(P)])
    finally:
        admin.close()
    for p, idx in layout.items():
        active = states[TopicPartition(topic, p)].active_producers
        mine = [s for s in active if s.producer_id == pid]
        check(len(mine) == 1, f"partition {p}: describe_producers lists {active}, not producer {pid}")
        s = mine[0]
        check((s.producer_epoch, s.last_sequence, s.current_transaction_start_offset) == (epoch, len(idx) - 1, -1),
              f"partition {p}: {s}, expected epoch {epoch}, last sequence {len(idx) - 1}, no transaction")
    log(f"   describe_producers: producer {pid} epoch {epoch} on all {P} partitions, last sequences match")


def chaos_produce(broker, proxy_port, n, out, kill_kb):
    proxy = ProxyProc(proxy_port, broker, "--kill-kb", kill_kb, error=Failure)
    try:
        where, pid, epoch = produce(f"127.0.0.1:{proxy_port}", "kp-idem-chaos", n, reconnect_backoff_max_ms=100)
        px = proxy.stats()
    finally:
        proxy.close()
    with open(out, "w") as f:
        json.dump({"where": where, "pid": pid, "epoch": epoch, "proxy": px}, f)
    log("   proxy: " + ", ".join(f"{k}={px.get(k, 0)}" for k in (
        "connections", "kills_response", "kills_cut", "produce_requests", "batches_sent", "batches_resent",
        "swallowed_batches", "swallowed_batches_deduplicated", "duplicates_answered_with_original_offset",
        "produce_unanswered", "error_codes")))
    check(px["n_violations"] == 0, f"proxy saw {px['n_violations']} violations: {px['violations']}")
    check(not px["error_codes"], f"Produce answers with errors: {px['error_codes']}")
    check(px["swallowed_batches"] >= 1, "no successful Produce answer was swallowed: no duplicate was forced")
    check(px["swallowed_batches_deduplicated"] == px["swallowed_batches"],
          f"{px['swallowed_batches']} appended batches lost their answer but only "
          f"{px['swallowed_batches_deduplicated']} were retried and answered as duplicates")


def main():
    cmd = sys.argv[1]
    if cmd == "plain":
        bootstrap, n, data_dir = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        where, pid, epoch = produce(bootstrap, "kp-idem", n)
        verify(bootstrap, "kp-idem", where, pid, epoch, data_dir)
        describe_producers(bootstrap, "kp-idem", where, pid, epoch)
    elif cmd == "chaos-produce":
        chaos_produce(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
                      sys.argv[6] if len(sys.argv) > 6 else "100-1000")
    elif cmd == "chaos-verify":
        with open(sys.argv[3]) as f:
            d = json.load(f)
        verify(sys.argv[2], "kp-idem-chaos", [tuple(w) for w in d["where"]], d["pid"], d["epoch"], sys.argv[4])
    else:
        raise Failure(f"unknown command {cmd}")


if __name__ == "__main__":
    main_wrapper(main)
