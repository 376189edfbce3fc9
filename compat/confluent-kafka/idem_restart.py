"""Scenario i2: an idempotent producer keeps producing while brokk is stopped (SIGTERM or
SIGKILL) and restarted on the same data dir, with one appended batch per partition whose
answer the producer never got.

  idem_restart.py produce BROKER PROXY_PORT TOPIC N OUT_JSON
      The broker advertises 127.0.0.1:PROXY_PORT; idem_proxy.py runs there without kills.
      Creates TOPIC (3 partitions, 128 KiB segments: the partitions roll, and brokk writes
      a producer snapshot at each roll) and sends N keyed messages at about 20k msg/s.
      Once a third is acknowledged it freezes the proxy: the last Produce answer is
      swallowed (its batches are appended, the producer does not know) and nothing more
      passes; it prints "FROZEN ..." when that happened. The caller then stops and
      restarts the broker. The producer goes on producing all along, and flushes at the
      end. Checks: every delivery report succeeds with per-partition offsets exactly 0..n-1
      in production order; every swallowed batch was sent again after the restart and
      answered with its original offset (brokk recognised the duplicate from the producer
      state it reloaded); no Produce error; librdkafka kept one producer id at epoch 0.
  idem_restart.py snapshots DATA_DIR TOPIC OUT_JSON
      (between the stop and the restart) the newest .snapshot of each partition.
  idem_restart.py verify BROKER TOPIC IN_JSON DATA_DIR [SNAP_JSON]
      Reads the topic straight from brokk: each message exactly once, in production order,
      at its delivered offset; on disk every batch is the producer's at epoch 0 with base
      sequence == base offset. With SNAP_JSON (the SIGTERM case): each partition's snapshot
      sits at the log end of the stop and holds exactly this producer, epoch 0, and the
      last batch before the stop (the swallowed one where there was one).
"""
import argparse
import json
import os
import time

from confluent_kafka import Producer

from common import check, create_topic, log, main_wrapper, producer_conf
from idemlib import (Deliveries, ProxyProc, RdStats, check_disk_sequences, check_log_exact, disk_batches,
                     key_of, read_back, read_json, read_snapshots, show, value_of, write_json)

NPARTS = 3


def produce(a):
    proxy = ProxyProc(a.proxy_port, a.broker)
    via = f"127.0.0.1:{a.proxy_port}"
    try:
        create_topic(via, a.topic, NPARTS, config={"segment.bytes": str(128 * 1024)})
        dr = Deliveries(a.n)
        stats = RdStats()
        p = Producer(producer_conf(via, **{
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.num.messages": 500,
            "message.timeout.ms": 60_000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 100,
            "retry.backoff.ms": 20,
            "log.connection.close": False,
            "statistics.interval.ms": 200,
            "stats_cb": stats,
            "on_delivery": dr,
        } | ({"debug": os.environ["CK_DEBUG"]} if os.environ.get("CK_DEBUG") else {})))
        t0 = time.monotonic()
        freeze_at = a.n // 3
        frozen = None
        t_frozen = t_back = None
        i = 0
        while i < a.n:
            try:
                p.produce(a.topic, value=value_of(a.topic, i), key=key_of(i))
                i += 1
            except BufferError:
                p.poll(0.05)
                continue
            if i % 200 == 0:
                p.poll(0.01)  # serve delivery reports; caps the rate at ~20k msg/s
                if frozen is None and dr.acked >= freeze_at:
                    if t_frozen is None:
                        proxy.send(a.freeze)
                        t_frozen = time.monotonic()
                    line = proxy.poll_event("FROZEN")
                    if line:
                        frozen = json.loads(line.split(" ", 2)[2])
                        acked_at_freeze = dr.acked
                        log(f"FROZEN acked={dr.acked} produced={i} swallowed={frozen}")
                    else:
                        check(time.monotonic() - t_frozen < 10, "the proxy did not freeze within 10s")
                elif frozen is not None and t_back is None and dr.acked > acked_at_freeze:
                    t_back = time.monotonic()
        check(frozen is not None, f"all {a.n} produced before the proxy froze (acked {dr.acked})")
        left = p.flush(60)
        t_back = t_back or time.monotonic()
        elapsed = time.monotonic() - t0
        rd = stats.fresh(p)
        p = None  # destroyed before the proxy goes away
        px = proxy.stats()
    finally:
        proxy.close()
    check(left == 0, f"{left} messages still undelivered after flush(60)")
    write_json(a.out, {"n": a.n, "deliveries": dr.to_json(), "librdkafka": rd, "proxy": px, "frozen": frozen})

    log(f"   produced {a.n} in {elapsed:.1f}s; the first new acknowledgement came {t_back - t_frozen:.1f}s after "
        f"the freeze (stop + restart)")
    show("proxy", {k: px.get(k, 0) for k in ("connections", "broker_connect_refused", "produce_requests",
                                              "batches_sent", "batches_resent", "swallowed_batches",
                                              "swallowed_batches_deduplicated", "produce_unanswered")}
         | {"error_codes": px["error_codes"]})
    show("librdkafka", rd | {"messages_resent": (rd["txmsgs"] or 0) - a.n})
    dr.check_exact(NPARTS)
    check(px["n_violations"] == 0, f"proxy saw {px['n_violations']} violations: {px['violations']}")
    check(not px["error_codes"], f"Produce answers with errors: {px['error_codes']}")
    ok_frozen = [b for b in frozen if b[6] == 0]
    check(ok_frozen and len(ok_frozen) == len(frozen), f"the swallowed answer was not a plain success: {frozen}")
    check(px["swallowed_batches"] == len(frozen) and px["swallowed_batches_deduplicated"] == len(frozen),
          f"{len(frozen)} batches swallowed at the freeze, {px['swallowed_batches_deduplicated']} of them "
          f"answered as duplicates after the restart (proxy: {px['swallowed_batches']} swallowed)")
    check(rd["epoch_cnt"] == 1 and rd["producer_epoch"] == 0 and len(rd["pids_seen"]) == 1,
          f"the producer id/epoch changed: {rd}")
    log(f"   every delivery report OK, offsets 0..n-1 per partition in production order; the {len(frozen)} "
        f"swallowed batch(es) were retried after the restart and answered with their original offsets "
        f"{[(b[1], b[7]) for b in frozen]} (partition, offset); one producer id {rd['producer_id']}, epoch 0")


