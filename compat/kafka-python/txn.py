"""Transactions with kafka-python 3.0.x (KafkaProducer(transactional_id=...), KafkaConsumer
isolation_level='read_committed', KafkaAdminClient list/describe_transactions,
describe_producers).

    txn.py eos BOOTSTRAP N
        consume-transform-produce: N inputs (non-transactional, kp-txn-in, 2 partitions); a
        KafkaConsumer (group kp-txn-group, subscribed, read_committed, no auto-commit) and a
        transactional KafkaProducer (transactional_id kp-txn) loop: poll a batch, begin, send
        one output per input to kp-txn-out (same partition), send_offsets_to_transaction(
        positions, consumer.group_metadata()), commit; every 3rd transaction is flushed and
        aborted instead, and the consumer seeks back to the committed offsets.
        Checks:
        * while the first transaction is open (flushed, not committed): list_transactions
          lists kp-txn as Ongoing; describe_transactions gives the producer's id, epoch and
          timeout, and its partitions (the output partitions written and the
          __consumer_offsets partition of the group); describe_producers shows the open
          transaction's first offset on each output partition; the consumer's
          end_offsets() under read_committed (the last stable offset) stops there;
        * committed() (OffsetFetch, require_stable) after each commit = the positions sent,
          after each abort = unchanged;
        * at the end: a read_committed consumer reads each input exactly once, in order, from
          committed transactions only; a read_uncommitted one also the aborted attempts; the
          group's offsets (list_group_offsets) = the input end offsets; kp-txn is listed as
          CompleteCommit.
    txn.py fence BOOTSTRAP
        producer A (transactional_id kp-fence) begins and sends 5 records (acked); producer
        B with the same id init_transactions()s; A's commit_transaction raises
        ProducerFencedError (or InvalidProducerEpochError); B commits 5 records;
        read_committed reads only B's, read_uncommitted A's and B's.
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka import errors as Errors
from kafka.admin import TransactionState

from common import Failure, admin, check, consumer_conf, create_topic, log, main_wrapper, produce, wait_until

P = 2
IN, OUT, GROUP, TXID = "kp-txn-in", "kp-txn-out", "kp-txn-group", "kp-txn"


def txn_producer(bootstrap, txid, **extra):
    return KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txid, linger_ms=5,
                         bootstrap_timeout_ms=10000, **extra)


class Timings:
    def __init__(self):
        self.t = {}

    def run(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.t.setdefault(name, []).append((time.monotonic() - t0) * 1000)

    def summary(self):
        return ", ".join(f"{k} x{len(v)} median {sorted(v)[len(v) // 2]:.1f}ms max {max(v):.1f}ms"
                         for k, v in self.t.items())


def read_all(bootstrap, topic, isolation, nparts=P, timeout=30):
    """[(partition, offset, value)] from the start until the position of every partition is
    its end offset (read_uncommitted's: the high watermark). A read_committed consumer gets
    there only when no transaction is open."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                      auto_offset_reset="earliest", check_crcs=True, bootstrap_timeout_ms=10000,
                      request_timeout_ms=10000, fetch_max_wait_ms=100)
    # the high watermarks: read_uncommitted end_offsets (read_committed ones are the LSOs)
    hwc = c if isolation == "read_uncommitted" else \
        KafkaConsumer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10000, request_timeout_ms=10000)
    tps = [TopicPartition(topic, p) for p in range(nparts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    out = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for tp, recs in c.poll(timeout_ms=200).items():
                out += [(tp.partition, r.offset, r.value) for r in recs]
            # markers of just-ended transactions may still be coming: read the end each time
            hw = hwc.end_offsets(tps)
            pos = {tp: c.position(tp) for tp in tps}
            if pos == hw:
                break
            check(time.monotonic() < deadline, f"{isolation} read of {topic}: positions {pos} did not reach "
                                               f"the high watermarks {hw} in {timeout}s")
        extra = sum(len(v) for v in c.poll(timeout_ms=300).values())
        check(extra == 0, f"{isolation} read of {topic}: {extra} records beyond the high watermarks")
    finally:
        c.close()
        if hwc is not c:
            hwc.close()
    return out


def committed(c):
    return {p: c.committed(TopicPartition(IN, p)) for p in range(P)}


def eos(bootstrap, n):
    adm = admin(bootstrap)
    create_topic(adm, IN, P)
    create_topic(adm, OUT, P)
    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, bootstrap_timeout_ms=10000)
    inputs = {}  # (partition, offset) -> value
    for p in range(P):
        vals = [b"in-%05d" % i for i in range(p, n, P)]
        for v, where in zip(vals, produce(prod, IN, vals, partition=p)):
            inputs[where] = v
    prod.close(timeout=10)
    in_end = {p: sum(1 for (q, _) in inputs if q == p) for p in range(P)}

    timings = Timings()
    tp_ = txn_producer(bootstrap, TXID)
    timings.run("init_transactions", tp_.init_transactions)
    pe = tp_._transaction_manager.producer_id_and_epoch  # no public accessor
    # fetch_max_wait_ms=50: a seek waits for the fetch in flight (held up to that long at the end)
    c = KafkaConsumer(IN, **consumer_conf(bootstrap, GROUP, isolation_level="read_committed", fetch_max_wait_ms=50))
    in_tps = [TopicPartition(IN, p) for p in range(P)]
    out_tps = [TopicPartition(OUT, p) for p in range(P)]

    expect = {p: None for p in range(P)}
    processed = set()
    committed_out, aborted_out = [], []
    txn = 0
    described = False
    deadline = time.monotonic() + 90
    while expect != in_end:
        check(time.monotonic() < deadline, f"not done in 90s: committed {expect}, end {in_end}")
        polled = c.poll(timeout_ms=1000, max_records=40)
        msgs = [r for recs in polled.values() for r in recs]
        if not msgs:
            continue
        txn += 1
        abort = txn % 3 == 0
        timings.run("begin_transaction", tp_.begin_transaction)
        futs = []
        outs = []
        for r in msgs:
            check(inputs.get((r.partition, r.offset)) == r.value, f"input {r.partition}:{r.offset} is {r.value!r}")
            v = r.value + b"|t%d" % txn
            futs.append(tp_.send(OUT, value=v, key=b"%d:%d" % (r.partition, r.offset), partition=r.partition))
            outs.append((r.partition, r.offset, v))
        positions = {tp: OffsetAndMetadata(c.position(tp), "", -1) for tp in in_tps if tp in c.assignment()}
        timings.run("send_offsets_to_transaction", tp_.send_offsets_to_transaction, positions, c.group_metadata())
        tp_.flush(timeout=30)
        first = {}
        for f in futs:
            md = f.get(timeout=30)
            first.setdefault(md.partition, md.offset)
        if not described:
            described = True
            describe_open(bootstrap, c, pe, first)
        if abort:
            timings.run("abort_transaction", tp_.abort_transaction)
            got = committed(c)
            check(got == expect, f"after aborted txn {txn} committed() is {got}, before it {expect}")
            for tp in in_tps:
                off = expect[tp.partition]
                if off is None:
                    c.seek_to_beginning(tp)
                else:
                    c.seek(tp, off)
            aborted_out += [(p, v) for p, _o, v in outs]
        else:
            timings.run("commit_transaction", tp_.commit_transaction)
            for p, off, v in outs:
                check((p, off) not in processed, f"input {p}:{off} in two committed transactions")
                processed.add((p, off))
            committed_out += [(p, v) for p, _o, v in outs]
            for tp, om in positions.items():
                expect[tp.partition] = om.offset
            got = committed(c)
            check(got == expect, f"after committed txn {txn} committed() is {got}, expected {expect}")
    c.close(autocommit=False)
    tp_.close(timeout=10)
    n_abort = txn // 3
    log(f"   loop: {txn - n_abort} committed + {n_abort} aborted transactions; {timings.summary()}")

    rc = read_all(bootstrap, OUT, "read_committed")
    by_p = {p: [] for p in range(P)}
    for p, _o, v in rc:
        base, _, t = v.rpartition(b"|t")
        check(int(t) % 3 != 0, f"read_committed returned {v!r} of aborted transaction {int(t)}")
        by_p[p].append(base)
    for p in range(P):
        want = [inputs[(p, o)] for o in range(in_end[p])]
        check(by_p[p] == want, f"read_committed {OUT}/{p}: {len(by_p[p])} records for {len(want)} inputs "
                               f"({len(by_p[p]) - len(set(by_p[p]))} duplicates, "
                               f"{len(set(want) - set(by_p[p]))} missing)")
    ru = read_all(bootstrap, OUT, "read_uncommitted")
    for p in range(P):
        g = sorted(v for q, _o, v in ru if q == p)
        w = sorted([v for q, v in committed_out + aborted_out if q == p])
        check(g == w, f"read_uncommitted {OUT}/{p}: {len(g)} records, expected {len(w)} (committed + aborted)")
    offs = adm.list_group_offsets({GROUP: in_tps})[GROUP]
    got = {tp.partition: om.offset for tp, om in offs.items()}
    check(got == in_end, f"group {GROUP} offsets {got}, expected the input end offsets {in_end}")

    def listed():
        rows = [t for ts in adm.list_transactions().values() for t in ts if t.transactional_id == TXID]
        return rows[0].state if rows else None
    wait_until(lambda: listed() == TransactionState.COMPLETE_COMMIT, 10, f"{TXID} listed as CompleteCommit")
    adm.close()
    log(f"   read_committed: {len(rc)} records, each input once in order; read_uncommitted: {len(ru)} "
        f"(+{len(aborted_out)} aborted); group offsets = end offsets {in_end}; {TXID} CompleteCommit")


def describe_open(bootstrap, c, pe, first):
    """checks while the first transaction is open (its records acked, not committed)"""
    adm = admin(bootstrap)
    try:
        rows = [t for ts in adm.list_transactions().values() for t in ts if t.transactional_id == TXID]
        check(len(rows) == 1 and rows[0].state == TransactionState.ONGOING and rows[0].producer_id == pe.producer_id,
              f"list_transactions with a transaction open: {rows}")
        d = adm.describe_transactions([TXID])[TXID]
        check(d.state == TransactionState.ONGOING and (d.producer_id, d.producer_epoch) == (pe.producer_id, pe.epoch)
              and d.transaction_timeout_ms == 60000, f"describe_transactions: {d}")
        outs = {tp for tp in d.topic_partitions if tp.topic == OUT}
        offsets = {tp for tp in d.topic_partitions if tp.topic == "__consumer_offsets"}
        check(outs == {TopicPartition(OUT, p) for p in first} and len(offsets) == 1
              and len(d.topic_partitions) == len(outs) + 1,
              f"describe_transactions partitions {sorted(d.topic_partitions)}, written {sorted(first)}")
        states = adm.describe_producers([TopicPartition(OUT, p) for p in first])
        for p, off in first.items():
            mine = [s for s in states[TopicPartition(OUT, p)].active_producers if s.producer_id == pe.producer_id]
            check(len(mine) == 1 and mine[0].current_transaction_start_offset == off,
                  f"describe_producers {OUT}/{p}: {mine}, expected the transaction to start at {off}")
        lso = c.end_offsets([TopicPartition(OUT, p) for p in first])  # c is read_committed
        check({tp.partition: o for tp, o in lso.items()} == first,
              f"read_committed end_offsets {lso} with the transaction open at {first}")
        parts = sorted(f"{tp.topic}/{tp.partition}" for tp in d.topic_partitions)
        log(f"   open transaction: list_transactions Ongoing; describe_transactions pid {d.producer_id} epoch "
            f"{d.producer_epoch} timeout {d.transaction_timeout_ms} partitions {parts}; "
            f"describe_producers start offsets {first}; read_committed end_offsets = those")
    finally:
        adm.close()


def fence(bootstrap):
    topic = "kp-fence"
    adm = admin(bootstrap)
    create_topic(adm, topic, 1)
    adm.close()
    a = txn_producer(bootstrap, topic)
    a.init_transactions()
    a.begin_transaction()
    for f in [a.send(topic, value=b"A-%d" % i, partition=0) for i in range(5)]:
        f.get(timeout=30)
    b = txn_producer(bootstrap, topic)
    t0 = time.monotonic()
    b.init_transactions()
    t_init = time.monotonic() - t0
    try:
        a.commit_transaction()
        raise Failure("A's commit_transaction succeeded after B's init_transactions")
    except (Errors.ProducerFencedError, Errors.InvalidProducerEpochError) as e:
        err = e
    b.begin_transaction()
    for f in [b.send(topic, value=b"B-%d" % i, partition=0) for i in range(5)]:
        f.get(timeout=30)
    b.commit_transaction()
    b.close(timeout=10)
    a.close(timeout=1)
    rc = [v for _p, _o, v in read_all(bootstrap, topic, "read_committed", 1)]
    check(rc == [b"B-%d" % i for i in range(5)], f"read_committed: {rc}")
    ru = [v for _p, _o, v in read_all(bootstrap, topic, "read_uncommitted", 1)]
    check(ru == [b"A-%d" % i for i in range(5)] + [b"B-%d" % i for i in range(5)], f"read_uncommitted: {ru}")
    log(f"   B's init_transactions {t_init * 1000:.0f}ms; A's commit: {type(err).__name__}; read_committed only B's")


def main():
    cmd = sys.argv[1]
    if cmd == "eos":
        eos(sys.argv[2], int(sys.argv[3]))
    elif cmd == "fence":
        fence(sys.argv[2])
    else:
        raise Failure(f"unknown command {cmd}")


if __name__ == "__main__":
    main_wrapper(main)
