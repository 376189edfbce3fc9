"""Scenario b, producer side: stream numbered messages (acks=all) to a topic and
append every *acknowledged* message as "<offset> <value>" to ACKFILE, flushed
per delivery report, until SIGTERM/SIGINT (or MAX messages).

usage: crash_producer.py BOOTSTRAP TOPIC ACKFILE [MAX]

The caller SIGKILLs the broker mid-stream, then SIGTERMs this process.
"""
import os
import signal
import sys
import time

from confluent_kafka import Producer

from common import create_topic, producer_conf


def value_of(topic, i):
    return f"{topic}-{i:09d}|".ljust(100, ".").encode()


def main():
    bootstrap, topic, ackfile = sys.argv[1], sys.argv[2], sys.argv[3]
    maxn = int(sys.argv[4]) if len(sys.argv) > 4 else 2_000_000
    create_topic(bootstrap, topic, 1)  # explicit: don't depend on the broker's num.partitions
    out = open(ackfile, "a", buffering=1)
    stop = False
    errors = 0

    def on_term(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def on_delivery(err, msg):
        nonlocal errors
        if err is not None:
            errors += 1
            return
        assert msg.partition() == 0, msg.partition()
        # one write() of a whole line, then flush: a kill never leaves half a line
        out.write(f"{msg.offset()} {msg.value().decode()}\n")
        out.flush()

    p = Producer(producer_conf(bootstrap, **{
        "linger.ms": 5,
        "batch.num.messages": 500,
        "queue.buffering.max.messages": 20_000,
        "message.timeout.ms": 30_000,
        "on_delivery": on_delivery,
    }))
    i = 0
    t0 = time.time()
    while not stop and i < maxn:
        try:
            p.produce(topic, value=value_of(topic, i), key=str(i).encode())
            i += 1
        except BufferError:
            p.poll(0.05)
            continue
        if i % 200 == 0:
            p.poll(0.01)  # serve delivery reports; caps the rate at ~20k msg/s
    if not stop:
        p.flush(30)
    print(f"crash_producer: produced {i} in {time.time() - t0:.1f}s, {errors} delivery errors so far"
          f"{' (stopped by signal)' if stop else ''}", flush=True)
    out.close()
    os._exit(0)  # don't wait for in-flight requests to a dead broker


if __name__ == "__main__":
    main()
