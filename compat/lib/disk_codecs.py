"""Report which compression codec the record batches of a topic actually have on
brokk's disk (brokk stores producer batches as they arrive, in Kafka's v2 log
format: <data-dir>/<topic>-<partition>/<base-offset>.log).

A client may silently fall back to uncompressed batches when it thinks the broker
does not support a codec, in which case a "compression" round trip would not test
compression at all. This makes that visible.

usage: disk_codecs.py DATA_DIR TOPIC EXPECTED_CODEC [--allow-none]
exit 1 if any batch has another codec (with --allow-none: if it is neither the
expected codec nor 'none'; all-'none' then prints a NOTE).
"""
import glob
import os
import struct
import sys
from collections import Counter

NAMES = ["none", "gzip", "snappy", "lz4", "zstd"]


def codecs_of(data_dir, topic):
    c = Counter()
    files = sorted(glob.glob(os.path.join(data_dir, f"{glob.escape(topic)}-[0-9]*", "*.log")))
    for f in files:
        # Walk batch headers with seeks: a live segment may be preallocated (brokk's active
        # segment is a 1 GiB sparse file whose unused tail is zeros), so never read it whole.
        size = os.path.getsize(f)
        with open(f, "rb") as fh:
            pos = 0
            while pos + 61 <= size:
                fh.seek(pos)
                hdr = fh.read(61)
                if len(hdr) < 61:
                    break
                _base, blen = struct.unpack_from(">qi", hdr, 0)
                if blen <= 0 or pos + 12 + blen > size:
                    break  # end of written data (zero tail) or torn batch
                magic = hdr[16]
                if magic != 2:
                    c[f"magic{magic}"] += 1
                else:
                    (attr,) = struct.unpack_from(">h", hdr, 21)
                    c[NAMES[attr & 7] if (attr & 7) < len(NAMES) else f"codec{attr & 7}"] += 1
                pos += 12 + blen
    return files, c


def main():
    data_dir, topic, expected = sys.argv[1], sys.argv[2], sys.argv[3]
    allow_none = "--allow-none" in sys.argv[4:]
    files, c = codecs_of(data_dir, topic)
    if not files or not c:
        print(f"FAIL: no segment files/batches for {topic} under {data_dir}", file=sys.stderr)
        sys.exit(1)
    summary = ", ".join(f"{k}={v}" for k, v in sorted(c.items()))
    allowed = {expected} | ({"none"} if allow_none else set())
    if set(c) - allowed:
        print(f"FAIL: {topic}: on-disk batch codecs {summary}, expected only {expected}", file=sys.stderr)
        sys.exit(1)
    if expected != "none" and set(c) == {"none"}:
        print(f"  NOTE: {topic}: the client sent {expected} batches UNCOMPRESSED ({summary}); "
              f"see FINDINGS.md", flush=True)
    else:
        print(f"  on-disk batches of {topic}: {summary}", flush=True)


if __name__ == "__main__":
    main()
