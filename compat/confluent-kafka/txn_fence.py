"""t2: fencing. Two producers with the same transactional.id; the second one's
init_transactions() aborts the first one's open transaction and fences it.

    txn_fence.py BOOTSTRAP

For each of two rounds (topic fence-produce / fence-commit, 1 partition, transactional.id
of the same name):

1. producer A: init_transactions, begin_transaction, 10 records, flushed (all acked: they
   are in the log) but not committed. While A's transaction is open the last stable offset
   stays at its first record (0) and a read_committed consumer gets none of them (in 1 s);
2. producer B, same transactional.id: init_transactions succeeds (the coordinator aborts
   A's transaction first); B has A's producer id with a higher epoch;
3. round fence-produce: A produces one more record: the broker refuses it and A goes
   into the fatal fenced state (flush() raises), and commit_transaction fails with a fatal
   fenced error;
   round fence-commit: A calls commit_transaction directly: a fatal fenced error;
   (fenced: KafkaError._FENCED, PRODUCER_FENCED or INVALID_PRODUCER_EPOCH, err.fatal())
4. B runs a transaction of 10 records and commits it;
5. read_committed reads exactly B's 10 records; read_uncommitted reads A's 10 and B's 10
   (A's late record was refused: never in the log); the high watermark is 22 (20 records,
   A's abort marker, B's commit marker).

Then a zombie consumer (KIP-447): consumer C1 of group fence-group takes its
consumer_group_metadata(), then C2 joins and the group rebalances to a new generation; a
transaction's send_offsets_to_transaction with C1's old metadata fails with
ILLEGAL_GENERATION (abortable, not fatal) and commits nothing; after abort_transaction the
same producer commits offsets with C1's current metadata.
"""
import sys
import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from common import check, create_topic, main_wrapper
from grouplib import OFFSET_INVALID, Member, balanced, committed, generation, group_conf, pump, settled
from idemlib import RdStats
from txnlib import (Timings, fenced, lso, produce_txn, read_all, read_window, show, txn_producer, values,
                    watermarks)


def pid_epoch(stats, producer, timeout=10):
    """the producer id and epoch librdkafka's statistics show (once they show one)"""
    deadline = time.monotonic() + timeout
    while True:
        s = stats.fresh(producer)
        if s["producer_id"] is not None and s["producer_id"] >= 0:
            return s
        check(time.monotonic() < deadline, f"statistics showed no producer id within {timeout}s: {s}")


def round_(bootstrap, topic, late_produce, timings):
    create_topic(bootstrap, topic, 1)
    stats_a, stats_b = RdStats(), RdStats()
    a = txn_producer(bootstrap, topic, **{"statistics.interval.ms": 100, "stats_cb": stats_a})
    timings.run("init_transactions (A)", a.init_transactions, 30)
    pa = pid_epoch(stats_a, a)
    a.begin_transaction()
    a_vals = [b"A-%d" % i for i in range(10)]
    acked = []
    for v in a_vals:
        a.produce(topic, value=v, partition=0, on_delivery=lambda err, m: acked.append(err))
    check(a.flush(10) == 0 and acked == [None] * 10, f"A's records not all acked: {acked}")
    # A's default transaction.timeout.ms is 60 s: the transaction is surely still open here
    hw, stable = watermarks(bootstrap, topic, 1)[0], lso(bootstrap, topic, 1)[0]
    check((hw, stable) == (10, 0), f"open transaction: high watermark {hw}, last stable offset {stable}; "
                                   f"expected 10 and 0")
    got = read_window(bootstrap, topic, 1, "read_committed", 1.0)
    check(got == [], f"read_committed while A's transaction is open: {got}")

    b = txn_producer(bootstrap, topic, **{"statistics.interval.ms": 100, "stats_cb": stats_b})
    timings.run("init_transactions (B, fencing A)", b.init_transactions, 30)
    pb = pid_epoch(stats_b, b)
    check(pb["producer_id"] == pa["producer_id"] and pb["producer_epoch"] > pa["producer_epoch"],
          f"B got producer id {pb['producer_id']} epoch {pb['producer_epoch']}; A had {pa['producer_id']} "
          f"epoch {pa['producer_epoch']}")

    late = []
    if late_produce:
        a.produce(topic, value=b"A-late", partition=0, on_delivery=lambda err, m: late.append(err))
        try:
            a.flush(10)  # raises once the producer is in the fatal state
        except KafkaException as e:
            late.append(e.args[0])
        check(late and all(e is not None for e in late), f"A's record after the fencing was acked: {late}")
        check(fenced(late[-1]), f"A's produce after the fencing: expected a fatal fenced error, got {late[-1]}")
    try:
        a.commit_transaction(10)
        raise AssertionError("A's commit_transaction succeeded after B's init_transactions")
    except KafkaException as e:
        err = e.args[0]
    check(fenced(err), f"A's commit_transaction: expected a fatal fenced error, got {err} (fatal={err.fatal()})")

    produce_txn(b, timings, topic, [(0, b"B-%d" % i) for i in range(10)])
    rc = [v for _p, _o, v in values(read_all(bootstrap, topic, 1, "read_committed"))]
    check(rc == [b"B-%d" % i for i in range(10)], f"read_committed: {rc}")
    ru = [v for _p, _o, v in values(read_all(bootstrap, topic, 1, "read_uncommitted"))]
    check(ru == a_vals + [b"B-%d" % i for i in range(10)], f"read_uncommitted: {ru}")
    hw = watermarks(bootstrap, topic, 1)[0]
    check(hw == 22, f"high watermark {hw}, expected 22 (20 records + 2 markers)")
    how = f"late produce: {late[-1].name()}; commit: {err.name()}" if late_produce else f"commit: {err.name()}"
    show(topic, f"A pid {pa['producer_id']} epoch {pa['producer_epoch']}, B epoch {pb['producer_epoch']}; "
                f"A fenced ({how}); read_committed = B's 10, read_uncommitted = A's 10 + B's 10")


