"""Scenario i1: an idempotent producer through a proxy that keeps killing its connections.

  idem_chaos.py produce BROKER PROXY_PORT TOPIC N IDEMPOTENT OUT_JSON [--kill-kb MIN-MAX] [--seed S]
      The broker advertises 127.0.0.1:PROXY_PORT. Starts idem_proxy.py there (forwarding to
      BROKER, killing connections, see idem_proxy.py), creates TOPIC (3 partitions) through
      it and sends N keyed messages (enable.idempotence=IDEMPOTENT, 1 or 0). Writes the
      delivery reports and the proxy's and librdkafka's counts to OUT_JSON.
      IDEMPOTENT=1 checks: every delivery report succeeds, and in each partition the
      offsets in production order are exactly 0..n-1; the proxy swallowed at least one
      successful Produce answer, every such batch was sent again and answered with its
      original offset, no retry was ever answered with another offset, no Produce error;
      librdkafka kept one producer id at epoch 0.
  idem_chaos.py verify BROKER TOPIC IN_JSON DATA_DIR
      After a restart without the proxy: reads the topic straight from brokk. IDEMPOTENT=1:
      each message exactly once, in production order per partition, at its delivered offset;
      on disk every batch is the producer's at epoch 0 with base sequence == base offset.
      IDEMPOTENT=0 (contrast): counts duplicates and reorderings, checks only that every
      delivered message is at its delivered offset.
"""
import argparse
import os
import time

from confluent_kafka import Producer

from common import check, create_topic, log, main_wrapper, producer_conf
from idemlib import (Deliveries, ProxyProc, RdStats, check_disk_sequences, check_log_exact, index_of,
                     key_of, read_back, read_json, show, value_of, write_json)

NPARTS = 3


def produce(a):
    proxy = ProxyProc(a.proxy_port, a.broker, "--kill-kb", a.kill_kb, "--seed", str(a.seed))
    via = f"127.0.0.1:{a.proxy_port}"
    try:
        create_topic(via, a.topic, NPARTS)
        dr = Deliveries(a.n)
        stats = RdStats()
        conf = {
            "enable.idempotence": bool(a.idempotent),
            "linger.ms": 5,
            "batch.num.messages": 2000,
            "message.timeout.ms": 60_000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 100,  # librdkafka doubles it at every reconnect
            "log.connection.close": False,  # the proxy's kills are expected
            "retry.backoff.ms": 20,
            "statistics.interval.ms": 200,
            "stats_cb": stats,
            "on_delivery": dr,
        }
        if os.environ.get("CK_DEBUG"):
            conf["debug"] = os.environ["CK_DEBUG"]
        if not a.idempotent:
            conf["max.in.flight.requests.per.connection"] = 5  # what idempotence implies
        p = Producer(producer_conf(via, **conf))
        t0 = time.monotonic()
        i = 0
        while i < a.n:
            try:
                p.produce(a.topic, value=value_of(a.topic, i), key=key_of(i))
                i += 1
            except BufferError:
                p.poll(0.05)
                continue
            if i % 1000 == 0:
                p.poll(0)
        left = p.flush(90)
        elapsed = time.monotonic() - t0
        rd = stats.fresh(p)
        p = None  # destroyed before the proxy goes away
        px = proxy.stats()
        kills = proxy.kills()
    finally:
        proxy.close()
    check(left == 0, f"{left} messages still undelivered after flush(90)")
    out = {"n": a.n, "idempotent": a.idempotent, "deliveries": dr.to_json(), "librdkafka": rd, "proxy": px}
    write_json(a.out, out)

    log(f"   produced {a.n} in {elapsed:.1f}s through the proxy; {len(kills)} connections killed "
        f"({px.get('kills_response', 0)} after the broker answered, {px.get('kills_cut', 0)} mid-request)")
    show("proxy", {k: px.get(k, 0) for k in ("connections", "produce_requests", "batches_sent", "batches_resent",
                                              "produce_responses_swallowed", "swallowed_batches",
                                              "swallowed_batches_deduplicated",
                                              "duplicates_answered_with_original_offset", "produce_unanswered",
                                              "batches_never_answered_ok",
                                              "broker_connect_refused")}
         | {"error_codes": px["error_codes"]})
    show("librdkafka", rd | {"messages_resent": (rd["txmsgs"] or 0) - a.n})
    if not a.idempotent:
        log(f"   delivery errors: {len(dr.errors)}")
        return
    dr.check_exact(NPARTS)
    check(px["n_violations"] == 0, f"proxy saw {px['n_violations']} violations: {px['violations']}")
    check(not px["error_codes"], f"Produce answers with errors: {px['error_codes']}")
    check(px.get("kills_response", 0) >= 1 and px["swallowed_batches"] >= 1,
          "no successful Produce answer was swallowed: the scenario did not force a duplicate")
    check(px["swallowed_batches_deduplicated"] == px["swallowed_batches"],
          f"{px['swallowed_batches']} appended batches lost their answer but only "
          f"{px['swallowed_batches_deduplicated']} were retried and answered as duplicates")
    check(rd["epoch_cnt"] == 1 and rd["producer_epoch"] == 0 and len(rd["pids_seen"]) == 1,
          f"the producer id/epoch changed: {rd}")
    log(f"   every delivery report OK; per-partition offsets 0..n-1 in production order; "
        f"{px['swallowed_batches']} appended-but-unanswered batches all retried and answered with their "
        f"original offsets; one producer id {rd['producer_id']}, epoch 0")


