"""Groups 4: publish/subscribe vs queue on one 6-partition topic.

Group ps-solo has one member, group ps-shared three (range). Once both are Stable (solo
holds all 6 partitions, the shared members 2 each) N messages are produced. Each group must
receive every message exactly once: ps-solo all N, ps-shared all N split between its
members, each message to exactly one member and only from that member's partitions.

usage: group_pubsub.py BOOTSTRAP [N]
"""
import sys
import time

from grouplib import (Ledger, Member, balanced, check_exactly_once, group_conf, produce_batch, pump, pump_for,
                      received, settled)
from common import check, create_topic, log, main_wrapper

P = 6


def run():
    bootstrap = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    topic = "pubsub"
    create_topic(bootstrap, topic, P)
    solo = Member("solo", group_conf(bootstrap, "ps-solo"), [topic], Ledger())
    ledger = Ledger()
    shared = [Member(f"shared-{i}", group_conf(bootstrap, "ps-shared", **{"partition.assignment.strategy": "range"}),
                     [topic], ledger) for i in range(3)]
    everyone = [solo] + shared
    pump(everyone, lambda: balanced([solo], topic, P, P) and balanced(shared, topic, P, 2) and settled([solo])
         and settled(shared), 30,
         "ps-solo with 6 partitions, ps-shared with 2 per member")
    marks = [len(m.events) for m in everyone]
    t0 = time.monotonic()
    data = produce_batch(bootstrap, topic, P, n, "ps")
    pump(everyone, lambda: len(solo.msgs) >= n and len(received(shared)) >= n, 60, f"both groups consume {n}")
    pump_for(everyone, 0.3)  # anything beyond N would be a duplicate
    took = time.monotonic() - t0
    check_exactly_once(received([solo]), data, "ps-solo")
    check_exactly_once(received(shared), data, "ps-shared")
    for m in shared:
        foreign = {p for (_, _, p, _, _) in m.msgs} - m.parts()
        check(not foreign, f"{m.name} got messages from partitions {foreign} it does not own")
    check([len(m.events) for m in everyone] == marks, "rebalance while consuming")
    ledger.check()
    split = {m.name: len(m.msgs) for m in shared}
    for m in everyone:
        m.close()
    log(f"OK pubsub: ps-solo got all {n}, ps-shared got all {n} split {split}, each exactly once ({took:.2f}s)")


if __name__ == "__main__":
    main_wrapper(run)
