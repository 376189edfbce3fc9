"""Record batch headers of a topic partition on brokk's disk (Kafka's v2 log format:
<data-dir>/<topic>-<partition>/<base-offset>.log), for the idempotent-producer checks of
the compat suites (stdlib only).

    batches(data_dir, topic, partition) -> [(base_offset, record_count, producer_id, epoch, base_sequence)]
    check_one_producer(data_dir, topic, partition) -> (producer_id, epoch, batch count) or raises ValueError:
        every batch is from one producer id and epoch, and as that producer wrote the
        partition from offset 0, each batch's base sequence equals its base offset (no gap,
        no duplicate batch, no epoch change).
"""
import glob
import os
import struct


def batches(data_dir, topic, partition):
    out = []
    for f in sorted(glob.glob(os.path.join(data_dir, f"{glob.escape(topic)}-{partition}", "*.log"))):
        # Walk headers with seeks: the active segment of a running broker may be a sparse
        # preallocated file whose unused tail is zeros.
        size = os.path.getsize(f)
        with open(f, "rb") as fh:
            pos = 0
            while pos + 61 <= size:
                fh.seek(pos)
                hdr = fh.read(61)
                base, blen = struct.unpack_from(">qi", hdr, 0)
                if blen <= 0 or pos + 12 + blen > size:
                    break  # end of the written data, or a torn batch
                pid, epoch, seq, count = struct.unpack_from(">qhii", hdr, 43)
                out.append((base, count, pid, epoch, seq))
                pos += 12 + blen
    return out


def check_one_producer(data_dir, topic, partition):
    bs = batches(data_dir, topic, partition)
    if not bs:
        raise ValueError(f"{topic}/{partition}: no batches on disk under {data_dir}")
    pid, epoch = bs[0][2], bs[0][3]
    expect = 0
    for base, count, bpid, bepoch, seq in bs:
        if (bpid, bepoch) != (pid, epoch):
            raise ValueError(f"{topic}/{partition} batch at {base}: producer {bpid} epoch {bepoch}, "
                             f"the first batch had {pid} epoch {epoch}")
        if base != expect or seq != base:
            raise ValueError(f"{topic}/{partition} batch at {base} (expected {expect}): base sequence {seq}, "
                             f"{count} records")
        expect = base + count
    return pid, epoch, len(bs)
