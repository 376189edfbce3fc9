package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"brokk/compat/go-common/harness"
)

// idempotent BROKER N: kgo's default producer (idempotent, acks=all) sends N keyed records
// to 3 partitions. Every record is acked at the next offset of its partition in production
// order, DescribeProducers shows the client's producer id with the last sequence n-1 on
// each partition, and a consumer reads every record exactly once, in order.
func idempotent(args []string) {
	broker := args[0]
	n, err := strconv.Atoi(args[1])
	harness.Must(err, "N")
	const t = "fg-idem"
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, t, 3, nil)
	p := client(broker, kgo.ProducerLinger(5*time.Millisecond))
	defer p.Close()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: t, Key: []byte(fmt.Sprintf("key-%d", i%997)), Value: []byte(fmt.Sprintf("idem-%06d", i))}
	}
	t0 := time.Now()
	produceSync(p, rs...)
	el := time.Since(t0)
	pid, epoch, err := p.ProducerID(ctxFor(10 * time.Second))
	harness.Must(err, "ProducerID")
	harness.Check(pid >= 0 && epoch >= 0, "producer id %d epoch %d: not idempotent", pid, epoch)
	next := map[int32]int64{}
	order := map[int32][]string{}
	for i, r := range rs {
		harness.Check(r.Offset == next[r.Partition], "record %d acked at %d/%d, expected offset %d", i, r.Partition, r.Offset, next[r.Partition])
		harness.Check(r.ProducerID == pid && r.ProducerEpoch == epoch, "record %d: producer %d/%d, the client's is %d/%d", i, r.ProducerID, r.ProducerEpoch, pid, epoch)
		next[r.Partition]++
		order[r.Partition] = append(order[r.Partition], string(r.Value))
	}
	harness.Check(len(next) == 3, "records went to %d partitions", len(next))

	dp, err := adm.DescribeProducers(ctxFor(10*time.Second), kadm.TopicsSet{t: {0: {}, 1: {}, 2: {}}})
	harness.Must(err, "DescribeProducers")
	for part := int32(0); part < 3; part++ {
		pp := dp[t].Partitions[part]
		harness.Check(pp.Err == nil, "DescribeProducers %d: %v", part, pp.Err)
		me, ok := pp.ActiveProducers[pid]
		harness.Check(ok && me.ProducerEpoch == epoch && int64(me.LastSequence) == next[part]-1 && me.CurrentTxnStartOffset == -1,
			"DescribeProducers partition %d: %+v, expected producer %d epoch %d last sequence %d", part, pp.ActiveProducers, pid, epoch, next[part]-1)
	}

	last := map[int32]int64{}
	for part, k := range next {
		last[part] = k - 1
	}
	got := readUntil(broker, t, seq(3), kgo.ReadUncommitted(), 60*time.Second, seenOffsets(last))
	harness.Check(len(got) == n, "read %d records, produced %d", len(got), n)
	for part, prs := range byPartition(got) {
		for i, r := range prs {
			harness.Check(r.Offset == int64(i) && string(r.Value) == order[part][i], "partition %d: record %d is %d:%s, expected %d:%s", part, i, r.Offset, r.Value, i, order[part][i])
			harness.Check(r.ProducerID == pid, "partition %d offset %d: batch producer id %d", part, r.Offset, r.ProducerID)
		}
	}
	harness.Logf("%d records in %d ms (producer id %d epoch %d); partitions %v; acked in order at contiguous offsets; DescribeProducers: last sequence = count-1 on each; read back exactly once in order",
		n, el.Milliseconds(), pid, epoch, next)
}
