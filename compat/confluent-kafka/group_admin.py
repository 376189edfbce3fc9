"""Groups 7: AdminClient consumer-group operations.

Group adm (range) with two members on a 4-partition topic; once both hold 2 partitions, 10
messages per partition are produced; the members consume everything and commit p0..p3 = 10,
then p0 again at 7 with metadata.
- list_consumer_groups: adm is listed, not simple, Stable; the states filter (ListGroups v4)
  keeps it under {STABLE} and drops it under {EMPTY}; the types filter (ListGroups v5)
  keeps it under {CLASSIC}.
- describe_consumer_groups: Stable, assignor range, the two members with their client ids
  and exactly the partitions each consumer reports via assignment(); an unknown group
  is reported as Dead without members.
- delete_consumer_groups while members are active: NON_EMPTY_GROUP.
- list_consumer_group_offsets: the committed offsets (and metadata), for the whole group and
  for named partitions (an uncommitted partition of another topic reads OFFSET_INVALID).
- alter_consumer_group_offsets while members are active: refused (UNKNOWN_MEMBER_ID, as
  Kafka: a commit without member id/generation is only accepted for an Empty group).
- after both members close: Empty, no members; alter_consumer_group_offsets succeeds and a
  new member starts exactly at the altered offsets.
- delete_consumer_groups on the Empty group succeeds; the group disappears from the list and
  its offsets are gone; deleting it again gives GROUP_ID_NOT_FOUND.
(confluent-kafka 2.12 has no Python binding for DeleteConsumerGroupOffsets / OffsetDelete.)

usage: group_admin.py BOOTSTRAP
"""
import sys

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka import ConsumerGroupType

from grouplib import (OFFSET_INVALID, Member, admin_client, balanced, group_conf, produce_batch, pump, pump_for,
                      settled, wait_state)
from common import check, create_topic, log, main_wrapper

P = 4
PER = 10


def error_of(fut, timeout=15):
    """the KafkaError a future fails with, or None if it succeeds"""
    try:
        fut.result(timeout=timeout)
        return None
    except KafkaException as e:
        return e.args[0]


def listed(admin, group, **kw):
    res = admin.list_consumer_groups(request_timeout=10, **kw).result(timeout=15)
    check(not res.errors, f"list_consumer_groups({kw}) errors: {res.errors}")
    return {g.group_id: g for g in res.valid}.get(group)


def offsets(admin, group, parts=None, timeout=15):
    req = ConsumerGroupTopicPartitions(group, parts)
    res = admin.list_consumer_group_offsets([req], request_timeout=10)[group].result(timeout=timeout)
    out = {}
    for tp in res.topic_partitions:
        check(tp.error is None, f"list_consumer_group_offsets: {tp.topic}[{tp.partition}] error {tp.error}")
        out[(tp.topic, tp.partition)] = (tp.offset, tp.metadata or "")  # librdkafka: "" -> None
    return out


