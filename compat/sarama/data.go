package main

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

var codecList = []struct {
	name  string
	codec sarama.CompressionCodec
}{
	{"none", sarama.CompressionNone},
	{"gzip", sarama.CompressionGZIP},
	{"snappy", sarama.CompressionSnappy},
	{"lz4", sarama.CompressionLZ4},
	{"zstd", sarama.CompressionZSTD},
}

// headersFor: every 5th message has none; the others a repeated key, an empty and a binary value.
func headersFor(i int) []sarama.RecordHeader {
	if i%5 == 0 {
		return nil
	}
	return []sarama.RecordHeader{
		{Key: []byte("idx"), Value: []byte(strconv.Itoa(i))},
		{Key: []byte("dup"), Value: []byte("1")},
		{Key: []byte("dup"), Value: []byte("2")},
		{Key: []byte("empty"), Value: []byte{}},
		{Key: []byte("bin"), Value: []byte{0, 0xff, byte(i)}},
	}
}

func sameHeaders(got []*sarama.RecordHeader, want []sarama.RecordHeader) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) {
			return false
		}
	}
	return true
}

// valueFor: every 10th message has a null value, every 10th+5 an empty one.
func valueFor(codec string, i int) sarama.Encoder {
	switch i % 10 {
	case 0:
		return nil
	case 5:
		return sarama.ByteEncoder([]byte{})
	}
	return sarama.ByteEncoder(bytes.Repeat([]byte(fmt.Sprintf("%s-%05d|", codec, i)), 12))
}

func encoded(e sarama.Encoder) []byte {
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	harness.Must(err, "encode")
	return b
}

// codecs: per codec, a SyncProducer (batches of up to 100 messages) sends 2000 keyed
// messages with headers and explicit timestamps over 3 partitions (sarama's hash
// partitioner); PartitionConsumers read every partition back. run.sh then checks the codec
// of the batches on disk.
func codecs(args []string) {
	broker := args[0]
	const n = 2000
	adm := newAdmin(broker)
	defer adm.Close()
	base := time.Now().Add(-time.Hour).UnixMilli()
	for _, c := range codecList {
		topic := "sa-codec-" + c.name
		createTopic(adm, topic, 3, nil)
		cfg := config()
		cfg.Producer.Compression = c.codec
		cfg.Producer.Flush.Messages = 100
		cfg.Producer.Flush.Frequency = 5 * time.Millisecond
		p := newSyncProducer(broker, cfg)
		ms := make([]*sarama.ProducerMessage, n)
		for i := range ms {
			ms[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: valueFor(c.name, i),
				Headers: headersFor(i), Timestamp: time.UnixMilli(base + int64(i))}
		}
		sendAll(p, ms...)
		harness.Must(p.Close(), "close producer")
		// offsets per partition are 0..count-1 in production order
		count := map[int32]int64{}
		want := map[int32]map[int64]*sarama.ProducerMessage{}
		for i, m := range ms {
			harness.Check(m.Offset == count[m.Partition], "%s: message %d acked at %d/%d, expected offset %d", c.name, i, m.Partition, m.Offset, count[m.Partition])
			if want[m.Partition] == nil {
				want[m.Partition] = map[int64]*sarama.ProducerMessage{}
			}
			want[m.Partition][m.Offset] = m
			count[m.Partition]++
		}
		harness.Check(len(count) == 3, "%s: messages went to %d partitions, expected all 3", c.name, len(count))
		through := map[int32]int64{}
		for part, k := range count {
			through[part] = k - 1
		}
		got := readPartitions(broker, topic, through, sarama.ReadUncommitted, 60*time.Second)
		total := 0
		for part, pms := range got {
			for i, m := range pms {
				w := want[part][int64(i)]
				harness.Check(m.Offset == int64(i) && w != nil, "%s: partition %d: message %d has offset %d", c.name, part, i, m.Offset)
				wv := encoded(w.Value)
				harness.Check(string(m.Key) == string(encoded(w.Key)) && bytes.Equal(m.Value, wv) && (m.Value == nil) == (wv == nil) &&
					sameHeaders(m.Headers, w.Headers),
					"%s: %d/%d: key %q value %q (nil %v) headers %d; produced %q %q (nil %v) %d", c.name, part, m.Offset, m.Key, m.Value,
					m.Value == nil, len(m.Headers), encoded(w.Key), wv, wv == nil, len(w.Headers))
				harness.Check(m.Timestamp.UnixMilli() == w.Timestamp.UnixMilli(), "%s: %d/%d: timestamp %v, produced %v", c.name, part, m.Offset, m.Timestamp, w.Timestamp)
				total++
			}
		}
		harness.Check(total == n, "%s: read %d messages, produced %d", c.name, total, n)
		harness.Logf("%-6s %d messages over partitions %v: offsets, keys, values (null and empty too), headers, timestamps back", c.name, n, count)
	}
}