def verify(a):
    d = read_json(a.in_json)
    n, dels = d["n"], d["deliveries"]
    got = read_back(a.broker, a.topic, NPARTS)
    total = sum(len(r) for r in got.values())
    if d["idempotent"]:
        layout = {p: [] for p in range(NPARTS)}
        for i, p in enumerate(dels["part"]):
            layout[p].append(i)
        check_log_exact(got, a.topic, layout)
        nb = check_disk_sequences(a.data_dir, a.topic, NPARTS, d["librdkafka"]["producer_id"])
        log(f"   read back {total} = {n} messages straight from brokk: each exactly once, in production "
            f"order per partition ({', '.join(str(len(layout[p])) for p in range(NPARTS))}); {nb} batches on disk, "
            f"all producer {d['librdkafka']['producer_id']} epoch 0 with base sequence == base offset")
        return
    # contrast run (no idempotence): report, check only that delivered messages are where
    # their delivery report said
    seen = {}
    reordered = 0
    for p, recs in got.items():
        last = -1
        for off, _k, v in recs:
            i = index_of(v)
            seen[i] = seen.get(i, 0) + 1
            if i < last:
                reordered += 1
            last = max(last, i)
    for i, (p, off) in enumerate(zip(dels["part"], dels["off"])):
        if p >= 0:
            check(off < len(got[p]) and index_of(got[p][off][2]) == i,
                  f"message {i} delivered at {p}/{off}, the log has something else there")
    dups = sum(c - 1 for c in seen.values() if c > 1)
    missing = n - len(seen)
    log(f"   CONTRAST (enable.idempotence=false): log holds {total} messages for {n} produced: "
        f"{dups} duplicates ({sum(1 for c in seen.values() if c > 1)} messages more than once), "
        f"{missing} missing, {reordered} out of production order; "
        f"{len(dels['errors'])} delivery errors")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("produce")
    pp.add_argument("broker")
    pp.add_argument("proxy_port", type=int)
    pp.add_argument("topic")
    pp.add_argument("n", type=int)
    pp.add_argument("idempotent", type=int)
    pp.add_argument("out")
    pp.add_argument("--kill-kb", default="100-1000")
    pp.add_argument("--seed", type=int, default=1)
    vp = sub.add_parser("verify")
    vp.add_argument("broker")
    vp.add_argument("topic")
    vp.add_argument("in_json")
    vp.add_argument("data_dir")
    a = ap.parse_args()
    main_wrapper(lambda: produce(a) if a.cmd == "produce" else verify(a))


if __name__ == "__main__":
    main()
