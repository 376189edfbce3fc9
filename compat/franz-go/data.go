package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"brokk/compat/go-common/harness"
)

var codecList = []struct {
	name  string
	codec kgo.CompressionCodec
	attr  uint8 // the batch attribute's codec bits (Kafka: 0 none .. 4 zstd)
}{
	{"none", kgo.NoCompression(), 0},
	{"gzip", kgo.GzipCompression(), 1},
	{"snappy", kgo.SnappyCompression(), 2},
	{"lz4", kgo.Lz4Compression(), 3},
	{"zstd", kgo.ZstdCompression(), 4},
}

// headersFor: every 5th record has none; the others a repeated key, an empty and a binary value.
func headersFor(i int) []kgo.RecordHeader {
	if i%5 == 0 {
		return nil
	}
	return []kgo.RecordHeader{
		{Key: "idx", Value: []byte(strconv.Itoa(i))},
		{Key: "dup", Value: []byte("1")},
		{Key: "dup", Value: []byte("2")},
		{Key: "empty", Value: []byte{}},
		{Key: "bin", Value: []byte{0, 0xff, byte(i)}},
	}
}

func sameHeaders(a, b []kgo.RecordHeader) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// codecs: per codec, 2000 keyed records with headers over 3 partitions (kgo's default
// partitioner: key hash), then a direct consumer reads every partition back.
func codecs(args []string) {
	broker := args[0]
	const n = 2000
	adm, acl := admin(broker)
	defer acl.Close()
	for _, c := range codecList {
		topic := "fg-codec-" + c.name
		createTopic(adm, topic, 3, nil)
		p := client(broker, kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(5*time.Millisecond))
		rs := make([]*kgo.Record, n)
		for i := range rs {
			v := fmt.Sprintf("%s-%05d|", c.name, i)
			rs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)),
				Value: bytes.Repeat([]byte(v), 12), Headers: headersFor(i)}
			if i%10 == 0 {
				rs[i].Value = []byte{} // an empty value
			}
		}
		produceSync(p, rs...)
		p.Close()
		// offsets per partition are 0..count-1 in production order
		count := map[int32]int64{}
		want := map[int32]map[int64]*kgo.Record{}
		for i, r := range rs {
			harness.Check(r.Offset == count[r.Partition], "%s: record %d got %d/%d, expected offset %d", c.name, i, r.Partition, r.Offset, count[r.Partition])
			count[r.Partition]++
			if want[r.Partition] == nil {
				want[r.Partition] = map[int64]*kgo.Record{}
			}
			want[r.Partition][r.Offset] = r
		}
		harness.Check(len(count) == 3, "%s: records went to %d partitions, expected all 3", c.name, len(count))
		last := map[int32]int64{}
		for p, k := range count {
			last[p] = k - 1
		}
		got := readUntil(broker, topic, seq(3), kgo.ReadUncommitted(), 60*time.Second, seenOffsets(last))
		harness.Check(len(got) == n, "%s: read %d records, produced %d", c.name, len(got), n)
		for p, prs := range byPartition(got) {
			for i, r := range prs {
				w := want[p][int64(i)]
				harness.Check(r.Offset == int64(i) && w != nil, "%s: partition %d: record %d has offset %d", c.name, p, i, r.Offset)
				harness.Check(bytes.Equal(r.Key, w.Key) && bytes.Equal(r.Value, w.Value) && sameHeaders(r.Headers, w.Headers),
					"%s: %d/%d: key %q value %q headers %v; produced %q %q %v", c.name, p, r.Offset, r.Key, r.Value, r.Headers, w.Key, w.Value, w.Headers)
				harness.Check(r.Timestamp.UnixMilli() == w.Timestamp.UnixMilli() && r.Attrs.TimestampType() == 0,
					"%s: %d/%d: timestamp %v (type %d), produced %v", c.name, p, r.Offset, r.Timestamp, r.Attrs.TimestampType(), w.Timestamp)
				harness.Check(r.Attrs.CompressionType() == c.attr, "%s: %d/%d: fetched from a batch with codec %d",
					c.name, p, r.Offset, r.Attrs.CompressionType())
				harness.Check(r.LeaderEpoch == 0, "%s: %d/%d: leader epoch %d", c.name, p, r.Offset, r.LeaderEpoch)
			}
		}
		harness.Logf("%-6s %d records over partitions %v: offsets, keys, values, headers, timestamps back; batches fetched with codec %d",
			c.name, n, count, c.attr)
	}
}

