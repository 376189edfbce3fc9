"""Scenario a: produce N messages with a given compression codec to a fresh
3-partition topic and read them all back, verifying byte-identical keys,
values, headers, timestamps, and per-partition offset order.

usage: roundtrip.py BOOTSTRAP CODEC [N] [PARTITIONS]
       roundtrip.py --verify-only BOOTSTRAP CODEC [N] [PARTITIONS]
           (re-read an existing topic, e.g. after a broker restart: same checks,
            the expected per-partition layout is derived from production order)
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, Producer, TopicPartition

from common import Failure, check, consumer_conf, create_topic, log, main_wrapper, producer_conf

PAD = "abcdefghijklmnopqrstuvwxyz0123456789"


def value_of(codec, i):
    head = f"{codec}-{i}|"
    # deterministic, distinct, 100 bytes; the padding rotates with i
    pad = (PAD[i % len(PAD):] + PAD) * 3
    return (head + pad)[:100].encode()


def key_of(i):
    return f"k{i}".encode()


def headers_of(codec, i):
    if i % 7 == 0:
        return None  # no headers at all
    h = [("idx", str(i).encode()), ("codec", codec.encode())]
    if i % 10 == 0:
        # repeated keys, empty value, binary value: order and duplicates must survive
        h += [("dup", b"1"), ("dup", b"2"), ("empty", b""), ("bin", bytes([0, 255, i % 256]))]
    return h


def produce(bootstrap, topic, codec, n, nparts):
    dr_part = [-1] * n
    dr_off = [-1] * n
    dr_ts = [None] * n
    errors = []
    acked = 0

    def on_delivery(err, msg):
        nonlocal acked
        i = int(msg.key()[1:])
        if err is not None:
            errors.append((i, str(err)))
            return
        dr_part[i] = msg.partition()
        dr_off[i] = msg.offset()
        dr_ts[i] = msg.timestamp()
        acked += 1

    p = Producer(producer_conf(bootstrap, **{
        "compression.codec": codec,
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000,
        "queue.buffering.max.kbytes": 256 * 1024,
        "message.timeout.ms": 60_000,
        "on_delivery": on_delivery,
    }))
    t0 = time.time()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=value_of(codec, i), key=key_of(i), headers=headers_of(codec, i))
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    remaining = p.flush(60)
    t_prod = time.time() - t0
    check(remaining == 0, f"{remaining} messages still undelivered after flush(60)")
    check(not errors, f"{len(errors)} delivery errors, first: {errors[:5]}")
    check(acked == n, f"acked {acked} != {n}")

    # expected per-partition layout from the delivery reports
    by_part = {}
    for i in range(n):
        by_part.setdefault(dr_part[i], []).append(i)
    check(set(by_part) <= set(range(nparts)), f"delivery reports name partitions {sorted(by_part)}")
    check(len(by_part) == nparts, f"only partitions {sorted(by_part)} used out of {nparts}")
    for part, idxs in by_part.items():
        offs = [dr_off[i] for i in idxs]  # idxs is in production order
        if offs != list(range(len(idxs))):
            bad = next(k for k, o in enumerate(offs) if o != k)
            raise Failure(f"partition {part}: delivery-report offsets not 0..{len(idxs) - 1} in production "
                          f"order: position {bad} (message {idxs[bad]}) has offset {offs[bad]}")
    for i in range(n):
        ts_type, ts = dr_ts[i]
        if ts_type != TIMESTAMP_CREATE_TIME or ts <= 0:
            raise Failure(f"DR timestamp of {i}: {dr_ts[i]}")
    log(f"  {codec}: produced {n} (acks=all) in {t_prod:.1f}s ({n / t_prod:,.0f} msg/s), "
        f"per partition {[len(by_part[k]) for k in sorted(by_part)]}")
    return by_part, dr_ts


def consume_and_verify(bootstrap, topic, codec, n, nparts, by_part=None, dr_ts=None):
    """by_part: {partition: [message index in offset order]} from delivery reports, or
    None to derive it: then each partition must hold an increasing run of indexes."""
    c = Consumer(consumer_conf(bootstrap, **{"fetch.wait.max.ms": 100, "enable.partition.eof": False}))
    md = c.list_topics(topic, timeout=10).topics[topic]
    check(md.error is None and len(md.partitions) == nparts, f"metadata for {topic}: {md.error} {md.partitions}")
    c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in range(nparts)])
    total_hi = 0
    for part in range(nparts):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
        if by_part is not None:
            check((lo, hi) == (0, len(by_part[part])),
                  f"partition {part} watermarks {(lo, hi)} != (0, {len(by_part[part])})")
        check(lo == 0, f"partition {part} log start offset {lo} != 0")
        total_hi += hi
    check(total_hi == n, f"sum of high watermarks {total_hi} != {n}")

    seen = bytearray(n)
    got = 0
    next_off = {part: 0 for part in range(nparts)}
    last_i = {part: -1 for part in range(nparts)}
    t0 = time.time()
    deadline = t0 + 120
    while got < n:
        check(time.time() < deadline, f"timed out consuming: got {got}/{n}, next offsets {next_off}")
        for m in c.consume(num_messages=10_000, timeout=1.0):
            if m.error():
                raise Failure(f"consume error: {m.error()}")
            part, off = m.partition(), m.offset()
            # strictly increasing, contiguous offsets per partition
            if off != next_off[part]:
                raise Failure(f"partition {part}: got offset {off}, expected {next_off[part]}")
            next_off[part] = off + 1
            k, v, h = m.key(), m.value(), m.headers()
            if by_part is not None:
                if off >= len(by_part[part]):
                    raise Failure(f"partition {part}: unexpected message at offset {off} "
                                  f"(produced {len(by_part[part])})")
                i = by_part[part][off]  # which message the delivery reports put here
                if k != key_of(i):
                    raise Failure(f"p{part}@{off}: key {k!r} != {key_of(i)!r}")
            else:
                if k is None or not k.startswith(b"k") or not k[1:].isdigit() or int(k[1:]) >= n:
                    raise Failure(f"p{part}@{off}: unexpected key {k!r}")
                i = int(k[1:])
                # per-partition order must be production order
                if i <= last_i[part]:
                    raise Failure(f"p{part}@{off}: message {i} after message {last_i[part]}")
                last_i[part] = i
            if seen[i]:
                raise Failure(f"message {i} consumed twice")
            seen[i] = 1
            if v != value_of(codec, i):
                raise Failure(f"p{part}@{off}: value {v!r} != {value_of(codec, i)!r}")
            if h != headers_of(codec, i):
                raise Failure(f"p{part}@{off}: headers {h!r} != {headers_of(codec, i)!r}")
            ts_type, ts = m.timestamp()
            if dr_ts is not None and (ts_type, ts) != dr_ts[i]:
                raise Failure(f"p{part}@{off}: timestamp {(ts_type, ts)} != delivery report {dr_ts[i]}")
            if ts_type != TIMESTAMP_CREATE_TIME or ts <= 0:
                raise Failure(f"p{part}@{off}: timestamp {(ts_type, ts)}")
            got += 1
    t_cons = time.time() - t0
    # nothing beyond what we produced
    extra = [m for m in c.consume(num_messages=100, timeout=0.5) if not m.error()]
    if extra:
        raise Failure(f"{len(extra)} unexpected extra messages, first at p{extra[0].partition()}@{extra[0].offset()}")
    c.close()
    log(f"  {codec}: consumed+verified {n} in {t_cons:.1f}s ({n / t_cons:,.0f} msg/s)")


def run():
    args = sys.argv[1:]
    verify_only = bool(args) and args[0] == "--verify-only"
    if verify_only:
        args = args[1:]
    bootstrap, codec = args[0], args[1]
    n = int(args[2]) if len(args) > 2 else 100_000
    nparts = int(args[3]) if len(args) > 3 else 3
    topic = f"roundtrip-{codec}"
    if verify_only:
        consume_and_verify(bootstrap, topic, codec, n, nparts)
        log(f"OK re-verify {codec} n={n} partitions={nparts}")
        return
    create_topic(bootstrap, topic, nparts)
    by_part, dr_ts = produce(bootstrap, topic, codec, n, nparts)
    consume_and_verify(bootstrap, topic, codec, n, nparts, by_part, dr_ts)
    log(f"OK roundtrip {codec} n={n} partitions={nparts}")


if __name__ == "__main__":
    main_wrapper(run)
