"""t3: the coordinator aborts a transaction that outlives transaction.timeout.ms (the broker
runs with transaction.abort.timed.out.transaction.cleanup.interval.ms=200).

    txn_timeout.py BOOTSTRAP [TIMEOUT_MS]

1. a producer (transaction.timeout.ms=TIMEOUT_MS, default 1000, transactional.id txn-timeout)
   begins a transaction and writes 5 records to txn-timeout (1 partition), all acked, then
   does nothing;
2. wait (deadline 20 s) until a read_committed consumer's position reaches the high
   watermark: the coordinator aborted the transaction (its records skipped, the marker
   written). It must not have happened before TIMEOUT_MS since begin_transaction (the
   broker cannot have started the clock earlier); the time it took is reported;
3. the producer's commit_transaction fails (the abort bumped the epoch: fatal fenced, or an
   abortable error);
4. read_committed read none of the 5; read_uncommitted reads the 5; the high watermark is 6
   (5 records + the abort marker);
5. a new producer with the same transactional.id initialises and commits a transaction of
   3 records: read_committed then reads exactly those.
"""
import sys
import time

from confluent_kafka import KafkaException

from common import check, create_topic, main_wrapper
from txnlib import Timings, fenced, produce_txn, read_all, show, txn_producer, values, watermarks

TOPIC = TXID = "txn-timeout"


def main():
    bootstrap = sys.argv[1]
    timeout_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    create_topic(bootstrap, TOPIC, 1)
    timings = Timings()
    p = txn_producer(bootstrap, TXID, **{"transaction.timeout.ms": timeout_ms})
    timings.run("init_transactions", p.init_transactions, 30)
    t_begin = time.monotonic()
    p.begin_transaction()
    acked = []
    for i in range(5):
        p.produce(TOPIC, value=b"T-%d" % i, partition=0, on_delivery=lambda err, m: acked.append(err))
    check(p.flush(10) == 0 and acked == [None] * 5, f"records not all acked: {acked}")

    # read_all waits (bounded) until the read_committed position is the high watermark,
    # which it can only be once the transaction is decided; it fails if a record shows
    rc = read_all(bootstrap, TOPIC, 1, "read_committed", timeout=20, what="waiting for the timeout abort",
                  forbidden=lambda v: v.startswith(b"T-"))
    took = time.monotonic() - t_begin
    check(values(rc) == [], "unreachable")
    check(took >= timeout_ms / 1000, f"the transaction was aborted {took:.2f}s after begin_transaction, "
                                     f"before its timeout of {timeout_ms} ms")
    try:
        p.commit_transaction(10)
        raise AssertionError("commit_transaction succeeded after the coordinator aborted the transaction")
    except KafkaException as e:
        err = e.args[0]
    check(fenced(err) or err.txn_requires_abort(),
          f"commit_transaction after the timeout abort: {err} (fatal={err.fatal()}, "
          f"abortable={err.txn_requires_abort()})")
    ru = [v for _p, _o, v in values(read_all(bootstrap, TOPIC, 1, "read_uncommitted"))]
    check(ru == [b"T-%d" % i for i in range(5)], f"read_uncommitted: {ru}")
    hw = watermarks(bootstrap, TOPIC, 1)[0]
    check(hw == 6, f"high watermark {hw}, expected 6 (5 records + the abort marker)")

    q = txn_producer(bootstrap, TXID)
    timings.run("init_transactions (same id, after the abort)", q.init_transactions, 30)
    produce_txn(q, timings, TOPIC, [(0, b"U-%d" % i) for i in range(3)])
    rc = [v for _p, _o, v in values(read_all(bootstrap, TOPIC, 1, "read_committed"))]
    check(rc == [b"U-%d" % i for i in range(3)], f"read_committed after the new transaction: {rc}")
    show("timeout abort", f"visible {took:.2f}s after begin_transaction (transaction.timeout.ms={timeout_ms}); "
                          f"commit_transaction then failed with {err.name()} (fatal={err.fatal()}); "
                          f"read_committed none of the 5, read_uncommitted all 5; the id commits again")
    show("timings", timings.summary())


if __name__ == "__main__":
    main_wrapper(main)
