#!/usr/bin/env bash
# kcat (librdkafka CLI) compatibility suite for brokk.
#
# Usage: compat/kcat/run.sh            (BROKK_BIN=/path/to/brokk to override the binary)
#        KEEP_WORK=1 compat/kcat/run.sh  keeps the temp dir (data + broker logs) for inspection
#        STRICT_CODECS=1 compat/kcat/run.sh  fail when kcat sends lz4 uncompressed too
#
# Starts its own broker on a free 127.0.0.1 port with its own data dir, runs the
# scenarios below and exits non-zero on the first failure. See FINDINGS.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
. "$HERE/../lib/harness.sh"   # sets BROKK_BIN, checks it; fail/scenario/ok/start_broker/...
KCAT=${KCAT:-kcat}
T=${KCAT_TIMEOUT:-20}   # per kcat invocation, seconds

command -v "$KCAT" >/dev/null || { echo "FAIL: kcat not installed" >&2; exit 1; }

harness_init kcat kcat   # WORK, BROKER, traps
DATA=$WORK/data

kc() { timeout "$T" "$KCAT" -b "$BROKER" -X api.version.request=true "$@"; }

expect_eq() { # expect_eq NAME EXPECTED ACTUAL
    if [[ "$2" != "$3" ]]; then
        echo "---- expected ($1) ----" >&2; printf '%s\n' "$2" >&2
        echo "---- actual ($1) ----" >&2; printf '%s\n' "$3" >&2
        fail "$1 mismatch"
    fi
}

SECONDS=0
echo "kcat compat: kcat $($KCAT -V 2>&1 | grep -o 'Version [^ ]*.*librdkafka [^ ]*' | sed 's/ (.*librdkafka/, librdkafka/') / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"

# ---------------------------------------------------------------------------
start_broker "$DATA"

scenario "metadata: kcat -L lists the broker"
out=$(kc -L)
grep -q "1 brokers:" <<<"$out" || fail "expected '1 brokers:' in: $out"
grep -q "broker 0 at $BROKER" <<<"$out" || fail "expected 'broker 0 at $BROKER' in: $out"
ok "kcat -L shows broker 0 at $BROKER"
out=$(kc -L -J)
python3 -c '
import json,sys
m=json.loads(sys.stdin.read())
assert m["brokers"]==[{"id":0,"name":sys.argv[1]}], m["brokers"]
assert m["controllerid"]==0, m
' "$BROKER" <<<"$out" || fail "kcat -L -J broker list unexpected: $out"
ok "kcat -L -J JSON broker list"

# ---------------------------------------------------------------------------
scenario "produce keyed messages with headers (auto-create 'orders')"
N=20
input=""
expected=""
for i in $(seq 0 $((N - 1))); do
    case $i in
        5) v="value with spaces and : colons : $i" ;;
        7) v="ünïcødé-✓-$i" ;;
        *) v="order-$i-$(printf '%0*d' $((i * 7)) 0)" ;;
    esac
    input+="key$i:$v"$'\n'
    expected+="key$i|$v|a=b,trace=t1|$i"$'\n'
done
printf '%s' "$input" | kc -P -t orders -K: -H a=b -H trace=t1
out=$(kc -L -t orders)
grep -q 'topic "orders" with 1 partitions' <<<"$out" || fail "orders not auto-created with 1 partition: $out"
ok "produced $N keyed messages with 2 headers; topic auto-created"

scenario "consume from beginning: keys, values, headers, order, offsets, timestamps"
raw=$(kc -C -t orders -o beginning -e -q -f '%k|%s|%h|%T|%o\n')
[[ $(wc -l <<<"$raw") -eq $N ]] || fail "expected $N lines, got $(wc -l <<<"$raw"): $raw"
# drop the %T column for exact comparison, check it separately
got=$(awk -F'|' '{print $1"|"$2"|"$3"|"$5}' <<<"$raw")
expect_eq "orders content" "${expected%$'\n'}" "$got"
now_ms=$(python3 -c 'import time;print(int(time.time()*1000))')
awk -F'|' -v now="$now_ms" '
    { if ($4 !~ /^[0-9]+$/ || $4 <= 0) { print "bad timestamp on line " NR ": " $4; bad=1 }
      else if ($4 > now + 1000 || $4 < now - 600000) { print "timestamp not recent on line " NR ": " $4 " now=" now; bad=1 } }
    END { exit bad }' <<<"$raw" || fail "timestamps"
