"""Transactional test data for the kcat suite (kcat cannot produce transactionally), written
with confluent-kafka (the venv of ../confluent-kafka). One partition of TOPIC gets, in order:

    c1-0..c1-4   a committed transaction
    a1-0..a1-4   an aborted transaction
    plain-0      a non-transactional record
    c2-0..c2-4   a committed transaction
    a2-0..a2-4   an aborted transaction
    o1-0..o1-4   a transaction left open (transaction.timeout.ms=OPEN_TIMEOUT_MS)

Each transaction's records are flushed (acked) before its commit or abort. Prints one line
per record, "offset|value|kind" (kind: committed, aborted, plain, open), in offset order:
the offsets are as acked (where a marker lands relative to the plain record is the
broker's business). The process then exits at once (os._exit: no abort, no close) so the
last transaction stays open until the broker's timeout aborts it.

usage: txn_produce.py BOOTSTRAP TOPIC OPEN_TIMEOUT_MS
"""
import os
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    os._exit(1)


def main():
    bootstrap, topic, open_timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10)[topic].result(timeout=20)
    txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": "kcat-txn", "linger.ms": 5})
    txn.init_transactions(30)
    plain = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    opener = Producer({"bootstrap.servers": bootstrap, "transactional.id": "kcat-txn-open", "linger.ms": 5,
                       "transaction.timeout.ms": open_timeout})
    opener.init_transactions(30)

    rows = []

    def send(p, tag, n, kind):
        got = []
        for i in range(n):
            p.produce(topic, value=b"%s-%d" % (tag, i), partition=0,
                      on_delivery=lambda err, m: got.append(err or m.offset()))
        if p.flush(10) != 0 or len(got) != n or not all(isinstance(o, int) for o in got):
            fail(f"{tag}: not all acked: {got}")
        if got != list(range(got[0], got[0] + n)) or (rows and got[0] <= rows[-1][0]):
            fail(f"{tag}: acked at offsets {got} (after {rows[-1:]})")
        rows.extend((o, f"{tag.decode()}-{i}", kind) for i, o in enumerate(got))

    for tag, kind in ((b"c1", "committed"), (b"a1", "aborted"), (b"plain", "plain"), (b"c2", "committed"),
                      (b"a2", "aborted"), (b"o1", "open")):
        if kind == "plain":
            send(plain, tag, 1, kind)
            continue
        p = opener if kind == "open" else txn
        p.begin_transaction()
        send(p, tag, 5, kind)
        if kind == "committed":
            p.commit_transaction(10)
        elif kind == "aborted":
            p.abort_transaction(10)
    for o, v, kind in rows:
        print(f"{o}|{v}|{kind}")
    sys.stdout.flush()
    os._exit(0)  # leave o1 open


if __name__ == "__main__":
    main()
