"""t1: consume-transform-produce, exactly once (the librdkafka EOS pattern).

    txn_eos.py run BOOTSTRAP STATE_JSON [N] [BATCH] [ABORT_EVERY]
    txn_eos.py verify BOOTSTRAP STATE_JSON

run: N input messages (non-transactional, round-robin over the 3 partitions of eos-in).
A consumer (group eos-group, subscribed, isolation.level=read_committed, no auto-commit)
and a transactional producer (transactional.id eos-txn) loop: consume up to BATCH
messages, begin_transaction, produce one output record per input to eos-out (same
partition, key "<partition>:<offset>" of the input, value "<input value>|t<txn number>"),
send_offsets_to_transaction(positions, consumer_group_metadata()), commit_transaction.
Every ABORT_EVERY-th transaction is flushed (so all its records are written) and aborted
instead, and the consumer is rewound to the committed offsets (as the confluent EOS example
does); the next transaction processes the same input again. Checked during the run:

* after each commit, committed() (OffsetFetch, require_stable) is exactly the positions
  sent in the transaction;
* after each abort, committed() is what it was before the aborted transaction, and after
  the rewind the next records consumed start at those offsets;
* no input is part of two committed transactions.

verify (also after a broker restart; the run's facts are in STATE_JSON):

* a read_committed consumer of eos-out reads each input exactly once, in input order per
  partition, each from a committed transaction, with the input's key; none of the aborted
  attempts;
* a read_uncommitted consumer reads exactly the committed records plus the aborted attempts;
* each partition's high watermark is its records plus one control record (marker) per
  transaction that wrote to it: no other record, no missing marker;
* the group's committed offsets are the input's end offsets.
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from common import Failure, check, create_topic, main_wrapper
from grouplib import OFFSET_INVALID, group_conf, produce_batch
from txnlib import Timings, read_all, show, txn_producer, values, watermarks

P = 3
IN, OUT, GROUP, TXID = "eos-in", "eos-out", "eos-group", "eos-txn"


def committed(consumer, timeout=15):
    res = consumer.committed([TopicPartition(IN, p) for p in range(P)], timeout=timeout)
    for tp in res:
        check(tp.error is None, f"committed(): {tp.partition} error {tp.error}")
    return {tp.partition: tp.offset for tp in res}


def run(bootstrap, state_path, n, batch, abort_every):
    create_topic(bootstrap, IN, P)
    create_topic(bootstrap, OUT, P)
    inputs = produce_batch(bootstrap, IN, P, n, "in")  # {(p, off): value}
    in_end = {p: sum(1 for (q, _) in inputs if q == p) for p in range(P)}

    timings = Timings()
    producer = txn_producer(bootstrap, TXID)
    timings.run("init_transactions", producer.init_transactions, 30)

    assigned = []
    # fetch.wait.max.ms=50: after a rewind (seek) librdkafka waits for its fetch in flight,
    # which the broker holds for up to fetch.wait.max.ms (500 ms) at the end of the input
    consumer = Consumer(group_conf(bootstrap, GROUP, **{"isolation.level": "read_committed",
                                                        "fetch.wait.max.ms": 50}))
    consumer.subscribe([IN], on_assign=lambda c, parts: assigned.extend(parts))

    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))

    expect_committed = {p: OFFSET_INVALID for p in range(P)}
    processed = {}  # (p, off) -> txn number that committed it
    committed_txns, aborted_txns = [], []
    aborted_out = []  # [(partition, value)] of the aborted attempts
    markers = {p: 0 for p in range(P)}
    rewound_to = None  # {p: offset} after an abort: the next records must start there
    txn = 0
    t0 = time.monotonic()
    deadline = t0 + 90
    while expect_committed != in_end:
        check(time.monotonic() < deadline, f"not done within 90s: committed {expect_committed}, end {in_end}")
        msgs = consumer.consume(num_messages=batch, timeout=0.5)
        for m in msgs:
            check(m.error() is None, f"consume error {m.error()}")
        if not msgs:
            continue
        check(len(assigned) == P, f"records before the assignment of all {P} partitions: {assigned}")
        if rewound_to is not None:
            first = {}
            for m in msgs:
                first.setdefault(m.partition(), m.offset())
            for p, off in first.items():
                want = rewound_to[p] if rewound_to[p] >= 0 else 0
                check(off == want, f"after the rewind partition {p} resumed at {off}, not the committed {want}")
            rewound_to = None
        txn += 1
        abort = txn % abort_every == 0
        timings.run("begin_transaction", producer.begin_transaction)
        touched = set()
        outs = []
        for m in msgs:
            p, off = m.partition(), m.offset()
            check(inputs.get((p, off)) == m.value(),
                  f"input {p}:{off} reads {m.value()!r}, produced {inputs.get((p, off))!r}")
            v = m.value() + b"|t%d" % txn
            while True:
                try:
                    producer.produce(OUT, key=b"%d:%d" % (p, off), value=v, partition=p, on_delivery=dr)
                    break
                except BufferError:
                    producer.poll(0.01)
            touched.add(p)
            outs.append((p, off, v))
        positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
        timings.run("send_offsets_to_transaction", producer.send_offsets_to_transaction,
                    positions, consumer.consumer_group_metadata(), 15)
        for p in touched:
            markers[p] += 1
        if abort:
            check(producer.flush(15) == 0, "flush before the abort")
            timings.run("abort_transaction", producer.abort_transaction, 15)
            check(not errors, f"delivery errors {errors[:3]}")
            got = timings.run("committed()", committed, consumer)
            check(got == expect_committed, f"after aborted txn {txn} committed() is {got}, "
                                           f"before it {expect_committed} (offsets of the abort leaked)")
            # rewind to the committed offsets (the beginning where there is none)
            for p in range(P):
                off = expect_committed[p]
                consumer.seek(TopicPartition(IN, p, off if off >= 0 else OFFSET_BEGINNING))
            rewound_to = dict(expect_committed)
            aborted_txns.append(txn)
            aborted_out += [(p, v.decode()) for p, _off, v in outs]
        else:
            timings.run("commit_transaction", producer.commit_transaction, 15)
            check(not errors, f"delivery errors {errors[:3]}")
            for p, off, _v in outs:
                check((p, off) not in processed,
                      f"input {p}:{off} in committed txns {processed.get((p, off))} and {txn}")
                processed[(p, off)] = txn
            for tp in positions:
                expect_committed[tp.partition] = tp.offset
            got = timings.run("committed()", committed, consumer)
            check(got == expect_committed,
                  f"after committed txn {txn} committed() is {got}, expected {expect_committed}")
            committed_txns.append(txn)
    elapsed = time.monotonic() - t0
    consumer.close()
    producer.flush(10)
    check(len(processed) == n, f"{len(processed)} of {n} inputs processed")
    check(aborted_txns, "no transaction was aborted (too few transactions?)")
    show("loop", f"{len(committed_txns)} committed + {len(aborted_txns)} aborted transactions, "
                 f"{n} inputs in {elapsed:.1f}s")
    show("timings", timings.summary())
    with open(state_path, "w") as f:
        json.dump({"n": n, "inputs": [[p, o, v.decode()] for (p, o), v in inputs.items()],
                   "committed_txns": committed_txns, "aborted_out": aborted_out, "markers": markers,
                   "in_end": in_end}, f)


def verify(bootstrap, state_path):
    with open(state_path) as f:
        st = json.load(f)
    committed_txns = set(st["committed_txns"])
    inputs = sorted((p, o, v) for p, o, v in st["inputs"])  # input order per partition
    in_end = {int(p): o for p, o in st["in_end"].items()}
    markers = {int(p): k for p, k in st["markers"].items()}

    rc = values(read_all(bootstrap, OUT, P, "read_committed", what="read_committed read of eos-out"))
    # each input exactly once, in order, from a committed transaction
    by_p = {p: [] for p in range(P)}
    for p, _o, v in rc:
        base, _, t = v.decode().rpartition("|t")
        check(int(t) in committed_txns, f"read_committed returned {v!r} of transaction {t}, which was aborted")
        by_p[p].append(base)
    for p in range(P):
        want = [v for q, _o, v in inputs if q == p]
        got = by_p[p]
        if got != want:
            dups = len(got) - len(set(got))
            missing = len(set(want) - set(got))
            raise Failure(f"read_committed eos-out/{p}: {len(got)} records for {len(want)} inputs "
                           f"({dups} duplicates, {missing} missing){'' if dups or missing else ', out of order'}")
    committed_out = [(p, v.decode()) for p, _o, v in rc]

    ru = values(read_all(bootstrap, OUT, P, "read_uncommitted"))
    # as multisets per partition (an aborted attempt sits between committed transactions)
    for p in range(P):
        g = sorted(v.decode() for q, _o, v in ru if q == p)
        w = sorted([v for q, v in committed_out if q == p] + [v for q, v in st["aborted_out"] if q == p])
        check(g == w, f"read_uncommitted eos-out/{p}: {len(g)} records, expected {len(w)} "
                      f"(committed + aborted attempts)")
    hw = watermarks(bootstrap, OUT, P)
    for p in range(P):
        n_ru = sum(1 for q, _o, _v in ru if q == p)
        check(hw[p] == n_ru + markers[p], f"eos-out/{p}: high watermark {hw[p]} != {n_ru} records + {markers[p]} "
                                          f"transaction markers")
    c = Consumer(group_conf(bootstrap, GROUP, **{"isolation.level": "read_committed"}))
    got = committed(c)
    c.close()
    check(got == in_end, f"group {GROUP} committed offsets {got}, expected the input end offsets {in_end}")
    show("verify", f"read_committed: {len(rc)} records, each input once in order; read_uncommitted: {len(ru)} "
                   f"(+{len(st['aborted_out'])} aborted); markers {sum(markers.values())}; "
                   f"committed offsets = end {in_end}")


def main():
    cmd = sys.argv[1]
    if cmd == "run":
        a = sys.argv[2:]
        run(a[0], a[1], int(a[2]) if len(a) > 2 else 2000, int(a[3]) if len(a) > 3 else 60,
            int(a[4]) if len(a) > 4 else 4)
        verify(a[0], a[1])
    elif cmd == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main_wrapper(main)