def run():
    bootstrap = sys.argv[1]
    topic = group = "adm"
    create_topic(bootstrap, topic, P)
    create_topic(bootstrap, "adm-other", 1)
    admin = admin_client(bootstrap)
    members = [Member(f"adm-{i}", group_conf(bootstrap, group, **{"client.id": f"adm-{i}",
                                                                  "partition.assignment.strategy": "range"}),
                      [topic]) for i in range(2)]
    pump(members, lambda: balanced(members, topic, P, 2) and settled(members), 30, "2 members, 2 partitions each")
    produce_batch(bootstrap, topic, P, P * PER, "adm")
    pump(members, lambda: sum(len(m.msgs) for m in members) >= P * PER, 30, "all messages consumed")
    for m in members:
        m.c.commit(asynchronous=False)
    owner0 = [m for m in members if 0 in m.parts()][0]
    owner0.c.commit(offsets=[TopicPartition(topic, 0, 7, metadata="seven")], asynchronous=False)
    want = {(topic, p): (PER, "") for p in range(P)}
    want[(topic, 0)] = (7, "seven")

    # --- list
    d = wait_state(admin, group, "STABLE")
    g = listed(admin, group)
    check(g is not None, "list_consumer_groups does not list the active group")
    check(g.state == ConsumerGroupState.STABLE and not g.is_simple_consumer_group,
          f"listed as state={g.state} simple={g.is_simple_consumer_group}")
    check(listed(admin, group, states={ConsumerGroupState.STABLE}) is not None, "states={STABLE} filter drops it")
    check(listed(admin, group, states={ConsumerGroupState.EMPTY}) is None, "states={EMPTY} filter keeps it")
    g5 = listed(admin, group, types={ConsumerGroupType.CLASSIC})
    check(g5 is not None and g5.type == ConsumerGroupType.CLASSIC, f"types={{CLASSIC}} filter: {g5 and g5.type}")
    log(f"  list: {group} Stable, filters by state and type work")

    # --- describe
    check(d.partition_assignor == "range" and not d.is_simple_consumer_group, f"describe: {d.partition_assignor}")
    got = sorted((x.client_id, sorted(tp.partition for tp in x.assignment.topic_partitions)) for x in d.members)
    mine = sorted((m.name, sorted(m.parts())) for m in members)
    check(got == mine, f"describe members/assignments {got}, consumers report {mine}")
    check(all(x.host for x in d.members) and {x.member_id for x in d.members} == {m.c.memberid() for m in members},
          f"describe hosts/member ids: {[(x.host, x.member_id) for x in d.members]}")
    dead = admin.describe_consumer_groups(["adm-no-such-group"])["adm-no-such-group"]
    err = error_of(dead)
    if err is None:
        dd = dead.result()
        check(dd.state == ConsumerGroupState.DEAD and not dd.members, f"unknown group described as {dd.state}")
        unknown = "Dead, no members"
    else:
        check(err.code() == KafkaError.GROUP_ID_NOT_FOUND, f"describe unknown group: {err}")
        unknown = "GROUP_ID_NOT_FOUND"
    log(f"  describe: Stable, range, members+assignments {got}; unknown group -> {unknown}")

    # --- delete while active
    err = error_of(admin.delete_consumer_groups([group], request_timeout=10)[group])
    check(err is not None and err.code() == KafkaError.NON_EMPTY_GROUP,
          f"delete_consumer_groups on an active group: expected NON_EMPTY_GROUP, got {err}")

    # --- list offsets
    got = offsets(admin, group)
    check(got == want, f"list_consumer_group_offsets {got}, expected {want}")
    got = offsets(admin, group, [TopicPartition(topic, 0), TopicPartition("adm-other", 0)])
    check(got == {(topic, 0): (7, "seven"), ("adm-other", 0): (OFFSET_INVALID, "")},
          f"list_consumer_group_offsets for 2 partitions: {got}")
    log("  delete on an active group -> NON_EMPTY_GROUP; list offsets returns the commits (+metadata)")

    # --- alter while active
    fut = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1, 3)])],
                                             request_timeout=10)[group]
    err = error_of(fut)
    if err is None:  # librdkafka may report partition-level errors in the result instead
        errs = [tp.error for tp in fut.result().topic_partitions]
        err = errs[0] if errs else None
    check(err is not None and err.code() == KafkaError.UNKNOWN_MEMBER_ID,
          f"alter offsets of an active group: expected UNKNOWN_MEMBER_ID, got {err}")
    check(offsets(admin, group) == want, "refused alter changed the offsets")

    # --- empty group: alter, resume
    for m in members:
        m.commit_on_revoke = False
        m.close()
    d = wait_state(admin, group, "EMPTY")
    check(not d.members, f"Empty group still has members {d.members}")
    check(listed(admin, group, states={ConsumerGroupState.EMPTY}) is not None, "Empty group not listed as Empty")
    res = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1, 3, metadata="altered"),
                                              TopicPartition(topic, 2, 0)])],
        request_timeout=10)[group].result(timeout=15)
    check(all(tp.error is None for tp in res.topic_partitions), f"alter on the Empty group: {res.topic_partitions}")
    want[(topic, 1)] = (3, "altered")
    want[(topic, 2)] = (0, "")
    check(offsets(admin, group) == want, f"after alter: {offsets(admin, group)}, expected {want}")
    m = Member("adm-new", group_conf(bootstrap, group), [topic], commit_on_revoke=False)
    n_new = (PER - 7) + (PER - 3) + PER  # p0 from 7, p1 from 3, p2 from 0, p3 at the end
    pump([m], lambda: len(m.msgs) >= n_new, 30, f"new member consumes {n_new}")
    pump_for([m], 0.3)
    firsts = {p: min(o for (_, _, pp, o, _) in m.msgs if pp == p) for p in range(3)}
    check(firsts == {0: 7, 1: 3, 2: 0} and len(m.msgs) == n_new and not [x for x in m.msgs if x[2] == 3],
          f"new member started at {firsts} with {len(m.msgs)} messages, expected {{0: 7, 1: 3, 2: 0}} / {n_new}")
    m.close()
    wait_state(admin, group, "EMPTY")
    log(f"  alter on an active group -> UNKNOWN_MEMBER_ID; on the Empty group OK, new member resumed at {firsts}")

    # --- delete the empty group
    err = error_of(admin.delete_consumer_groups([group], request_timeout=10)[group])
    check(err is None, f"delete_consumer_groups on the Empty group failed: {err}")
    check(listed(admin, group) is None, "deleted group is still listed")
    got = offsets(admin, group, [TopicPartition(topic, p) for p in range(P)])
    check(all(o == OFFSET_INVALID for (o, _) in got.values()), f"offsets survive the group's deletion: {got}")
    err = error_of(admin.delete_consumer_groups([group], request_timeout=10)[group])
    check(err is not None and err.code() == KafkaError.GROUP_ID_NOT_FOUND,
          f"deleting the deleted group again: expected GROUP_ID_NOT_FOUND, got {err}")
    log("  delete on the Empty group OK: unlisted, offsets gone; again -> GROUP_ID_NOT_FOUND")
    log("OK admin")


if __name__ == "__main__":
    main_wrapper(run)
