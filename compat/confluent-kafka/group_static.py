"""Groups 3: static membership (KIP-345, group.instance.id).

Three members with group.instance.id static-0..2 (range, session.timeout.ms=6000) on a
6-partition topic. Once Stable, each one in turn (so the group leader is certainly among
them) is restarted: close() -- a static member sends no LeaveGroup -- then, while it is
down, messages are produced to every partition, then a new consumer with the same
group.instance.id subscribes. Checks:
- the restarted member gets exactly its old partitions back, and a new member id;
- the OTHER members see no rebalance: no assign/revoke/lost callback fires on them during
  the restarts nor in a quiet window of 4 heartbeat intervals afterwards;
- every message is consumed exactly once (members commit before close, the restarted one
  resumes at its commit);
- describe_consumer_groups lists the three instance ids, Stable, and the new member ids.

usage: group_static.py BOOTSTRAP
"""
import sys
import time

from grouplib import (Ledger, Member, admin_client, balanced, check_exactly_once, group_conf, produce_batch, pump,
                      generation, pump_for, received, settled, wait_state)
from common import check, create_topic, log, main_wrapper

P = 6


def run():
    bootstrap = sys.argv[1]
    topic = group = "static"
    create_topic(bootstrap, topic, P)
    admin = admin_client(bootstrap)
    ledger = Ledger()

    def conf(i):
        return group_conf(bootstrap, group, **{"group.instance.id": f"static-{i}", "client.id": f"static-{i}",
                                               "partition.assignment.strategy": "range"})

    members = [Member(f"static-{i}", conf(i), [topic], ledger) for i in range(3)]
    pump(members, lambda: balanced(members, topic, P, 2) and settled(members), 30,
         "3 static members with 2 partitions each, in one generation")
    d = wait_state(admin, group, "STABLE")
    ids = sorted((x.group_instance_id, x.member_id) for x in d.members)
    check([i for i, _ in ids] == [f"static-{i}" for i in range(3)], f"describe: instance ids {ids}")
    for m in members:
        check(m.c.memberid() in [mid for _, mid in ids], f"{m.name}: member id {m.c.memberid()} not in {ids}")
    assignment = {m.name: m.parts() for m in members}
    log(f"  stable: {({k: sorted(v) for k, v in assignment.items()})}")

    expected = produce_batch(bootstrap, topic, P, 600, "s0")
    pump(members, lambda: len(received(members)) >= len(expected), 30, "initial 600 messages")
    all_members = list(members)  # every Member object ever created (their msgs count)

    for i in range(3):
        old = members[i]
        others = [m for m in members if m is not old]
        marks = [len(m.events) for m in others]
        old.c.commit(asynchronous=False)
        old_id = old.c.memberid()
        gen = generation(old.c)
        old.close()
        t_close = time.monotonic()
        expected.update(produce_batch(bootstrap, topic, P, 300, f"s{i + 1}"))
        new = Member(f"static-{i}", conf(i), [topic], ledger)
        all_members.append(new)
        members[i] = new
        pump(members, lambda: new.parts(), 20, f"restarted static-{i} gets an assignment")
        back_ms = (time.monotonic() - t_close) * 1000
        check(new.parts() == assignment[old.name], f"static-{i} got {sorted(new.parts())} back, "
                                                   f"had {sorted(assignment[old.name])}")
        check(new.c.memberid() != old_id, f"static-{i} kept member id {old_id} across the restart")
        gens = [generation(m.c) for m in members]
        check(gens == [gen] * 3, f"generation {gen} before the restart of static-{i}, now {gens} (new member at {i})")
        pump(members, lambda: len(received(all_members)) >= len(expected), 30, "messages produced during the restart")
        check([len(m.events) for m in others] == marks,
              f"restart of static-{i} made the others rebalance: {[m.events[b:] for m, b in zip(others, marks)]}")
        log(f"  static-{i} restarted: same partitions {sorted(new.parts())} after {back_ms:.0f} ms, generation {gen}, "
            f"member id {old_id[-12:]} -> {new.c.memberid()[-12:]}, no callbacks on the others")

    marks = [len(m.events) for m in members]
    pump_for(members, 2.0)  # 4 heartbeat intervals: a late rebalance would show here
    check([len(m.events) for m in members] == marks,
          f"late rebalance after the restarts: {[m.events[b:] for m, b in zip(members, marks)]}")
    check_exactly_once(received(all_members), expected, "static group")
    ledger.check()
    d = wait_state(admin, group, "STABLE")
    ids2 = sorted((x.group_instance_id, x.member_id) for x in d.members)
    check(ids2 == sorted((m.name, m.c.memberid()) for m in members), f"describe after restarts: {ids2}")
    for m in members:
        m.close()
    log(f"OK static: 3 restarts, same assignment, no rebalance on the others, {len(expected)} messages exactly once")


if __name__ == "__main__":
    main_wrapper(run)
