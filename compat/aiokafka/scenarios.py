"""aiokafka (asyncio client) scenarios against brokk. Each prints one line and exits 0, or
prints FAIL and exits 1.

    scenarios.py codecs BOOTSTRAP     a producer per codec, keyed records with headers read back
    scenarios.py group BOOTSTRAP      two consumers in one group split 4 partitions; one leaves,
                                      the other takes all 4
    scenarios.py commit BOOTSTRAP     commit, committed(), a new member resumes after the commit
    scenarios.py times BOOTSTRAP      offsets_for_times, beginning_offsets, end_offsets
    scenarios.py admin BOOTSTRAP      create/describe/delete topics, describe/alter configs,
                                      create partitions, delete records, describe/list groups
    scenarios.py idempotent BOOTSTRAP enable_idempotence=True: records once, in order
    scenarios.py txn BOOTSTRAP        a committed and an aborted transaction; read_committed
                                      sees only the committed one; send_offsets_to_transaction
"""
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


async def drain(consumer, n, timeout=20):
    """Up to n records (bounded by timeout)."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            out.extend(records)
    return out


async def codecs(bs):
    for codec in (None, "gzip", "snappy", "lz4", "zstd"):
        topic = f"aio-codec-{codec or 'none'}"
        p = AIOKafkaProducer(bootstrap_servers=bs, compression_type=codec, linger_ms=20, acks="all")
        await p.start()
        futs = [await p.send(topic, key=f"k{i}".encode(), value=f"{codec}-{i}".encode() * 20,
                             headers=[("h", str(i).encode())], partition=0) for i in range(500)]
        offsets = [(await f).offset for f in futs]
        await p.stop()
        check(offsets == list(range(500)), f"{codec}: offsets {offsets[:5]}")
        c = AIOKafkaConsumer(bootstrap_servers=bs, auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        c.assign([TopicPartition(topic, 0)])
        await c.seek_to_beginning()
        got = await drain(c, 500)
        await c.stop()
        got = [(r.offset, r.key, r.value, list(r.headers)) for r in got]
        want = [(i, f"k{i}".encode(), f"{codec}-{i}".encode() * 20, [("h", str(i).encode())]) for i in range(500)]
        check(got == want, f"{codec}: {len(got)} records, first {got[:1]}")
    print("500 keyed records with headers per codec (none, gzip, snappy, lz4, zstd) read back in order")


async def create(bs, topic, partitions, configs=None):
    adm = AIOKafkaAdminClient(bootstrap_servers=bs)
    await adm.start()
    try:
        await adm.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})])
    finally:
        await adm.close()


async def group(bs):
    topic = "aio-group"
    await create(bs, topic, 4)
    p = AIOKafkaProducer(bootstrap_servers=bs)
    await p.start()
    for i in range(400):
        await p.send(topic, value=f"g{i}".encode(), partition=i % 4)
    await p.flush()
    await p.stop()
    conf = dict(bootstrap_servers=bs, group_id="aio-g", auto_offset_reset="earliest",
                session_timeout_ms=6000, heartbeat_interval_ms=300, enable_auto_commit=False)
    a, b = AIOKafkaConsumer(topic, **conf), AIOKafkaConsumer(topic, **conf)
    await a.start()
    await b.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(a.assignment()) + len(b.assignment()) != 4
                                           or not a.assignment() or not b.assignment()):
        await asyncio.gather(a.getmany(timeout_ms=200), b.getmany(timeout_ms=200))
    pa, pb = a.assignment(), b.assignment()
    check(len(pa) == 2 and len(pb) == 2 and not (pa & pb), f"split 2+2: {pa} {pb}")
    await a.stop()  # LeaveGroup: b takes all four
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(b.assignment()) != 4:
        await b.getmany(timeout_ms=200)
    check(len(b.assignment()) == 4, f"survivor owns all 4: {b.assignment()}")
    await b.stop()
    print("two members split 4 partitions 2+2; after one leaves the other owns all 4")


async def commit(bs):
    topic = "aio-commit"
    await create(bs, topic, 1)
    p = AIOKafkaProducer(bootstrap_servers=bs)
    await p.start()
    for i in range(20):
        await p.send(topic, value=f"c{i}".encode())
    await p.flush()
    await p.stop()
    conf = dict(bootstrap_servers=bs, group_id="aio-c", auto_offset_reset="earliest", enable_auto_commit=False)
    c = AIOKafkaConsumer(topic, **conf)
    await c.start()
    got = await drain(c, 20)
    tp = TopicPartition(topic, 0)
    await c.commit({tp: 12})
    check(await c.committed(tp) == 12, "committed() reads the commit back")
    await c.stop()
    c = AIOKafkaConsumer(topic, **conf)
    await c.start()
    rest = await drain(c, 8)
    await c.stop()
    check([r.offset for r in rest] == list(range(12, 20)) and len(got) == 20, f"resumed at 12: {rest}")
    print("commit(12), committed() = 12; a new member resumes at offset 12")


async def times(bs):
    topic = "aio-times"
    await create(bs, topic, 1)
    base = int(time.time() * 1000) - 100_000
    p = AIOKafkaProducer(bootstrap_servers=bs)
    await p.start()
    for i in range(10):
        await p.send(topic, value=f"t{i}".encode(), timestamp_ms=base + i * 1000, partition=0)
    await p.flush()
    await p.stop()
    c = AIOKafkaConsumer(bootstrap_servers=bs)
    await c.start()
    tp = TopicPartition(topic, 0)
    found = (await c.offsets_for_times({tp: base + 4500}))[tp]
    check(found.offset == 5 and found.timestamp == base + 5000, f"offsets_for_times: {found}")
    check((await c.offsets_for_times({tp: base + 999_999}))[tp] is None, "nothing past the end")
    check((await c.beginning_offsets([tp]))[tp] == 0 and (await c.end_offsets([tp]))[tp] == 10, "bounds")
    await c.stop()
    print("offsets_for_times (found, None past the end), beginning_offsets, end_offsets")


async def admin(bs):
    adm = AIOKafkaAdminClient(bootstrap_servers=bs)
    await adm.start()
    try:
        r = await adm.create_topics([NewTopic("aio-admin", 1, 1, topic_configs={"retention.ms": "3600000"})])
        check(all(t[1] == 0 for t in r.topic_errors), f"create: {r}")
        check("aio-admin" in await adm.list_topics(), "listed")
        d = await adm.describe_topics(["aio-admin"])
        check(d[0]["partitions"][0]["leader"] == 0, f"describe_topics: {d}")
        # configs
        res = ConfigResource(ConfigResourceType.TOPIC, "aio-admin")
        [resp] = await adm.describe_configs([res])
        entries = {e[0]: e[1] for e in resp.resources[0][4]}
        check(len(entries) == 33 and entries["retention.ms"] == "3600000", f"configs: {len(entries)}")
        await adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "aio-admin",
                                                configs={"retention.ms": "7200000", "cleanup.policy": "delete"})])
        [resp] = await adm.describe_configs([res])
        entries = {e[0]: e[1] for e in resp.resources[0][4]}
        check(entries["retention.ms"] == "7200000", f"altered: {entries['retention.ms']}")
        # partitions
        await adm.create_partitions({"aio-admin": NewPartitions(3)})
        d = await adm.describe_topics(["aio-admin"])
        check(len(d[0]["partitions"]) == 3, f"3 partitions: {d}")
        # records
        p = AIOKafkaProducer(bootstrap_servers=bs)
        await p.start()
        for i in range(10):
            await p.send("aio-admin", value=f"r{i}".encode(), partition=0)
        await p.flush()
        await p.stop()
        tp = TopicPartition("aio-admin", 0)
        low = await adm.delete_records({tp: RecordsToDelete(before_offset=4)})
        check(low[tp] == 4, f"delete_records: {low}")
        # groups
        c = AIOKafkaConsumer("aio-admin", bootstrap_servers=bs, group_id="aio-admin-g",
                             auto_offset_reset="earliest")
        await c.start()
        await drain(c, 6)
        groups = [g[0] for g in await adm.list_consumer_groups()]
        check("aio-admin-g" in groups, f"list_consumer_groups: {groups}")
        [dg] = await adm.describe_consumer_groups(["aio-admin-g"])
        g = dg.groups[0]
        check(g[1] == "aio-admin-g" and g[2] == "Stable" and len(g[5]) == 1, f"describe_consumer_groups: {g}")
        await c.stop()
        await adm.delete_topics(["aio-admin"])
        deadline = time.monotonic() + 10
        while "aio-admin" in await adm.list_topics() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        check("aio-admin" not in await adm.list_topics(), "deleted")
    finally:
        await adm.close()
    print("create/list/describe/delete topics; describe (33) and alter configs; create_partitions; "
          "delete_records; list/describe groups")


async def idempotent(bs):
    topic = "aio-idem"
    await create(bs, topic, 1)
    p = AIOKafkaProducer(bootstrap_servers=bs, enable_idempotence=True, linger_ms=5)
    await p.start()
    futs = [await p.send(topic, value=f"i{i}".encode()) for i in range(2000)]
    offsets = [(await f).offset for f in futs]
    await p.stop()
    check(offsets == list(range(2000)), "acked in order")
    c = AIOKafkaConsumer(bootstrap_servers=bs, auto_offset_reset="earliest")
    await c.start()
    c.assign([TopicPartition(topic, 0)])
    got = await drain(c, 2000)
    await c.stop()
    check([r.value for r in got] == [f"i{i}".encode() for i in range(2000)], "once, in order")
    print("2000 records with enable_idempotence=True: once each, in order")


async def txn(bs):
    topic, out = "aio-txn-in", "aio-txn-out"
    await create(bs, topic, 1)
    await create(bs, out, 1)
    p = AIOKafkaProducer(bootstrap_servers=bs, transactional_id="aio-tx")
    await p.start()
    async with p.transaction():
        await p.send(out, value=b"committed-1")
    await p.begin_transaction()
    await p.send(out, value=b"aborted")
    await p.abort_transaction()
    async with p.transaction():
        await p.send(out, value=b"committed-2")
        await p.send_offsets_to_transaction({TopicPartition(topic, 0): 5}, "aio-txn-group")
    await p.stop()
    c = AIOKafkaConsumer(bootstrap_servers=bs, auto_offset_reset="earliest", isolation_level="read_committed")
    await c.start()
    c.assign([TopicPartition(out, 0)])
    got = await drain(c, 2, timeout=10)
    await c.stop()
    check([r.value for r in got] == [b"committed-1", b"committed-2"], f"read_committed: {[r.value for r in got]}")
    g = AIOKafkaConsumer(bootstrap_servers=bs, group_id="aio-txn-group", enable_auto_commit=False)
    await g.start()
    check(await g.committed(TopicPartition(topic, 0)) == 5, "offsets committed with the transaction")
    await g.stop()
    print("commit, abort, commit with send_offsets_to_transaction: read_committed sees the two commits; "
          "the group's offset is the transaction's")


def main():
    cmd, bs = sys.argv[1], sys.argv[2]
    fn = {"codecs": codecs, "group": group, "commit": commit, "times": times, "admin": admin,
          "idempotent": idempotent, "txn": txn}[cmd]
    try:
        asyncio.run(asyncio.wait_for(fn(bs), 120))
    except Exception as e:  # noqa: BLE001 - every failure is the scenario's
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