// times: 10 records with explicit timestamps (record 7 the largest, out of order), then
// ListOffsets by time, earliest, latest and max timestamp (kadm), and a consumer that starts
// at a time (kgo's AfterMilli).
func times(args []string) {
	broker := args[0]
	const topic = "fg-times"
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, topic, 1, nil)
	base := time.Now().Add(-100 * time.Second).UnixMilli()
	p := client(broker, partitioned())
	defer p.Close()
	for i := 0; i < 10; i++ {
		r := rec(topic, 0, "", fmt.Sprintf("t%d", i))
		r.Timestamp = time.UnixMilli(harness.TimesTimestamp(base, i))
		produceSync(p, r) // one batch each, so each record's own timestamp is searchable
	}
	ctx := ctxFor(15 * time.Second)
	at, err := adm.ListOffsetsAfterMilli(ctx, base+4500, topic)
	harness.Must(err, "ListOffsetsAfterMilli")
	o, _ := at.Lookup(topic, 0)
	harness.Check(o.Err == nil && o.Offset == 5 && o.Timestamp == base+5000 && o.LeaderEpoch == 0,
		"the first record at or after base+4500: %+v, expected offset 5 at base+5000", o)
	at, err = adm.ListOffsetsAfterMilli(ctx, base+7500, topic)
	harness.Must(err, "ListOffsetsAfterMilli")
	o, _ = at.Lookup(topic, 0)
	harness.Check(o.Err == nil && o.Offset == 7 && o.Timestamp == base+50_000,
		"the first record stamped at or after base+7500: %+v, expected offset 7 (base+50000)", o)
	at, err = adm.ListOffsetsAfterMilli(ctx, base+999_999, topic)
	harness.Must(err, "ListOffsetsAfterMilli")
	o, _ = at.Lookup(topic, 0)
	// Kafka answers offset -1 for a time past every record; kadm maps that to the end offset.
	harness.Check(o.Err == nil && o.Offset == 10, "a timestamp past every record: %+v, expected the end offset 10", o)
	start, err := adm.ListStartOffsets(ctx, topic)
	harness.Must(err, "ListStartOffsets")
	end, err := adm.ListEndOffsets(ctx, topic)
	harness.Must(err, "ListEndOffsets")
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, topic)
	harness.Must(err, "ListMaxTimestampOffsets")
	s, _ := start.Lookup(topic, 0)
	e, _ := end.Lookup(topic, 0)
	m, _ := maxTS.Lookup(topic, 0)
	harness.Check(s.Offset == 0 && e.Offset == 10, "start %+v end %+v, expected 0 and 10", s, e)
	harness.Check(m.Offset == 7 && m.Timestamp == base+50_000, "max timestamp: %+v, expected offset 7 at base+50000", m)

	got := readUntilFrom(broker, topic, kgo.NewOffset().AfterMilli(base+2500), 10, 15*time.Second)
	vals := []string{}
	for _, r := range got {
		vals = append(vals, fmt.Sprintf("%d:%s", r.Offset, r.Value))
	}
	harness.Check(fmt.Sprint(vals) == "[3:t3 4:t4 5:t5 6:t6 7:t7 8:t8 9:t9]", "a consumer starting at base+2500 read %v", vals)
	harness.Logf("by time: offset 5 (and 7, the out-of-order maximum), the end offset past every record; start 0, end 10, max timestamp at 7; a consumer AfterMilli starts at 3")
}

// readUntilFrom reads partition 0 from the given start until it has read offset end-1.
func readUntilFrom(broker, topic string, start kgo.Offset, end int64, timeout time.Duration) []*kgo.Record {
	cl := client(broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: start}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(timeout)
	for len(got) == 0 || got[len(got)-1].Offset < end-1 {
		harness.Check(time.Now().Before(deadline), "read of %s from %v: %d records within %s", topic, start, len(got), timeout)
		fs := cl.PollFetches(ctxFor(500 * time.Millisecond))
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				harness.Fail("fetch %s/%d: %v", t, p, err)
			}
		})
		got = append(got, fs.Records()...)
	}
	return got
}
