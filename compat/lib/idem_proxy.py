"""A fault-injecting Kafka TCP proxy for the idempotent-producer scenarios of the compat
suites (127.0.0.1 only, stdlib only). Run as a script it is the proxy; imported, ProxyProc
runs it as a child process and talks to it.

It forwards Kafka frames between clients and one broker and reads the Produce traffic
as it passes: every record batch a client sends (topic, partition, producer id, epoch,
base sequence, record count) and what the broker answered for it (error code, base
offset). With that it can say exactly which batches the broker appended while the client
never saw the answer, which of those the client sent again, and what the broker answered
to the retry.

Faults:
* kill mode (--kill-kb MIN-MAX): each connection gets a random budget of client->broker
  bytes. Once it is used up the connection is killed at the next Produce exchange, either
  - "response": the Produce response is read from the broker and NOT relayed (the broker
    appended the batches, the client never learns it), then both sides are aborted, or
  - "cut" (share --cut-share): the next Produce request is forwarded only halfway, then
    both sides are closed (the broker never gets the request).
* freeze (command "freeze" on stdin): on every open connection, stop forwarding new
  requests, relay the answers to the requests already forwarded except the very last
  Produce answer, which is swallowed (printed as FROZEN); after that nothing passes until
  the broker closes the connection. So each partition has at most one appended batch
  the client has no answer for, and it is the partition's last batch.
* blackhole K (command "blackhole K"): on every open connection, swallow every Produce
  answer from now on while still forwarding requests, until no Produce request is in
  flight any more, or K answers were swallowed (then no further request is forwarded and
  the answers to those in flight are swallowed too); then print FROZEN and pass nothing
  more. The client is left with several appended batches it has no answer for
  (librdkafka 2.12 had one batch per partition in flight at that point, and sent no more
  while waiting for their answers).

The broker must be started with --advertised-listener 127.0.0.1:<this port>, so clients
reach every broker connection through the proxy. A failed connect to the broker (broker
down) closes the client connection at once.

Protocol with the parent (one line each, stdout flushed):
  stdout: READY <port> | KILL <conn> <mode> <bytes> <time> | FROZEN <conn> <json: swallowed batches>
          | ERROR <conn> <what> | STATS <json>
  stdin:  freeze | blackhole K | stats | quit   (EOF = quit)

usage: idem_proxy.py LISTEN_PORT TARGET_HOST:PORT [--kill-kb MIN-MAX] [--cut-share F] [--seed S]
"""
import argparse
import asyncio
import ctypes
import json
import os
import queue
import random
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, deque

PRODUCE = 0


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Reader:
    """Big-endian reader over a bytes object (classic and flexible Kafka encodings)."""

    def __init__(self, b, pos=0):
        self.b, self.pos = b, pos

    def take(self, n):
        if self.pos + n > len(self.b):
            raise ValueError(f"short frame: need {n} at {self.pos} of {len(self.b)}")
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = v = 0
        while True:
            byte = self.take(1)[0]
            v |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return v
            shift += 7

    def string(self, flexible):
        n = self.uvarint() - 1 if flexible else self.i16()
        return None if n < 0 else self.take(n).decode()

    def blob(self, flexible):
        n = self.uvarint() - 1 if flexible else self.i32()
        return None if n < 0 else self.take(n)

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.i32()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def topic(self, version, flexible):
        # Produce v13 names topics by id (a UUID); the request and response agree on it
        return self.take(16).hex() if version >= 13 else self.string(flexible)


def batches_of(records):
    """(producer_id, epoch, base_sequence, record_count) of each v2 batch in a records blob."""
    out = []
    pos = 0
    while records is not None and pos + 61 <= len(records):
        blen = struct.unpack_from(">i", records, pos + 8)[0]
        pid, epoch, seq, count = struct.unpack_from(">qhii", records, pos + 43)
        out.append((pid, epoch, seq, count))
        pos += 12 + blen
    return out


def parse_produce_request(frame):
    """-> (version, correlation id, [(topic, partition, pid, epoch, base_seq, count)])"""
    r = Reader(frame)
    _key, version, corr = r.i16(), r.i16(), r.i32()
    flexible = version >= 9
    r.string(False)  # client id: a classic string even in header v2
    if flexible:
        r.tags()
    r.string(flexible)  # transactional id
    r.i16()  # acks
    r.i32()  # timeout
    out = []
    for _ in range(r.array_len(flexible)):
        topic = r.topic(version, flexible)
        for _ in range(r.array_len(flexible)):
            part = r.i32()
            for pid, epoch, seq, count in batches_of(r.blob(flexible)):
                out.append((topic, part, pid, epoch, seq, count))
            if flexible:
                r.tags()
        if flexible:
            r.tags()
    return version, corr, out