// times: 10 messages with explicit timestamps (message 7 the largest, out of order), then
// Client.GetOffset by time, oldest and newest, ClusterAdmin.ListOffsets by time, and a
// PartitionConsumer started at the offset found for a time.
func times(args []string) {
	broker := args[0]
	const topic = "sa-times"
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, topic, 1, nil)
	base := time.Now().Add(-100 * time.Second).UnixMilli()
	p := newSyncProducer(broker, manual(config()))
	for i := 0; i < 10; i++ {
		m := msg(topic, 0, "", fmt.Sprintf("t%d", i))
		m.Timestamp = time.UnixMilli(harness.TimesTimestamp(base, i))
		sendAll(p, m) // one batch each, so each message's own timestamp is searchable
	}
	harness.Must(p.Close(), "close producer")
	cl := newClient(broker, config())
	defer cl.Close()
	get := func(t int64) int64 {
		o, err := cl.GetOffset(topic, 0, t)
		harness.Must(err, fmt.Sprintf("GetOffset(%d)", t))
		return o
	}
	harness.Check(get(base+4500) == 5, "GetOffset(base+4500) = %d, expected 5", get(base+4500))
	harness.Check(get(base+7500) == 7, "GetOffset(base+7500) = %d, expected 7 (stamped base+50000)", get(base+7500))
	harness.Check(get(base+999_999) == -1, "GetOffset past every message = %d, expected -1 (Kafka: no such offset)", get(base+999_999))
	harness.Check(get(sarama.OffsetOldest) == 0 && get(sarama.OffsetNewest) == 10, "oldest %d newest %d", get(sarama.OffsetOldest), get(sarama.OffsetNewest))
	lo, err := adm.ListOffsets(map[string]map[int32]int64{topic: {0: base + 4500}}, nil)
	harness.Must(err, "ListOffsets")
	r := lo[topic][0]
	harness.Check(noErr(r.Err) && r.Offset == 5 && r.Timestamp == base+5000 && r.LeaderEpoch == 0, "ListOffsets(base+4500): %+v", r)

	cons, err := sarama.NewConsumer([]string{broker}, config())
	harness.Must(err, "NewConsumer")
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, get(base+2500))
	harness.Must(err, "ConsumePartition")
	var vals []string
	deadline := time.After(15 * time.Second)
	for len(vals) < 7 {
		select {
		case m := <-pc.Messages():
			vals = append(vals, fmt.Sprintf("%d:%s", m.Offset, m.Value))
		case err := <-pc.Errors():
			harness.Fail("consume: %v", err)
		case <-deadline:
			harness.Fail("consumed %v", vals)
		}
	}
	harness.Check(fmt.Sprint(vals) == "[3:t3 4:t4 5:t5 6:t6 7:t7 8:t8 9:t9]", "a consumer starting at GetOffset(base+2500) read %v", vals)
	harness.Logf("GetOffset: 5 at base+4500, 7 (the out-of-order maximum) at base+7500, -1 past every message, oldest 0, newest 10; ListOffsets: offset, timestamp and leader epoch; a consumer from a time starts at 3")
}

// timesMax BROKER: ClusterAdmin.ListOffsets with -3 (the record with the largest timestamp,
// KIP-734). sarama sends ListOffsets v6 for Kafka 2.8 and later, and -3 needs v7: Kafka
// answers the partition with UNSUPPORTED_VERSION (offset, timestamp and leader epoch -1),
// as for -4 before v8 and -5 before v9.
func timesMax(args []string) {
	broker := args[0]
	const topic = "sa-times-max"
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, topic, 1, nil)
	p := newSyncProducer(broker, manual(config()))
	base := time.Now().Add(-time.Minute).UnixMilli()
	for i := 0; i < 3; i++ {
		m := msg(topic, 0, "", fmt.Sprintf("m%d", i))
		m.Timestamp = time.UnixMilli(base + int64(1-i)*1000) // the first message has the largest timestamp
		sendAll(p, m)
	}
	harness.Must(p.Close(), "close producer")
	lo, err := adm.ListOffsets(map[string]map[int32]int64{topic: {0: -3}}, nil)
	harness.Must(err, "ListOffsets(-3)")
	r := lo[topic][0]
	harness.Check(harness.ErrIs(r.Err, sarama.ErrUnsupportedVersion) && r.Offset == -1 && r.Timestamp == -1 && r.LeaderEpoch == -1,
		"ListOffsets v6 with timestamp -3: %+v; Kafka 4.1 answers UNSUPPORTED_VERSION, offset -1 (-3 needs v7)", r)
	harness.Logf("ListOffsets v6 with -3: UNSUPPORTED_VERSION, as Kafka (-3 needs v7)")
}
