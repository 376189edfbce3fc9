"""Consumer-group scenarios for kafka-python 3.0.x against brokk.

    groups.py split  BOOTSTRAP N      two members split a 4-partition topic; LeaveGroup latency
    groups.py commit BOOTSTRAP STATE  commit() / commit(OffsetAndMetadata) / committed(); a new
                                      member resumes after the commit; writes STATE (JSON)
    groups.py resume BOOTSTRAP STATE  (after a broker restart) committed offsets and metadata
                                      are those of STATE; a new member resumes exactly there
    groups.py admin  BOOTSTRAP        KafkaAdminClient: list/describe groups, group offsets,
                                      alter/delete offsets, remove members, delete groups
"""
import json
import sys
import time

import kafka.errors as Errors
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.admin import MemberToRemove

from common import (Failure, Member, admin, check, consumer_conf, create_topic, log,
                    main_wrapper, produce, producer, wait_until)

SPLIT_TOPIC, SPLIT_GROUP = "kp-split", "kp-split-grp"
COMMIT_TOPIC, COMMIT_GROUP = "kp-commit", "kp-commit-grp"
ADMIN_GROUP = "kp-admin-grp"
PARTS = frozenset(range(4))


def balanced(*members):
    """Each member holds len(PARTS)/len(members) partitions, disjoint, covering PARTS."""
    asg = [m.snapshot()[1] for m in members]
    return (all(len(a) == len(PARTS) // len(members) for a in asg)
            and frozenset().union(*asg) == PARTS)


def consumed(members, prefix=b""):
    """{(partition, offset): [(member name, value)]} over the members' records."""
    out = {}
    for m in members:
        for p, o, v, _, _ in m.snapshot()[0]:
            if v.startswith(prefix):
                out.setdefault((p, o), []).append((m.name, v))
    return out


def split(bootstrap, n):
    adm = admin(bootstrap)
    create_topic(adm, SPLIT_TOPIC, 4)
    t0 = time.monotonic()
    a = Member("A", bootstrap, SPLIT_GROUP, [SPLIT_TOPIC])
    b = Member("B", bootstrap, SPLIT_GROUP, [SPLIT_TOPIC])
    wait_until(lambda: balanced(a, b), 30, "two members with 2 disjoint partitions each")
    sa, sb = a.snapshot()[1], b.snapshot()[1]
    log(f"   A={sorted(sa)} B={sorted(sb)} after {time.monotonic() - t0:.1f}s")

    prod = producer(bootstrap)
    values = [b"split-%06d" % i for i in range(n)]
    where = produce(prod, SPLIT_TOPIC, values, key_fn=lambda i: b"k%d" % i)
    expected = dict(zip(where, values))
    check(len(expected) == n, "duplicate (partition, offset) in produce acks")
    check({p for p, _ in where} == PARTS, f"keys landed only in {sorted({p for p, _ in where})}")
    wait_until(lambda: len(consumed([a, b], b"split-")) >= n, 60, f"all {n} messages consumed")

    got = consumed([a, b], b"split-")
    check(got.keys() == expected.keys(), f"consumed (partition, offset) set differs from produced: "
          f"missing {sorted(expected.keys() - got.keys())[:5]}, extra {sorted(got.keys() - expected.keys())[:5]}")
    twice = {k: v for k, v in got.items() if len(v) > 1}
    check(not twice, f"{len(twice)} messages consumed more than once, e.g. {list(twice.items())[:3]}")
    for k, [(name, v)] in got.items():
        check(v == expected[k], f"{k}: consumed {v!r}, produced {expected[k]!r}")
    for m in (a, b):
        recs = [r for r in m.snapshot()[0] if r[2].startswith(b"split-")]
        for p, o, v, _, asg in recs:
            check(p in asg, f"{m.name} consumed partition {p} offset {o} while assigned {sorted(asg)}")
        for p in PARTS:
            offs = [o for q, o, *_ in recs if q == p]
            check(offs == sorted(offs), f"{m.name}: partition {p} offsets out of order")
    per = {m.name: len([1 for r in m.snapshot()[0] if r[2].startswith(b"split-")]) for m in (a, b)}
    log(f"   {n} messages exactly once: A {per['A']}, B {per['B']}, each only from its own partitions")

    # B commits and leaves (close() sends LeaveGroup); A must take over B's partitions from
    # B's committed offsets. Latency: close() start -> A's first message from B's partitions.
    committed_b = b.call(lambda c: (c.commit(), {tp.partition: c.position(tp) for tp in c.assignment()})[1])
    na = len(a.snapshot()[0])
    b.close()
    t_leave, t_closed = b.t_close, time.monotonic()
    more = [b"after-%06d" % i for i in range(200)]
    where2 = produce(prod, SPLIT_TOPIC, more, key_fn=lambda i: b"k%d" % i)
    check({p for p, _ in where2} == PARTS, "post-leave messages did not reach all 4 partitions")

    def moved():
        return [r for r in a.snapshot()[0][na:] if r[0] in sb]
    wait_until(lambda: moved(), 30, f"A consuming from B's partitions {sorted(sb)}")
    ms = (moved()[0][3] - t_leave) * 1000
    log(f"REBALANCE_LATENCY kafka-python leave ms={ms:.0f} (close() took {(t_closed - t_leave) * 1000:.0f}ms, "
        f"session_timeout_ms=3000)")
    check(ms < 3000, f"B's partitions reached A only after {ms:.0f}ms: LeaveGroup did not trigger the rebalance")
    wait_until(lambda: len(consumed([a], b"after-")) >= len(more), 30, "A consuming all post-leave messages")
    check(a.snapshot()[1] == PARTS, f"A holds {sorted(a.snapshot()[1])} after B left")
    # A resumed B's partitions exactly at B's commit: nothing of B's re-delivered, nothing lost
    new = [r for r in a.snapshot()[0][na:] if r[0] in sb]
    for p in sb:
        offs = [o for q, o, *_ in new if q == p]
        want = sorted(o for q, o in where2 if q == p)
        check(offs == want and (not want or want[0] == committed_b[p]),
              f"A on partition {p}: consumed offsets {offs[:5]}.., want {want[:5]}.. from B's commit {committed_b[p]}")
    got2 = consumed([a], b"after-")
    check(all(len(v) == 1 for v in got2.values()) and len(got2) == len(more), "post-leave messages not exactly once")
    a.call(lambda c: c.commit())
    a.close()
    log(f"   B left after committing; A got all 4 partitions and resumed B's at B's commit "
        f"({len(more)} post-leave messages exactly once)")


def commit(bootstrap, state):
    adm = admin(bootstrap)
    create_topic(adm, COMMIT_TOPIC, 4)
    prod = producer(bootstrap)
    for p in PARTS:
        where = produce(prod, COMMIT_TOPIC, [b"commit-p%d-%04d" % (p, o) for o in range(40)], partition=p)
        check(where == [(p, o) for o in range(40)], f"partition {p}: acks at {where[:3]}..")
    tps = {p: TopicPartition(COMMIT_TOPIC, p) for p in PARTS}

    c1 = Member("C1", bootstrap, COMMIT_GROUP, [COMMIT_TOPIC])
    wait_until(lambda: len(consumed([c1])) >= 160, 30, "C1 consuming all 160 messages")
    # commit() with no arguments commits the positions (40 everywhere)
    c1.call(lambda c: c.commit())
    got = c1.call(lambda c: {p: c.committed(tp) for p, tp in tps.items()})
    check(got == {p: 40 for p in PARTS}, f"committed() after commit(): {got}")
    log("   commit() -> committed() = 40 on all 4 partitions")

    # explicit offsets with metadata (OffsetAndMetadata(offset, metadata, leader_epoch))
    explicit = {0: (12, "meta-p0"), 1: (25, "ünïcødé ✓ metadata"), 2: (40, ""), 3: (7, "m" * 300)}
    c1.call(lambda c: c.commit({tps[p]: OffsetAndMetadata(o, m, -1) for p, (o, m) in explicit.items()}))
    got = c1.call(lambda c: {p: c.committed(tp, metadata=True) for p, tp in tps.items()})
    check({p: (x.offset, x.metadata) for p, x in got.items()} == explicit,
          f"committed(metadata=True) after commit(OffsetAndMetadata): {got}")
    log("   commit({tp: OffsetAndMetadata(o, metadata, -1)}) -> committed(metadata=True) returns both")
    c1.close()

    # a new member of the group resumes exactly at the committed offsets
    c2 = Member("C2", bootstrap, COMMIT_GROUP, [COMMIT_TOPIC])
    want = {(p, o) for p, (start, _) in explicit.items() for o in range(start, 40)}
    wait_until(lambda: len(consumed([c2])) >= len(want), 30, f"C2 consuming {len(want)} messages")
    time.sleep(0.3)   # anything before the committed offsets would have come first; a margin
    got = consumed([c2])
    check(got.keys() == want, f"C2 consumed {sorted(got.keys() - want)[:5]} extra, "
          f"{sorted(want - got.keys())[:5]} missing")
    check(all(v == [("C2", b"commit-p%d-%04d" % k)] for k, v in got.items()), "C2: wrong values or duplicates")
    log(f"   a new member resumed at the committed offsets: {len(want)} messages, nothing before them")

    # the last commit before the broker restart; then more data the restart must not hide
    last = {0: (30, "c2-last-p0"), 1: (25, "ünïcødé ✓ metadata"), 2: (40, ""), 3: (20, "c2-last-p3")}
    c2.call(lambda c: c.commit({tps[0]: OffsetAndMetadata(30, "c2-last-p0", -1),
                                tps[3]: OffsetAndMetadata(20, "c2-last-p3", -1)}))
    got = c2.call(lambda c: {p: c.committed(tp, metadata=True) for p, tp in tps.items()})
    check({p: (x.offset, x.metadata) for p, x in got.items()} == last, f"committed after C2's commit: {got}")
    c2.close()
    for p in PARTS:
        where = produce(prod, COMMIT_TOPIC, [b"commit-p%d-%04d" % (p, o) for o in range(40, 50)], partition=p)
        check(where == [(p, o) for o in range(40, 50)], f"partition {p}: acks at {where[:3]}..")
    offs = adm.list_group_offsets(COMMIT_GROUP)[COMMIT_GROUP]
    check({tp.partition: (x.offset, x.metadata) for tp, x in offs.items()} == last,
          f"KafkaAdminClient.list_group_offsets: {offs}")
    with open(state, "w") as f:
        json.dump({"committed": {str(p): list(v) for p, v in last.items()}, "end": 50}, f)
    log(f"   last commit {last}; 10 more messages per partition; state in {state}")


def resume(bootstrap, state):
    with open(state) as f:
        st = json.load(f)
    last = {int(p): tuple(v) for p, v in st["committed"].items()}
    end = st["end"]
    tps = {p: TopicPartition(COMMIT_TOPIC, p) for p in PARTS}
    adm = admin(bootstrap)
    offs = adm.list_group_offsets(COMMIT_GROUP)[COMMIT_GROUP]
    check({tp.partition: (x.offset, x.metadata) for tp, x in offs.items()} == last,
          f"list_group_offsets after the restart: {offs}, want {last}")
    c = KafkaConsumer(**consumer_conf(bootstrap, COMMIT_GROUP))   # not subscribed: OffsetFetch only
    got = {p: c.committed(tp, metadata=True) for p, tp in tps.items()}
    c.close(autocommit=False)
    check({p: (x.offset, x.metadata) for p, x in got.items()} == last, f"committed() after the restart: {got}")
    log("   committed offsets and metadata intact (list_group_offsets and committed())")

    c3 = Member("C3", bootstrap, COMMIT_GROUP, [COMMIT_TOPIC])
    want = {(p, o) for p, (start, _) in last.items() for o in range(start, end)}
    wait_until(lambda: len(consumed([c3])) >= len(want), 30, f"C3 consuming {len(want)} messages")
    time.sleep(0.3)
    got = consumed([c3])
    check(got.keys() == want, f"C3 consumed {sorted(got.keys() - want)[:5]} extra, "
          f"{sorted(want - got.keys())[:5]} missing")
    check(all(v == [("C3", b"commit-p%d-%04d" % k)] for k, v in got.items()), "C3: wrong values or duplicates")
    for p in PARTS:
        first = min((o for q, o in got if q == p), default=None)
        check(first == (last[p][0] if last[p][0] < end else None), f"partition {p}: C3 started at {first}")
    c3.call(lambda c: c.commit())
    got = c3.call(lambda c: {p: c.committed(tp) for p, tp in tps.items()})
    check(got == {p: end for p in PARTS}, f"committed after C3's commit(): {got}")
    c3.close()
    log(f"   a new member resumed exactly after the last commit: {len(want)} messages "
        f"(partition starts {[last[p][0] for p in sorted(PARTS)]}), then committed {end} everywhere")


def admin_groups(bootstrap):
    adm = admin(bootstrap)
    tps = {p: TopicPartition(SPLIT_TOPIC, p) for p in PARTS}
    probe = KafkaConsumer(**consumer_conf(bootstrap, None))
    ends = {tp.partition: o for tp, o in probe.end_offsets(list(tps.values())).items()}
    probe.close()

    m1 = Member("M1", bootstrap, ADMIN_GROUP, [SPLIT_TOPIC])
    m2 = Member("M2", bootstrap, ADMIN_GROUP, [SPLIT_TOPIC])
    wait_until(lambda: balanced(m1, m2), 30, "two members with 2 partitions each")
    ids = {m.name: m.call(lambda c: c.group_metadata().member_id) for m in (m1, m2)}

    groups = {g["group_id"]: g for g in adm.list_groups()}
    for gid, state in ((ADMIN_GROUP, "Stable"), (SPLIT_GROUP, "Empty"), (COMMIT_GROUP, "Empty")):
        check(gid in groups, f"list_groups lacks {gid}: {groups}")
        check(groups[gid]["protocol_type"] == "consumer" and groups[gid]["group_state"] == state,
              f"list_groups {gid}: {groups[gid]}, want consumer/{state}")
    check(not any(g.startswith("__") for g in groups), f"list_groups shows internal entries: {list(groups)}")
    stable = [g["group_id"] for g in adm.list_groups(states_filter=["Stable"])]
    check(stable == [ADMIN_GROUP], f"list_groups(states_filter=['Stable']) = {stable}")
    log(f"   list_groups: {sorted(groups)}; states_filter=['Stable'] -> {stable}")

    d = adm.describe_groups([ADMIN_GROUP])[ADMIN_GROUP]
    check(d["error"] is None and d["group_state"] == "Stable" and d["protocol_type"] == "consumer"
          and d["protocol_data"] == "range", f"describe_groups: {d}")
    members = {x["member_id"]: x for x in d["members"]}
    check(set(members) == set(ids.values()), f"describe_groups members {list(members)}, want {ids}")
    owned = []
    for x in members.values():
        check(x["client_id"].startswith("kafka-python") and x["client_host"].endswith("127.0.0.1"),
              f"member client id/host: {x}")
        check(x["member_metadata"]["topics"] == [SPLIT_TOPIC], f"member subscription: {x}")
        [asg] = x["member_assignment"]["assigned_partitions"]
        check(asg["topic"] == SPLIT_TOPIC and len(asg["partitions"]) == 2, f"member assignment: {x}")
        owned += asg["partitions"]
    check(sorted(owned) == sorted(PARTS), f"describe_groups assignments overlap or miss: {owned}")
    log("   describe_groups: Stable, consumer/range, both members with subscription and 2 partitions each")

    # DeleteGroups on a group with members: NON_EMPTY_GROUP
    r = adm.delete_groups([ADMIN_GROUP])
    check(r == {ADMIN_GROUP: "NonEmptyGroupError"}, f"delete_groups on a live group: {r}")

    # remove_group_members (LeaveGroup v3+ with a member list)
    r = adm.remove_group_members(ADMIN_GROUP, [MemberToRemove(member_id="no-such-member")])
    check(list(r.values()) == [Errors.UnknownMemberIdError], f"remove_group_members(unknown id): {r}")
    r = adm.remove_group_members(ADMIN_GROUP, [MemberToRemove(member_id=ids["M2"])])
    check(list(r.values()) == [Errors.NoError], f"remove_group_members(M2): {r}")
    # M2 finds out (UNKNOWN_MEMBER_ID) and rejoins with a new member id
    wait_until(lambda: (balanced(m1, m2) and m2.call(lambda c: c.group_metadata().member_id) not in ("", ids["M2"])
                        and len(adm.describe_groups([ADMIN_GROUP])[ADMIN_GROUP]["members"]) == 2), 30,
               "M2 rejoining after remove_group_members")
    log("   remove_group_members: unknown id -> UnknownMemberIdError; M2 removed, rejoined with a new id")

    # the current owners (after the rebalance) have consumed to the end of their partitions
    def positions():
        pos = {}
        for m in (m1, m2):
            pos.update(m.call(lambda c: {tp.partition: c.position(tp) for tp in c.assignment()}))
        return pos
    wait_until(lambda: positions() == ends, 30, f"the members' positions reaching the end offsets {ends}", 0.2)
    for m in (m1, m2):
        m.call(lambda c: c.commit())
        m.close()
    d = adm.describe_groups([ADMIN_GROUP])[ADMIN_GROUP]
    check(d["error"] is None and d["group_state"] == "Empty" and d["members"] == [], f"describe after close: {d}")
    offs = adm.list_group_offsets(ADMIN_GROUP)[ADMIN_GROUP]
    check({tp.partition: x.offset for tp, x in offs.items()} == ends, f"list_group_offsets {offs}, ends {ends}")
    log(f"   after both close: Empty, no members; list_group_offsets = log end offsets {ends}")

    r = adm.alter_group_offsets(ADMIN_GROUP, {tps[0]: OffsetAndMetadata(5, "altered", -1)})
    check(r == {tps[0]: Errors.NoError}, f"alter_group_offsets: {r}")
    offs = adm.list_group_offsets(ADMIN_GROUP)[ADMIN_GROUP]
    check((offs[tps[0]].offset, offs[tps[0]].metadata) == (5, "altered"), f"after alter_group_offsets: {offs}")
    r = adm.delete_group_offsets(ADMIN_GROUP, [tps[0]])
    check(r == {tps[0]: Errors.NoError}, f"delete_group_offsets (OffsetDelete): {r}")
    offs = adm.list_group_offsets(ADMIN_GROUP)[ADMIN_GROUP]
    check(set(offs) == {tps[1], tps[2], tps[3]}, f"after delete_group_offsets: {offs}")
    log("   alter_group_offsets (OffsetCommit, generation -1) and delete_group_offsets (OffsetDelete) work")

    r = adm.delete_groups([ADMIN_GROUP, "kp-no-such-group"])
    check(r == {ADMIN_GROUP: "OK", "kp-no-such-group": "GroupIdNotFoundError"}, f"delete_groups: {r}")
    groups = [g["group_id"] for g in adm.list_groups()]
    check(ADMIN_GROUP not in groups, f"deleted group still listed: {groups}")
    offs = adm.list_group_offsets(ADMIN_GROUP)[ADMIN_GROUP]
    check(offs == {}, f"deleted group still has offsets: {offs}")
    d = adm.describe_groups([ADMIN_GROUP])[ADMIN_GROUP]
    check(d["group_state"] == "Dead" and d["members"] == [], f"describe_groups of the deleted group: {d}")
    log(f"   delete_groups: OK / GroupIdNotFoundError; gone from list_groups, no offsets; "
        f"describe now: state={d['group_state']!r} error={d['error']!r}")
    adm.close()


def main():
    cmd, bootstrap = sys.argv[1], sys.argv[2]
    if cmd == "split":
        split(bootstrap, int(sys.argv[3]))
    elif cmd == "commit":
        commit(bootstrap, sys.argv[3])
    elif cmd == "resume":
        resume(bootstrap, sys.argv[3])
    elif cmd == "admin":
        admin_groups(bootstrap)
    else:
        raise Failure(f"unknown command {cmd}")


if __name__ == "__main__":
    main_wrapper(main)