def parse_produce_response(frame, version):
    """-> {(topic, partition): (error_code, base_offset)}"""
    flexible = version >= 9
    r = Reader(frame, 4)  # after the correlation id
    if flexible:
        r.tags()
    out = {}
    for _ in range(r.array_len(flexible)):
        topic = r.topic(version, flexible)
        for _ in range(r.array_len(flexible)):
            part, err, base = r.i32(), r.i16(), r.i64()
            r.i64()  # log_append_time_ms
            if version >= 5:
                r.i64()  # log_start_offset
            if version >= 8:
                for _ in range(r.array_len(flexible)):  # record_errors
                    r.i32()
                    r.string(flexible)
                    if flexible:
                        r.tags()
                r.string(flexible)  # error_message
            if flexible:
                r.tags()
            out[(topic, part)] = (err, base)
        if flexible:
            r.tags()
    return out


class Ledger:
    """Every idempotent batch seen, keyed (topic, partition, pid, epoch, base_seq), with the
    outcome of each attempt: ["ok", base_offset, relayed] | ["err", code] | ["lost"]."""

    def __init__(self):
        self.batches = {}
        self.c = Counter()
        self.err_codes = Counter()
        self.violations = []

    def sent(self, b):
        topic, part, pid, epoch, seq, count = b
        self.c["batches_sent"] += 1
        if pid < 0:
            return None
        key = (topic, part, pid, epoch, seq)
        e = self.batches.setdefault(key, {"count": count, "attempts": []})
        if e["attempts"]:
            self.c["batches_resent"] += 1
        if e["count"] != count:
            self.violations.append(f"batch {key} resent with {count} records, first sent with {e['count']}")
        e["attempts"].append(["lost"])
        return e

    def answered(self, e, err, base, relayed):
        if err != 0:
            self.err_codes[err] += 1
        if e is None:
            return
        att = e["attempts"][-1]
        att[:] = ["ok", base, relayed] if err == 0 else ["err", err]
        if err == 0 and not relayed:
            self.c["swallowed_ok_batches"] += 1

    def summary(self):
        # A retry of a batch the broker already appended must get success and the offset of
        # the first append (a duplicate), never a second append at another offset.
        dup_ok = swallowed = swallowed_deduped = never = 0
        violations = list(self.violations)
        for key, e in self.batches.items():
            first_ok = None
            was_swallowed = deduped_after = False
            for att in e["attempts"]:
                if att[0] != "ok":
                    continue
                if first_ok is None:
                    first_ok = att[1]
                elif att[1] == first_ok:
                    dup_ok += 1
                    deduped_after = deduped_after or was_swallowed
                else:
                    violations.append(f"batch {key}: appended at offset {first_ok}, a retry was "
                                      f"answered with offset {att[1]}")
                if not att[2]:
                    was_swallowed = True
            if was_swallowed:
                swallowed += 1
                swallowed_deduped += deduped_after
            never += first_ok is None
        s = dict(self.c)
        s["duplicates_answered_with_original_offset"] = dup_ok
        # batches whose success answer was swallowed at least once, and how many of them a
        # later retry got answered as a duplicate with the original offset
        s["swallowed_batches"] = swallowed
        s["swallowed_batches_deduplicated"] = swallowed_deduped
        s["error_codes"] = {str(k): v for k, v in self.err_codes.items()}
        s["violations"] = violations[:20]
        s["n_violations"] = len(violations)
        s["idempotent_batches"] = len(self.batches)
        s["batches_never_answered_ok"] = never
        return s


