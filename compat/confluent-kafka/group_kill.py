"""Groups 6: a member killed with SIGKILL (no LeaveGroup, no commit on close).

Group kill-g (range, session.timeout.ms=2000, heartbeat.interval.ms=300) on a 6-partition
topic: two members in this process and one child process (this script with --child). The
child processes at-least-once: it prints every message ("MSG p off value", flushed) and only
then stores its offset (enable.auto.offset.store=false), auto-committing every 100 ms; it
sleeps 5 ms per message so it is mid-stream when it is killed.

1. Once the three members hold 2 partitions each, batch A (600) is produced. When the
   child has printed at least 40 messages it gets SIGKILL and batch B (600) is produced.
2. The survivors must take over the child's partitions (3 each, union = all 6) once its
   session expires: not before 1.5 s (the coordinator must not drop it early: a session
   is only ended by LeaveGroup or expiry) and within session timeout + 3 s.
3. Every message of A and B is consumed at least once (child's printed messages +
   survivors'); duplicates only on the child's partitions and fewer than the child
   printed (it committed progress, and the survivors resumed from that commit).

usage: group_kill.py BOOTSTRAP
       group_kill.py --child BOOTSTRAP GROUP TOPIC   (internal)
"""
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition

from grouplib import (Ledger, Member, admin_client, balanced, group_conf, produce_batch, pump, pump_for, received,
                      settled)
from common import check, create_topic, log, main_wrapper

P = 6
SESSION_MS = 2000
HEARTBEAT_MS = 300


def conf(bootstrap, group, **extra):
    return group_conf(bootstrap, group, **dict({"session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
                                                "partition.assignment.strategy": "range"}, **extra))


def child(bootstrap, group, topic):
    c = Consumer(conf(bootstrap, group, **{"enable.auto.commit": True, "auto.commit.interval.ms": 100,
                                           "enable.auto.offset.store": False, "client.id": "child"}))

    def on_assign(cons, parts):
        print("ASSIGNED " + ",".join(str(tp.partition) for tp in parts), flush=True)

    def on_revoke(cons, parts):
        print("REVOKED " + ",".join(str(tp.partition) for tp in parts), flush=True)

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while True:  # until killed
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            print(f"ERROR {m.error()}", flush=True)
            continue
        print(f"MSG {m.partition()} {m.offset()} {m.value().decode()}", flush=True)
        c.store_offsets(offsets=[TopicPartition(m.topic(), m.partition(), m.offset() + 1)])
        time.sleep(0.005)


def run():
    if sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    bootstrap = sys.argv[1]
    topic = group = "kill-g"
    create_topic(bootstrap, topic, P)
    admin = admin_client(bootstrap)
    ledger = Ledger()
    members = [Member(f"s{i}", conf(bootstrap, group, **{"client.id": f"s{i}"}), [topic], ledger) for i in range(2)]

    # PR_SET_PDEATHSIG: the child dies with this process even if it is SIGKILLed (suite timeout)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", bootstrap, group, topic],
                            stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    child_parts = set()
    child_msgs = []  # (p, off, value)

    def drain():
        nonlocal child_parts
        while True:
            try:
                x = lines.get_nowait().split()
            except queue.Empty:
                return
            if x[0] == "ASSIGNED":
                child_parts = {int(p) for p in x[1].split(",")} if len(x) > 1 else set()
            elif x[0] == "REVOKED":
                child_parts = set()
            elif x[0] == "MSG":
                child_msgs.append((int(x[1]), int(x[2]), x[3].encode()))
            else:
                raise AssertionError(f"child: {' '.join(x)}")

    try:
        def three_way():
            drain()
            owned = sorted(list(child_parts) + [p for m in members for p in m.parts()])
            return (len(child_parts) == 2 and all(len(m.parts()) == 2 for m in members) and owned == list(range(P))
                    and settled(members))

        pump(members, three_way, 30, "child and 2 in-process members with 2 partitions each")
        check(proc.poll() is None, "child exited")
        cp = set(child_parts)
        log(f"  child holds {sorted(cp)}, survivors {[sorted(m.parts()) for m in members]}")
        expected = produce_batch(bootstrap, topic, P, 600, "A")

        def child_printed(k):
            drain()
            return len(child_msgs) >= k

        pump(members, lambda: child_printed(40), 20, "child prints 40 messages")
        proc.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        proc.wait(10)
        drain()
        at_kill = len(child_msgs)
        expected.update(produce_batch(bootstrap, topic, P, 600, "B"))

        pump(members, lambda: balanced(members, topic, P, 3) and settled(members), SESSION_MS / 1000 + 10,
             "survivors take over")
        took = time.monotonic() - t_kill
        log(f"  child SIGKILLed after printing {at_kill} messages; survivors own "
            f"{[sorted(m.parts()) for m in members]} {took * 1000:.0f} ms later (session.timeout.ms={SESSION_MS})")
        check(took >= 1.5, f"child's partitions moved {took:.2f}s after SIGKILL, before its {SESSION_MS} ms session "
                           f"could expire")
        check(took <= SESSION_MS / 1000 + 3, f"takeover took {took:.2f}s (session.timeout.ms={SESSION_MS})")

        total = len(expected)
        seen = lambda: {(p, o) for (p, o, _) in received(members) + child_msgs}  # noqa: E731
        pump(members, lambda: len(seen() & set(expected)) >= total, 30, f"all {total} messages at least once")
        pump_for(members, 0.3)
        allgot = received(members) + child_msgs
        wrong = [(p, o) for (p, o, v) in allgot if expected.get((p, o)) != v]
        check(not wrong, f"unexpected or altered messages at {wrong[:5]}")
        missing = set(expected) - seen()
        check(not missing, f"{len(missing)} messages lost across the kill, e.g. {sorted(missing)[:5]}")
        keys = [(p, o) for (p, o, _) in allgot]
        dups = {k for k in keys if keys.count(k) > 1}
        check(all(p in cp for (p, _) in dups), f"duplicates outside the killed member's partitions: "
                                               f"{sorted(k for k in dups if k[0] not in cp)[:5]}")
        check(len(dups) < at_kill, f"{len(dups)} redelivered >= {at_kill} the child printed: its commits were not used")
        surv_keys = [(p, o) for (p, o, _) in received(members)]
        check(len(surv_keys) == len(set(surv_keys)), "a survivor got a message twice")
        resumed = {p: min(o for (pp, o, _) in received(members) if pp == p) for p in cp}
        last = {p: max([o for (pp, o, _) in child_msgs if pp == p], default=-1) for p in cp}
        ledger.check()
        d = admin.describe_consumer_groups([group])[group].result(10)
        check(len(d.members) == 2 and "child" not in [x.client_id for x in d.members],
              f"describe after the kill: {[(x.client_id, x.member_id) for x in d.members]}")
        for m in members:
            m.close()
        log(f"OK kill: {total} messages at least once; {len(dups)} redelivered on the child's partitions "
            f"(child's last printed {last}, survivors resumed at {resumed})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main_wrapper(run)
