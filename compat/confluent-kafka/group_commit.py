"""Groups 2: offset commits (one 3-partition topic with 30 messages per partition, a fresh
group per case; every consumer is a subscribed group member).

a. sync commit of explicit offsets with metadata (commit(offsets=..., asynchronous=False)):
   the commit result and committed() give back exactly those offsets and metadata; an
   uncommitted partition reads as OFFSET_INVALID; a plain commit() then commits the consumed
   positions; metadata over offset.metadata.max.bytes (4096) is refused with
   OFFSET_METADATA_TOO_LARGE and leaves the committed offset alone.
b. async commit: commit(asynchronous=True) reports success through on_commit with the
   consumed positions, and committed() agrees.
c. enable.auto.offset.store=false, manual commit: commit() commits only what
   store_offsets() stored.
d. enable.auto.offset.store=false with enable.auto.commit=true (100 ms): the auto-commit
   commits the stored offsets and nothing beyond them; on close the next member of the
   group resumes exactly at the stored offsets (earliest where nothing was stored).
e. enable.auto.commit=true (100 ms) with automatic store: the commit reaches the end of
   every partition without an explicit commit; after close() the next member of the group
   gets only messages produced afterwards.
f. commits outside group membership (assign(), generation -1, as the AdminClient does):
   accepted into a group with no members and readable by the group's next member; refused
   with UNKNOWN_MEMBER_ID while the group has members; a commit for an unknown topic or
   partition is refused with UNKNOWN_TOPIC_OR_PART.

usage: group_commit.py BOOTSTRAP
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from grouplib import (OFFSET_INVALID, Member, committed, group_conf, produce_batch, pump, pump_for)
from common import check, create_topic, log, main_wrapper

P = 3
PER = 30


def run():
    bootstrap = sys.argv[1]
    topic = "commits"
    create_topic(bootstrap, topic, P)
    produce_batch(bootstrap, topic, P, P * PER, "c")
    parts = list(range(P))

    def member(group, **extra):
        m = Member(group, group_conf(bootstrap, group, **extra), [topic])
        pump([m], lambda: len(m.parts()) == P, 20, f"{group}: assignment of all {P} partitions")
        return m

    def consume_all(m, expect=P * PER):
        pump([m], lambda: len(m.msgs) >= expect, 20, f"{m.name}: {expect} messages")
        return m

    # --- a: sync commit with metadata
    m = consume_all(member("commit-sync"))
    offs = [TopicPartition(topic, 0, 10, metadata="meta-zero"),
            TopicPartition(topic, 1, 20, metadata="{\"k\": \"v\", \"utf8\": \"\u00e9\u00df\"}")]
    res = m.c.commit(offsets=offs, asynchronous=False)
    check(sorted((tp.partition, tp.offset, tp.error) for tp in res) == [(0, 10, None), (1, 20, None)],
          f"sync commit result {res}")
    got = committed(m.c, topic, parts)
    check(got[0] == (10, "meta-zero"), f"committed p0 {got[0]}, expected (10, 'meta-zero')")
    check(got[1] == (20, offs[1].metadata), f"committed p1 {got[1]}, expected (20, {offs[1].metadata!r})")
    check(got[2][0] == OFFSET_INVALID, f"uncommitted p2 reads {got[2]}, expected offset {OFFSET_INVALID}")
    res = m.c.commit(asynchronous=False)  # the consumed positions
    check(sorted((tp.partition, tp.offset, tp.error) for tp in res) == [(p, PER, None) for p in parts],
          f"commit() of positions returned {res}")
    got = committed(m.c, topic, parts)
    check({p: o for p, (o, _) in got.items()} == {p: PER for p in parts}, f"committed after commit(): {got}")
    big = TopicPartition(topic, 0, 5, metadata="x" * 5000)
    try:
        res = m.c.commit(offsets=[big], asynchronous=False)
        err = res[0].error
    except KafkaException as e:
        err = e.args[0]
    check(err is not None and err.code() == KafkaError.OFFSET_METADATA_TOO_LARGE,
          f"5000-byte metadata: expected OFFSET_METADATA_TOO_LARGE, got {err}")
    check(committed(m.c, topic, [0])[0][0] == PER, "refused commit changed the committed offset")
    m.close()
    log("  a: sync commit: offsets+metadata round-trip (incl. UTF-8), uncommitted = OFFSET_INVALID, "
        "commit() = positions, oversized metadata -> OFFSET_METADATA_TOO_LARGE")

    # --- b: async commit with on_commit
    cbs = []
    m = consume_all(member("commit-async", on_commit=lambda err, tps: cbs.append((err, tps))))
    check(m.c.commit(asynchronous=True) is None, "async commit returned a value")
    pump([m], lambda: cbs, 10, "on_commit callback")
    err, tps = cbs[0]
    check(err is None, f"on_commit reported {err}")
    check(sorted((tp.partition, tp.offset, tp.error) for tp in tps) == [(p, PER, None) for p in parts],
          f"on_commit partitions {tps}")
    check({p: o for p, (o, _) in committed(m.c, topic, parts).items()} == {p: PER for p in parts},
          "committed() after the async commit")
    m.close()
    check(len(cbs) == 1, f"on_commit fired {len(cbs)} times for one commit (auto-commit is off)")
    log("  b: async commit: on_commit(err=None) with the consumed positions; committed() agrees")

    # --- c: explicit store, manual commit
    m = consume_all(member("commit-store-manual", **{"enable.auto.offset.store": False}))
    m0 = [x for x in m.msgs if x[2] == 0]
    m.c.store_offsets(offsets=[TopicPartition(topic, 0, m0[3][3] + 1)])
    res = m.c.commit(asynchronous=False)
    # librdkafka lists every assigned partition in the result, unstored ones as OFFSET_INVALID
    check(sorted((tp.partition, tp.offset, tp.error) for tp in res if tp.offset != OFFSET_INVALID) == [(0, 4, None)],
          f"commit() with only p0 stored at 4 returned {res}")
    got = committed(m.c, topic, parts)
    check(got[0][0] == 4 and got[1][0] == OFFSET_INVALID and got[2][0] == OFFSET_INVALID,
          f"committed {got}, expected p0=4 only")
    m.close()
    log("  c: enable.auto.offset.store=false: commit() commits only the stored p0=4")

    # --- d: explicit store, auto-commit
    g = "commit-store-auto"
    m = consume_all(member(g, **{"enable.auto.offset.store": False, "enable.auto.commit": True,
                                 "auto.commit.interval.ms": 100}))
    msg_p0 = [x for x in m.msgs if x[2] == 0][5]
    msg_p1 = [x for x in m.msgs if x[2] == 1][15]
    m.c.store_offsets(offsets=[TopicPartition(topic, 0, msg_p0[3] + 1), TopicPartition(topic, 1, msg_p1[3] + 1)])
    want = {0: 6, 1: 16, 2: OFFSET_INVALID}
    deadline = time.monotonic() + 10
    while {p: o for p, (o, _) in committed(m.c, topic, parts).items()} != want:
        check(time.monotonic() < deadline, f"auto-commit never committed the stored offsets {want}: "
                                           f"{committed(m.c, topic, parts)}")
        pump_for([m], 0.05)
    pump_for([m], 0.5)  # 5 auto-commit intervals: nothing beyond the stored offsets may get committed
    got = {p: o for p, (o, _) in committed(m.c, topic, parts).items()}
    check(got == want, f"auto-commit went beyond the stored offsets: {got}, expected {want}")
    m.close()
    m2 = member(g)
    expect = (PER - 6) + (PER - 16) + PER
    pump([m2], lambda: len(m2.msgs) >= expect, 20, f"{g}: next member consumes {expect}")
    pump_for([m2], 0.3)
    firsts = {p: min(o for (_, t, pp, o, _) in m2.msgs if pp == p) for p in parts}
    check(firsts == {0: 6, 1: 16, 2: 0} and len(m2.msgs) == expect,
          f"next member started at {firsts} with {len(m2.msgs)} messages; expected {{0: 6, 1: 16, 2: 0}}, {expect}")
    m2.close()
    log(f"  d: auto-commit of stored offsets only ({want}); next member resumed there ({expect} messages)")

    # --- e: plain auto-commit
    g = "commit-auto"
    m = consume_all(member(g, **{"enable.auto.commit": True, "auto.commit.interval.ms": 100}))
    deadline = time.monotonic() + 10
    while {p: o for p, (o, _) in committed(m.c, topic, parts).items()} != {p: PER for p in parts}:
        check(time.monotonic() < deadline, f"auto-commit did not reach the end: {committed(m.c, topic, parts)}")
        pump_for([m], 0.05)
    m.close()
    more = produce_batch(bootstrap, topic, P, P, "c-more")
    m2 = member(g)
    pump([m2], lambda: len(m2.msgs) >= P, 20, f"{g}: next member gets the {P} new messages")
    pump_for([m2], 0.3)
    got = sorted((p, o, v) for (_, _, p, o, v) in m2.msgs)
    check(got == sorted((p, o, v) for (p, o), v in more.items()),
          f"after auto-commit the next member got {got[:6]}, expected only the new messages at offset {PER}")
    m2.close()
    log(f"  e: auto-commit reached offset {PER} on all partitions; next member got only the {P} new messages")
    # --- f: commits without membership
    def commit_error(c, offs):
        try:
            res = c.commit(offsets=offs, asynchronous=False)
            errs = [tp.error for tp in res if tp.error is not None]
            return errs[0] if errs else None
        except KafkaException as e:
            return e.args[0]

    g = "commit-simple"
    s = Consumer(group_conf(bootstrap, g))
    err = commit_error(s, [TopicPartition(topic, p, 20 + p, metadata=f"simple-{p}") for p in parts])
    check(err is None, f"commit without membership into a group with no members: {err}")
    check(committed(s, topic, parts) == {p: (20 + p, f"simple-{p}") for p in parts}, "simple commit not stored")
    for bad in (TopicPartition("commits-no-such-topic", 0, 1), TopicPartition(topic, P + 4, 1)):
        err = commit_error(s, [bad])
        check(err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
              f"commit to {bad.topic}[{bad.partition}]: expected UNKNOWN_TOPIC_OR_PART, got {err}")
    m = member(g)  # resumes at the simple commits
    ends = {p: s.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}  # PER + 1 (e)
    expect = sum(ends[p] - (20 + p) for p in parts)
    pump([m], lambda: len(m.msgs) >= expect, 20, f"{g}: member consumes {expect}")
    pump_for([m], 0.3)
    firsts = {p: min(o for (_, _, pp, o, _) in m.msgs if pp == p) for p in parts}
    check(firsts == {p: 20 + p for p in parts} and len(m.msgs) == expect,
          f"member started at {firsts} with {len(m.msgs)} messages after the simple commits, expected {expect}")
    err = commit_error(s, [TopicPartition(topic, 0, 1)])
    check(err is not None and err.code() == KafkaError.UNKNOWN_MEMBER_ID,
          f"commit without membership while the group has a member: expected UNKNOWN_MEMBER_ID, got {err}")
    check(committed(s, topic, [0])[0][0] == 20, "refused simple commit changed the offset")
    m.close()
    s.close()
    log("  f: commit without membership: OK into a member-less group (next member resumes there), "
        "UNKNOWN_MEMBER_ID with a member present, UNKNOWN_TOPIC_OR_PART for unknown topic/partition")
    log("OK commits")


if __name__ == "__main__":
    main_wrapper(run)