ok "all $N messages byte-identical, in order, offsets 0..$((N - 1)), recent timestamps"

scenario "offset -2 returns exactly the last 2"
got=$(kc -C -t orders -o -2 -e -q -f '%k|%o\n')
expect_eq "-o -2" "key$((N - 2))|$((N - 2))"$'\n'"key$((N - 1))|$((N - 1))" "$got"
ok "-o -2 -> offsets $((N - 2)),$((N - 1))"

scenario "absolute offset start (-o 15)"
got=$(kc -C -t orders -o 15 -e -q -f '%o\n' | tr '\n' ' ')
expect_eq "-o 15" "15 16 17 18 19 " "$got"
ok "-o 15 -> 15..19"

scenario "null vs empty: tombstone (-Z) and empty key/value"
printf 'tomb:\n' | kc -P -t orders -K: -Z
printf ':\n' | kc -P -t orders -K:
got=$(kc -C -t orders -o -2 -e -q -f '%K|%S|%k|%s|%o\n')
expect_eq "tombstone+empty" "4|-1|tomb||$N"$'\n'"0|0|||$((N + 1))" "$got"
got=$(kc -C -t orders -o -2 -e -q -J | python3 -c '
import json,sys
for l in sys.stdin: m=json.loads(l); print(repr(m["key"]), repr(m["payload"]))')
expect_eq "tombstone+empty (JSON)" "'tomb' None"$'\n'"'' ''" "$got"
N=$((N + 2))
ok "null value stays null (%S=-1); empty key/value stay empty, not null (%K=0,%S=0)"

# ---------------------------------------------------------------------------
scenario "timestamps: s@<ts> start and e@<ts> stop"
M=8
for i in $(seq 0 $((M - 1))); do
    printf 'tk%d:tv%d\n' "$i" "$i" | kc -P -t tstopic -K:
    sleep 0.03
done
raw=$(kc -C -t tstopic -o beginning -e -q -f '%o|%T|%s\n')
[[ $(wc -l <<<"$raw") -eq $M ]] || fail "expected $M messages in tstopic: $raw"
mapfile -t TS < <(cut -d'|' -f2 <<<"$raw")
for i in $(seq 1 $((M - 1))); do
    ((TS[i] > TS[i - 1])) || fail "timestamps not strictly increasing: ${TS[*]}"
done
ok "produced $M messages with distinct increasing timestamps ${TS[0]}..${TS[M - 1]}"

got=$(kc -C -t tstopic -o "s@${TS[3]}" -e -q -f '%o|%s\n')
expect_eq "s@TS[3]" "$(printf '3|tv3\n4|tv4\n5|tv5\n6|tv6\n7|tv7')" "$got"
ok "s@${TS[3]} starts at offset 3"

got=$(kc -C -t tstopic -o "s@$((TS[3] - 1))" -e -q -f '%o\n' | head -1)
expect_eq "s@TS[3]-1" "3" "$got"
ok "s@(ts3-1) starts at offset 3 (first ts >= target)"

got=$(kc -C -t tstopic -o "s@$((TS[3] + 1))" -e -q -f '%o\n' | head -1)
expect_eq "s@TS[3]+1" "4" "$got"
ok "s@(ts3+1) starts at offset 4"

got=$(kc -C -t tstopic -o beginning -o "e@${TS[5]}" -q -f '%o|%s\n')
expect_eq "beginning..e@TS[5]" "$(printf '0|tv0\n1|tv1\n2|tv2\n3|tv3\n4|tv4')" "$got"
ok "e@${TS[5]} stops before offset 5 (exclusive)"

got=$(kc -C -t tstopic -o "s@${TS[2]}" -o "e@${TS[6]}" -q -f '%o\n' | tr '\n' ' ')
expect_eq "s@TS[2]..e@TS[6]" "2 3 4 5 " "$got"
ok "s@ts2 + e@ts6 -> offsets 2..5"

scenario "kcat -Q (ListOffsets by timestamp)"
out=$(kc -Q -t "tstopic:0:${TS[4]}")
grep -Eq 'tstopic \[0\] offset 4$' <<<"$out" || fail "-Q ts4 expected offset 4, got: $out"
out=$(kc -Q -t "tstopic:0:$((TS[M - 1] + 100000))")
# no message at/after that timestamp: Kafka answers offset -1 (kcat prints -1)
grep -Eq 'tstopic \[0\] offset -1$' <<<"$out" || fail "-Q future ts expected offset -1, got: $out"
out=$(kc -Q -t "tstopic:0:-1")
grep -Eq 'tstopic \[0\] offset '"$M"'$' <<<"$out" || fail "-Q -1 (latest) expected offset $M, got: $out"
out=$(kc -Q -t "tstopic:0:-2")
grep -Eq 'tstopic \[0\] offset 0$' <<<"$out" || fail "-Q -2 (earliest) expected offset 0, got: $out"
ok "-Q ts4->4, future->-1, latest->$M, earliest->0"

# ---------------------------------------------------------------------------
scenario "producer compression codecs (-X compression.codec=...)"
# kcat 1.7.1 bundles librdkafka 2.0.2, which only compresses gzip/snappy/lz4 if the broker
# advertises Produce v0 (brokk does, as Kafka 4.0) and lz4 only if FindCoordinator is
# advertised (not yet: consumer groups are a later issue); see FINDINGS.md. The on-disk check
# makes that visible: gzip, snappy and zstd must really be compressed; lz4 may arrive
# uncompressed (NOTE) unless STRICT_CODECS=1.
for codec in gzip snappy lz4 zstd; do
    seq 1 500 | sed "s/^/$codec-payload-/" | kc -P -t "comp-$codec" -X compression.codec=$codec -X linger.ms=50
    got=$(kc -C -t "comp-$codec" -o beginning -e -q -f '%o|%s\n')
    exp=$(seq 1 500 | awk -v c="$codec" '{print NR-1 "|" c "-payload-" $1}')
    expect_eq "codec $codec" "$exp" "$got"
    allow=
    [[ $codec == lz4 && ${STRICT_CODECS:-0} != 1 ]] && allow=--allow-none
    timeout 30 python3 "$HERE/../lib/disk_codecs.py" "$DATA" "comp-$codec" "$codec" $allow ||
        fail "on-disk codec check for $codec"
    ok "$codec: 500 messages round-trip"
done

# ---------------------------------------------------------------------------
scenario "restart 1: SIGINT, restart with same data dir (+ num.partitions=3)"
stop_broker INT
[[ -e $DATA/.kafka_cleanshutdown ]] || fail "no $DATA/.kafka_cleanshutdown after SIGINT"
plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"
start_broker "$DATA" --override num.partitions=3
opened_line | grep -q "clean_shutdown=true" || { plainlog "$LOG" >&2; fail "expected clean_shutdown=true"; }
opened_line | grep -q "segments_scanned=0 " || { plainlog "$LOG" >&2; fail "expected segments_scanned=0"; }
ok "log: $(opened_line)"
raw=$(kc -C -t orders -o beginning -e -q -f '%k|%s|%h|%o\n')
got=$(head -n $((N - 2)) <<<"$raw")
expect_eq "orders after restart" "${expected%$'\n'}" "$got"
got=$(kc -C -t orders -o -2 -e -q -f '%K|%S|%k|%s|%o\n')
expect_eq "tombstone+empty after restart" "4|-1|tomb||$((N - 2))"$'\n'"0|0|||$((N - 1))" "$got"
got=$(kc -C -t tstopic -o "s@${TS[3]}" -e -q -f '%o\n' | head -1)
expect_eq "s@ after restart" "3" "$got"
out=$(kc -L -t orders)
grep -q 'topic "orders" with 1 partitions' <<<"$out" || fail "orders partition count changed across restart: $out"
ok "all data (orders, tstopic timestamps index) intact; existing topic keeps 1 partition"
printf 'after:restart\n' | kc -P -t orders -K:
got=$(kc -C -t orders -o -1 -e -q -f '%k|%s|%o\n')
expect_eq "produce after restart" "after|restart|$N" "$got"
N=$((N + 1))
ok "produce after restart continues at offset $((N - 1))"

# ---------------------------------------------------------------------------
scenario "multi-partition topic (3 partitions): explicit -p and per-partition reads"
for p in 0 1 2; do
    seq 0 9 | sed "s/^/p$p-m/" | kc -P -t multi -p "$p"
done
out=$(kc -L -t multi)
grep -q 'topic "multi" with 3 partitions' <<<"$out" || fail "multi should have 3 partitions: $out"
for p in 0 1 2; do
    got=$(kc -C -t multi -p "$p" -o beginning -e -q -f '%p|%o|%s\n')
    exp=$(seq 0 9 | awk -v p="$p" '{print p "|" NR-1 "|p" p "-m" $1}')
    expect_eq "multi partition $p" "$exp" "$got"
done
ok "each partition holds exactly its 10 messages at offsets 0..9"
got=$(kc -C -t multi -p 1 -o -3 -e -q -f '%o|%s\n')
expect_eq "multi p1 -o -3" "$(printf '7|p1-m7\n8|p1-m8\n9|p1-m9')" "$got"
ok "-p 1 -o -3 -> last 3 of partition 1"
got=$(kc -C -t multi -o beginning -e -q -f '%p|%o\n' | sort)
[[ $(wc -l <<<"$got") -eq 30 ]] || fail "whole-topic read expected 30 got $(wc -l <<<"$got")"
ok "whole-topic consume (all partitions) returns 30 messages"

scenario "multi-partition topic: keyed messages are partitioned by key consistently"
for round in 1 2; do
    for k in alpha bravo charlie delta echo foxtrot golf hotel; do
        printf '%s:%s-r%d\n' "$k" "$k" "$round"
    done | kc -P -t keyed -K: -X partitioner=murmur2
done
raw=$(kc -C -t keyed -o beginning -e -q -f '%k|%p|%s|%o\n')
[[ $(wc -l <<<"$raw") -eq 16 ]] || fail "keyed: expected 16 got: $raw"
python3 - "$raw" <<'PY' || fail "keyed partitioning inconsistent"
import sys
rows=[l.split("|") for l in sys.argv[1].splitlines()]
part={}
per={}
for k,p,v,o in rows:
    if part.setdefault(k,p)!=p: sys.exit(f"key {k} in partitions {part[k]} and {p}")
    per.setdefault(p,[]).append((int(o),v))
for p,l in per.items():
    offs=[o for o,_ in l]
    if sorted(offs)!=list(range(len(offs))): sys.exit(f"partition {p} offsets {offs}")
    # within a partition round 1 must precede round 2 for each key
    seen={}
    for o,v in sorted(l):
        k,r=v.rsplit("-",1)
        if r=="r2" and k not in seen: sys.exit(f"{v} before r1 in partition {p}")
        seen[k]=1
if len(per)<2: sys.exit(f"8 keys all landed in {list(per)}")
PY
ok "same key -> same partition; per-partition offsets contiguous; >1 partition used"

# ---------------------------------------------------------------------------
scenario "restart 2: SIGINT, restart, multi-partition data intact"
stop_broker INT
start_broker "$DATA"
opened_line | grep -q "clean_shutdown=true" || fail "expected clean_shutdown=true on 2nd restart"
opened_line | grep -q "segments_scanned=0 " || fail "expected segments_scanned=0 on 2nd restart"
for p in 0 1 2; do
    got=$(kc -C -t multi -p "$p" -o beginning -e -q -f '%p|%o|%s\n')
    exp=$(seq 0 9 | awk -v p="$p" '{print p "|" NR-1 "|p" p "-m" $1}')
    expect_eq "multi partition $p after restart" "$exp" "$got"
done
got=$(kc -C -t orders -o -1 -e -q -f '%k|%s|%o\n')
expect_eq "orders tail after 2nd restart" "after|restart|$((N - 1))" "$got"
ok "log: $(opened_line)"

stop_broker TERM
plainlog "$LOG" | grep -q "stopped cleanly" || fail "SIGTERM: broker log lacks 'stopped cleanly'"
ok "SIGTERM also shuts down cleanly"

CURRENT="finished"
echo "kcat compat suite finished in ${SECONDS}s"
echo "kcat: $PASSED passed, 0 failed"
