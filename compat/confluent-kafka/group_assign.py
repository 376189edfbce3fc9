"""Groups 1: assignment strategy STRATEGY (range | roundrobin | cooperative-sticky).

1. Three members subscribe to a fresh 6-partition topic. Once each holds exactly 2 partitions
   (disjoint, union = all 6) and the group is Stable, N messages are produced; the members
   must consume every one exactly once between them, each only from its own partitions, with
   no rebalance while they do. Every member then commits synchronously.
2. Phase-2 messages are produced to all 6 partitions while member m0 is not polled; the two
   survivors consume the ones on their own partitions. m0 then close()s (LeaveGroup); the
   survivors must take over its two partitions (3 each, union = all 6) and consume every
   phase-2 message exactly once, m0's starting exactly at its commit. Revoke callbacks commit
   synchronously, so an eager reshuffle between the survivors loses and repeats nothing.
   With cooperative-sticky the survivors must keep their partitions (no revocation).
   The rebalance latency is the time from close() returning to the first message a survivor
   gets from one of m0's partitions: printed as REBALANCE_LATENCY strategy=... ms=...

No partition may be held by two members at once (Ledger, fed by the callbacks).

usage: group_assign.py BOOTSTRAP STRATEGY [N]
"""
import sys
import time

from grouplib import (Ledger, Member, admin_client, balanced, check_exactly_once, committed, group_conf,
                      produce_batch, pump, pump_for, received, settled, wait_state)
from common import check, create_topic, log, main_wrapper

P = 6


def run():
    bootstrap, strategy = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    topic = group = f"assign-{strategy}"
    create_topic(bootstrap, topic, P)
    admin = admin_client(bootstrap)
    ledger = Ledger()
    conf = dict(group_conf(bootstrap, group), **{"partition.assignment.strategy": strategy})
    members = [Member(f"m{i}", dict(conf, **{"client.id": f"m{i}"}), [topic], ledger) for i in range(3)]

    # --- 1: three members, 2 partitions each
    t0 = time.monotonic()
    pump(members, lambda: balanced(members, topic, P, 2) and settled(members), 30,
         "3 members with 2 partitions each, all in the same generation")
    d = wait_state(admin, group, "STABLE")
    check(len(d.members) == 3, f"describe: {len(d.members)} members, expected 3")
    check(d.partition_assignor == strategy, f"describe: assignor {d.partition_assignor!r}, expected {strategy!r}")
    owned = {m.name: sorted(m.parts()) for m in members}
    log(f"  stable after {time.monotonic() - t0:.2f}s: {owned}")
    events_before = [len(m.events) for m in members]

    t1 = time.monotonic()
    phase1 = produce_batch(bootstrap, topic, P, n, "p1")
    pump(members, lambda: len(received(members)) >= n, 60, f"{n} phase-1 messages consumed")
    pump_for(members, 0.3)  # a duplicate would show up here
    check_exactly_once(received(members), phase1, "phase 1")
    for m in members:
        foreign = {p for (_, _, p, _, _) in m.msgs} - m.parts()
        check(not foreign, f"{m.name} got messages from partitions {foreign} it does not own")
    check([len(m.events) for m in members] == events_before,
          f"rebalance during phase 1: {[m.events[b:] for m, b in zip(members, events_before)]}")
    ledger.check()
    per_member = {m.name: len(m.msgs) for m in members}
    log(f"  phase 1: {n} messages exactly once in {time.monotonic() - t1:.2f}s, per member {per_member}")

    hw = {p: 0 for p in range(P)}
    for (p, o) in phase1:
        hw[p] = max(hw[p], o + 1)
    for m in members:
        res = m.c.commit(asynchronous=False)
        got = {tp.partition: tp.offset for tp in res if tp.error is None}
        check(got == {p: hw[p] for p in m.parts()}, f"{m.name} commit returned {res}")
        check({p: o for p, (o, _) in committed(m.c, topic, m.parts()).items()} == got,
              f"{m.name}: committed() does not match the commit")

    # --- 2: m0 leaves; survivors take over
    victim, survivors = members[0], members[1:]
    victim_parts = victim.parts()
    surv_before = {m.name: m.parts() for m in survivors}
    surv_events = [len(m.events) for m in survivors]
    n2 = 600
    t_p2 = time.monotonic()
    phase2 = produce_batch(bootstrap, topic, P, n2, "p2")
    own2 = sum(1 for (p, _) in phase2 if p not in victim_parts)
    pump(survivors, lambda: len(received(survivors, since=t_p2)) >= own2, 30,
         "survivors consume phase-2 messages of their own partitions")

    victim.close()
    t_close = time.monotonic()

    def first_takeover():
        ts = [ts for m in survivors for (ts, _, p, _, _) in m.msgs if ts >= t_close and p in victim_parts]
        return min(ts) if ts else None

    pump(survivors, lambda: first_takeover() is not None, 30, f"survivors consume from m0's partitions {victim_parts}")
    latency_ms = (first_takeover() - t_close) * 1000
    pump(survivors, lambda: balanced(survivors, topic, P, 3) and settled(survivors) and
         len(received(survivors, since=t_p2)) >= n2, 30,
         f"survivors own 3 partitions each and consume all {n2} phase-2 messages")
    # when the survivors held all of m0's partitions (the coordination part of the latency;
    # the rest is the fetch pickup: a Fetch already parked for up to fetch.wait.max.ms=500
    # has to come back before the new partitions can be fetched)
    got_all = [ts for m in survivors for (ts, kind, ks) in m.events
               if ts >= t_close and kind == "assign" and {p for _, p in ks} & victim_parts]
    assigned_ms = (max(got_all) - t_close) * 1000 if got_all else -1
    log(f"REBALANCE_LATENCY strategy={strategy} ms={latency_ms:.0f} assigned_ms={assigned_ms:.0f}")
    pump_for(survivors, 0.3)
    check_exactly_once(received(survivors, since=t_p2), phase2, "phase 2")
    ledger.check()
    for m in survivors:
        check(not m.revoke_commit_errors, f"{m.name}: commit in revoke callback failed: {m.revoke_commit_errors}")
    taken = {p: min(o for (pp, o, _) in received(survivors, since=t_close) if pp == p) for p in victim_parts}
    check(taken == {p: hw[p] for p in victim_parts},
          f"survivors did not resume m0's partitions at its commit: first offsets {taken}, committed {hw}")
    if strategy == "cooperative-sticky":
        for m, b in zip(survivors, surv_events):
            revoked = [e for e in m.events[b:] if e[1] != "assign"]
            check(not revoked, f"cooperative-sticky: {m.name} had partitions revoked: {revoked}")
            check(surv_before[m.name] < m.parts(), f"not sticky: {m.name} {surv_before[m.name]} -> {m.parts()}")
    d = wait_state(admin, group, "STABLE")
    check(len(d.members) == 2, f"describe after leave: {len(d.members)} members, expected 2")
    after = {m.name: sorted(m.parts()) for m in survivors}
    for m in survivors:
        m.close()
    log(f"OK assign {strategy}: phase1 {n} exactly once, m0 {sorted(victim_parts)} -> {after}, "
        f"phase2 {n2} exactly once, latency {latency_ms:.0f} ms")


if __name__ == "__main__":
    main_wrapper(run)