class Proxy:
    def __init__(self, target, kill_kb, cut_share, seed):
        self.target = target
        self.kill_kb = kill_kb
        self.cut_share = cut_share
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.c = Counter()
        self.conns = set()
        self.next_id = 0

    async def serve(self, reader, writer):
        cid = self.next_id
        self.next_id += 1
        self.c["connections"] += 1
        host, port = self.target
        try:
            br, bw = await asyncio.open_connection(host, port)
        except OSError:
            self.c["broker_connect_refused"] += 1
            writer.transport.abort()
            return
        budget = None
        mode = None
        if self.kill_kb:
            budget = self.rng.randint(self.kill_kb[0] * 1024, self.kill_kb[1] * 1024)
            mode = "cut" if self.rng.random() < self.cut_share else "response"
        conn = Conn(self, cid, reader, writer, br, bw, budget, mode)
        self.conns.add(conn)
        try:
            await conn.run()
        except asyncio.CancelledError:
            conn.kill(None)
        finally:
            self.conns.discard(conn)

    def freeze(self, blackhole=0):
        for conn in list(self.conns):
            if conn.freeze is None:
                conn.freeze = "blackhole" if blackhole else "arming"
                conn.blackhole = blackhole
            conn.wake.set()

    def stats(self):
        s = dict(self.c)
        s.update(self.ledger.summary())
        return s


