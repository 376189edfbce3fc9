"""Groups 5: committed offsets and metadata survive a broker restart.

  group_restart.py commit BOOTSTRAP NAME
      creates topic NAME (3 partitions, 100 messages each); a member of group NAME consumes
      everything and commits p0=37, p1=50, p2=99 with metadata, synchronously, then checks
      committed() and closes (LeaveGroup), so the group is Empty with its offsets when the
      broker is stopped.
  group_restart.py verify BOOTSTRAP NAME
      (after the broker was restarted on the same data dir) a new member of group NAME:
      committed() returns the same offsets and metadata; in every partition the first
      message it receives has offset == the committed offset; it receives exactly the
      messages from there to the end (63 + 50 + 1), each once. It does not commit, so the
      check can be repeated after another restart.
"""
import sys

from confluent_kafka import TopicPartition

from grouplib import Member, check_exactly_once, committed, group_conf, produce_batch, pump, pump_for, received
from common import check, create_topic, log, main_wrapper

P = 3
PER = 100
COMMIT = {0: 37, 1: 50, 2: 99}


def meta(p):
    return f"restart-meta p{p} off={COMMIT[p]} \u2713"


def layout(name):
    """{(partition, offset): value} as produce_batch() lays the topic out (checked at commit)"""
    return {(i % P, i // P): f"{name}-{i}".encode() for i in range(P * PER)}


def run():
    mode, bootstrap, name = sys.argv[1:4]
    topic = group = name
    parts = list(range(P))
    if mode == "commit":
        create_topic(bootstrap, topic, P)
        acked = produce_batch(bootstrap, topic, P, P * PER, name)
        check(acked == layout(name), "produced layout is not message i at (i % 3, i // 3)")
        m = Member("committer", group_conf(bootstrap, group), [topic])
        pump([m], lambda: len(m.msgs) >= P * PER, 30, f"{P * PER} messages")
        res = m.c.commit(offsets=[TopicPartition(topic, p, COMMIT[p], metadata=meta(p)) for p in parts],
                         asynchronous=False)
        check(sorted((tp.partition, tp.offset, tp.error) for tp in res) == [(p, COMMIT[p], None) for p in parts],
              f"commit result {res}")
        got = committed(m.c, topic, parts)
        check(got == {p: (COMMIT[p], meta(p)) for p in parts}, f"committed() before the restart: {got}")
        m.commit_on_revoke = False  # keep exactly these offsets
        m.close()
        log(f"OK committed {COMMIT} with metadata in group {group}")
        return

    check(mode == "verify", f"unknown mode {mode}")
    want = {k: v for k, v in layout(name).items() if k[1] >= COMMIT[k[0]]}
    m = Member("resumer", group_conf(bootstrap, group), [topic], commit_on_revoke=False)
    pump([m], lambda: len(m.parts()) == P, 30, "assignment after the restart")
    got = committed(m.c, topic, parts)
    check(got == {p: (COMMIT[p], meta(p)) for p in parts},
          f"committed() after the restart: {got}, expected {{p: (offset, metadata)}} = "
          f"{ {p: (COMMIT[p], meta(p)) for p in parts} }")
    pump([m], lambda: len(m.msgs) >= len(want), 30, f"{len(want)} messages after the commits")
    pump_for([m], 0.3)
    firsts = {p: min(o for (_, _, pp, o, _) in m.msgs if pp == p) for p in parts}
    check(firsts == COMMIT, f"first offsets after the restart {firsts}, committed {COMMIT}")
    check_exactly_once(received([m]), want, "resume after restart")
    m.close()
    log(f"OK resumed at {firsts} with metadata intact, {len(want)} messages exactly once")


if __name__ == "__main__":
    main_wrapper(run)