def stale_generation(bootstrap, timings):
    topic, group = "fence-group-in", "fence-group"
    create_topic(bootstrap, topic, 2)
    conf = group_conf(bootstrap, group, **{"isolation.level": "read_committed"})
    c1 = Member("C1", conf, [topic])
    pump([c1], lambda: len(c1.parts()) == 2, 20, "C1 gets both partitions")
    old = c1.c.consumer_group_metadata()
    gen_old = generation(c1.c)
    members = [c1, Member("C2", conf, [topic])]
    pump(members, lambda: settled(members) and balanced(members, topic, 2, 1), 20, "C1 and C2 get one partition each")
    gen_new = generation(c1.c)
    check(gen_new > gen_old, f"no new generation after C2 joined ({gen_old})")
    p = txn_producer(bootstrap, "fence-group-txn")
    timings.run("init_transactions", p.init_transactions, 30)
    p.begin_transaction()
    tp = [TopicPartition(topic, 0, 7)]
    try:
        p.send_offsets_to_transaction(tp, old, 15)
        raise AssertionError("send_offsets_to_transaction with a stale generation succeeded")
    except KafkaException as e:
        err = e.args[0]
    check(err.code() == KafkaError.ILLEGAL_GENERATION and err.txn_requires_abort() and not err.fatal(),
          f"stale generation: expected ILLEGAL_GENERATION (abortable), got {err} (fatal={err.fatal()}, "
          f"abortable={err.txn_requires_abort()})")
    timings.run("abort_transaction", p.abort_transaction, 15)
    check(committed(c1.c, topic, [0])[0][0] == OFFSET_INVALID, "offsets of the failed transaction were committed")
    p.begin_transaction()
    timings.run("send_offsets_to_transaction", p.send_offsets_to_transaction, tp, c1.c.consumer_group_metadata(), 15)
    timings.run("commit_transaction", p.commit_transaction, 15)
    got = committed(c1.c, topic, [0])[0][0]
    check(got == 7, f"committed offset {got} after the transaction with the current generation, expected 7")
    for m in members:
        m.close()
    show("zombie consumer", f"offsets with generation {gen_old} after the rebalance to {gen_new}: "
                            f"ILLEGAL_GENERATION (abortable), nothing committed; generation {gen_new} commits")


def main():
    bootstrap = sys.argv[1]
    timings = Timings()
    round_(bootstrap, "fence-produce", True, timings)
    round_(bootstrap, "fence-commit", False, timings)
    stale_generation(bootstrap, timings)
    show("timings", timings.summary())


if __name__ == "__main__":
    main_wrapper(main)