class Conn:
    def __init__(self, proxy, cid, cr, cw, br, bw, budget, mode):
        self.p, self.cid = proxy, cid
        self.cr, self.cw, self.br, self.bw = cr, cw, br, bw
        self.budget, self.mode = budget, mode
        self.sent = 0
        self.pending = deque()  # (corr, api_key, version, [ledger entries], [batches])
        # None | "arming" (freeze) | "blackhole" -> "draining" (blackhole K) | "frozen"
        self.freeze = None
        self.blackhole = 0
        self.swallowed = []  # batches whose answers the freeze swallowed
        self.wake = asyncio.Event()
        self.dead = False

    def kill(self, why):
        if self.dead:
            return
        self.dead = True
        for w in (self.cw, self.bw):
            w.transport.abort()
        self.wake.set()
        if why:
            self.p.c[f"kills_{why}"] += 1
            emit(f"KILL {self.cid} {why} {self.sent} {time.monotonic():.3f}")

    def produce_pending(self):
        return any(k == PRODUCE for _, k, *_ in self.pending)

    async def guarded(self, coro):
        try:
            await coro
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as e:  # a proxy bug or a frame it cannot parse: make it visible
            self.p.c["proxy_errors"] += 1
            emit(f"ERROR {self.cid} {e!r}")

    async def run(self):
        tasks = [asyncio.ensure_future(self.guarded(self.c2b())), asyncio.ensure_future(self.guarded(self.b2c()))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        self.kill(None)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # requests forwarded whose answer never came
        for _, key, _, entries, _ in self.pending:
            if key == PRODUCE:
                self.p.c["produce_unanswered"] += 1

    async def c2b(self):
        try:
            while not self.dead:
                size = await self.cr.readexactly(4)
                frame = await self.cr.readexactly(struct.unpack(">i", size)[0])
                key, version, corr = struct.unpack_from(">hhi", frame)
                # freezing: nothing more once a Produce is in flight (its answer is swallowed)
                while self.freeze in ("frozen", "draining") or (self.freeze == "arming" and self.produce_pending()):
                    if self.dead:
                        return
                    self.wake.clear()
                    await self.wake.wait()
                if self.dead:
                    return
                batches = []
                if key == PRODUCE:
                    _, _, batches = parse_produce_request(frame)
                    if self.budget is not None and self.sent >= self.budget and self.mode == "cut":
                        half = (4 + len(frame)) // 2
                        self.bw.write((size + frame)[:half])
                        await self.bw.drain()
                        self.p.c["produce_requests_cut"] += 1
                        self.kill("cut")
                        return
                    self.p.c["produce_requests"] += 1
                entries = [self.p.ledger.sent(b) for b in batches]
                self.pending.append((corr, key, version, entries, batches))
                self.bw.write(size + frame)
                self.sent += 4 + len(frame)
                await self.bw.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def b2c(self):
        try:
            while not self.dead:
                size = await self.br.readexactly(4)
                frame = await self.br.readexactly(struct.unpack(">i", size)[0])
                (corr,) = struct.unpack_from(">i", frame)
                # Produce with acks=0 has no answer: skip such entries
                while self.pending and self.pending[0][0] != corr:
                    self.pending.popleft()
                if not self.pending:
                    raise RuntimeError(f"conn {self.cid}: answer to unknown correlation id {corr}")
                _, key, version, entries, batches = self.pending.popleft()
                if self.freeze == "frozen":
                    continue  # dropped: the connection is frozen
                relay = True
                kill_after = False
                if key == PRODUCE:
                    self.p.c["produce_responses"] += 1
                    if self.freeze == "arming" and not self.produce_pending():
                        relay = False
                        self.freeze = "frozen"
                    elif self.freeze in ("blackhole", "draining"):
                        relay = False
                        self.blackhole -= 1
                        if self.freeze == "blackhole" and self.blackhole <= 0:
                            self.freeze = "draining"  # no more requests; the ones in flight are swallowed too
                        if not self.produce_pending():
                            # everything in flight swallowed (librdkafka then waits rather than
                            # sending more): freeze here, K is only the upper bound
                            self.freeze = "frozen"
                    elif self.budget is not None and self.sent >= self.budget and self.mode == "response":
                        relay = False
                        kill_after = True
                    res = parse_produce_response(frame, version)
                    for e, b in zip(entries, batches):
                        err, base = res.get((b[0], b[1]), (-1, -1))
                        self.p.ledger.answered(e, err, base, relay)
                        if self.freeze and not relay:
                            self.swallowed.append([*b, err, base])
                    if not relay:
                        self.p.c["produce_responses_swallowed"] += 1
                if kill_after:
                    self.kill("response")
                    return
                if self.freeze == "frozen":
                    self.wake.set()
                    # [topic, partition, pid, epoch, base_seq, count, error, base_offset] each
                    emit(f"FROZEN {self.cid} {json.dumps(self.swallowed)}")
                    continue
                if not relay:
                    continue  # swallowed (blackhole)
                self.cw.write(size + frame)
                await self.cw.drain()
                self.wake.set()  # a freeze may wait for this answer
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


class ProxyProc:
    """This proxy in a child process (it dies with the parent); its stdout lines are collected
    by a thread. Failures raise `error` (the caller's failure class)."""

    def __init__(self, port, target, *args, error=RuntimeError):
        self.error = error
        cmd = [sys.executable, os.path.abspath(__file__), str(port), target, *args]
        # PR_SET_PDEATHSIG: the proxy dies with this process even on a SIGKILL (suite timeout)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))
        self.lines = queue.Queue()
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("READY", 10)

    def _check(self, cond, msg):
        if not cond:
            raise self.error(msg)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self._check(left > 0, f"proxy: no {prefix} line within {timeout}s")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self._check(line is not None, f"proxy exited (rc={self.proc.poll()}) while waiting for {prefix}")
            self.events.append(line)
            if line.startswith(prefix):
                return line

    def poll_event(self, prefix):
        """Non-blocking: the first new line starting with prefix, else None."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return None
            self._check(line is not None, f"proxy exited (rc={self.proc.poll()})")
            self.events.append(line)
            if line.startswith(prefix):
                return line

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def stats(self):
        self.send("stats")
        s = json.loads(self.wait_for("STATS", 10)[len("STATS "):])
        errors = [e for e in self.events if e.startswith("ERROR")]
        self._check(s.get("proxy_errors", 0) == 0, f"the proxy failed on {s.get('proxy_errors')} connections: "
                                                   f"{errors[:3]}")
        return s

    def close(self):
        try:
            self.send("quit")
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def kills(self):
        return [e for e in self.events if e.startswith("KILL")]


async def main_async(args):
    host, port = args.target.rsplit(":", 1)
    kill_kb = tuple(int(x) for x in args.kill_kb.split("-")) if args.kill_kb else None
    proxy = Proxy((host, int(port)), kill_kb, args.cut_share, args.seed)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", args.port)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def command(line):
        cmd = line.strip()
        if cmd == "freeze":
            proxy.freeze()
        elif cmd.startswith("blackhole "):
            proxy.freeze(int(cmd.split()[1]))
        elif cmd == "stats":
            emit("STATS " + json.dumps(proxy.stats(), sort_keys=True))
        elif cmd in ("quit", ""):
            done.set()

    def stdin_reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(command, line)
            if line.strip() == "quit":
                return
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=stdin_reader, daemon=True).start()
    emit(f"READY {args.port}")
    await done.wait()
    server.close()
    for conn in list(proxy.conns):
        conn.kill(None)
    await asyncio.sleep(0.05)  # let the connection tasks see it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("target")
    ap.add_argument("--kill-kb", default="")
    ap.add_argument("--cut-share", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