def snapshots(a):
    out = {}
    for p in range(NPARTS):
        snaps = read_snapshots(a.data_dir, a.topic, p)
        check(snaps, f"{a.topic}/{p}: no .snapshot file after the stop")
        off = max(snaps)
        out[p] = {"offset": off, "entries": {str(k): v for k, v in snaps[off].items()}, "all": sorted(snaps)}
    write_json(a.out, out)
    log("   snapshots at the stop: " + ", ".join(f"p{p}@{v['offset']} ({len(v['all'])} files)" for p, v in out.items()))


def verify(a):
    d = read_json(a.in_json)
    n, dels, pid = d["n"], d["deliveries"], d["librdkafka"]["producer_id"]
    got = read_back(a.broker, a.topic, NPARTS)
    layout = {p: [] for p in range(NPARTS)}
    for i, p in enumerate(dels["part"]):
        layout[p].append(i)
    check_log_exact(got, a.topic, layout)
    nb = check_disk_sequences(a.data_dir, a.topic, NPARTS, pid)
    log(f"   read back {n} messages straight from brokk: each exactly once, in production order per partition "
        f"({', '.join(str(len(layout[p])) for p in range(NPARTS))}); {nb} batches on disk, all producer {pid} "
        f"epoch 0 with base sequence == base offset")
    if not a.snap_json:
        return
    snaps = read_json(a.snap_json)
    frozen = {b[1]: b for b in d["frozen"]}
    for p in range(NPARTS):
        s = snaps[str(p)]
        off, entries = s["offset"], s["entries"]
        check(list(entries) == [str(pid)], f"{a.topic}/{p}: snapshot at {off} has producers {list(entries)}, "
                                           f"expected only {pid}")
        epoch, last_seq, last_off, delta = entries[str(pid)]
        check(epoch == 0 and last_off == off - 1 and last_seq == last_off,
              f"{a.topic}/{p}: snapshot at {off}: epoch {epoch}, last sequence {last_seq}, last offset {last_off}")
        batch = [b for b in disk_batches(a.data_dir, a.topic, p) if b[0] + b[1] - 1 == last_off]
        check(len(batch) == 1 and batch[0][1] == delta + 1,
              f"{a.topic}/{p}: the snapshot's last batch ({last_off - delta}..{last_off}) is not a batch on disk")
        if p in frozen:
            _t, _p, fpid, fepoch, fseq, fcount, _err, fbase = frozen[p]
            check((fpid, fepoch, fseq + fcount - 1, fbase + fcount - 1, fcount - 1) ==
                  (pid, epoch, last_seq, last_off, delta),
                  f"{a.topic}/{p}: snapshot {entries} is not the swallowed batch {frozen[p]}")
    where = ", ".join(f"p{p}@{snaps[str(p)]['offset']}" for p in range(NPARTS))
    log(f"   the SIGTERM snapshots sit at the log end of the stop ({where}) and hold producer {pid} epoch 0 "
        f"with its last batch, the swallowed one in partition(s) {sorted(frozen)}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("produce")
    pp.add_argument("broker")
    pp.add_argument("proxy_port", type=int)
    pp.add_argument("topic")
    pp.add_argument("n", type=int)
    pp.add_argument("out")
    pp.add_argument("--freeze", default="freeze", help='"freeze" or "blackhole K" (see idem_proxy.py)')
    sp = sub.add_parser("snapshots")
    sp.add_argument("data_dir")
    sp.add_argument("topic")
    sp.add_argument("out")
    vp = sub.add_parser("verify")
    vp.add_argument("broker")
    vp.add_argument("topic")
    vp.add_argument("in_json")
    vp.add_argument("data_dir")
    vp.add_argument("snap_json", nargs="?")
    a = ap.parse_args()
    main_wrapper(lambda: {"produce": produce, "snapshots": snapshots, "verify": verify}[a.cmd](a))


if __name__ == "__main__":
    main()
