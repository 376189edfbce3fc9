package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

// idempotent BROKER N: a SyncProducer with Idempotent=true, MaxOpenRequests=1, acks=all
// sends N keyed messages (batches of up to 500) to 3 partitions. Every message is acked at
// the next offset of its partition in production order; DescribeProducers shows one
// producer id (epoch 0) on all 3 partitions with the last sequence n-1; PartitionConsumers
// read every message exactly once, in order.
func idempotent(args []string) {
	broker := args[0]
	n, err := strconv.Atoi(args[1])
	harness.Must(err, "N")
	const t = "sa-idem"
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, t, 3, nil)
	c := config()
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 10
	c.Producer.Flush.Messages = 500
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	p := newSyncProducer(broker, c)
	ms := make([]*sarama.ProducerMessage, n)
	for i := range ms {
		ms[i] = &sarama.ProducerMessage{Topic: t, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i%997)), Value: sarama.StringEncoder(fmt.Sprintf("idem-%06d", i))}
	}
	t0 := time.Now()
	sendAll(p, ms...)
	el := time.Since(t0)
	harness.Must(p.Close(), "close producer")
	next := map[int32]int64{}
	order := map[int32][]string{}
	for i, m := range ms {
		harness.Check(m.Offset == next[m.Partition], "message %d acked at %d/%d, expected offset %d", i, m.Partition, m.Offset, next[m.Partition])
		next[m.Partition]++
		order[m.Partition] = append(order[m.Partition], string(encoded(m.Value)))
	}
	harness.Check(len(next) == 3, "messages went to %d partitions", len(next))

	dp, err := adm.DescribeProducers(map[string][]int32{t: {0, 1, 2}})
	harness.Must(err, "DescribeProducers")
	pid := int64(-1)
	for part := int32(0); part < 3; part++ {
		pp := dp[t][part]
		harness.Check(pp.ErrorCode == sarama.ErrNoError && len(pp.ActiveProducers) == 1, "DescribeProducers %d: %+v", part, pp)
		me := pp.ActiveProducers[0]
		if pid == -1 {
			pid = me.ProducerID
		}
		harness.Check(me.ProducerID == pid && pid >= 0 && me.ProducerEpoch == 0 && int64(me.LastSequence) == next[part]-1 && me.CurrentTxnStartOffset == -1,
			"DescribeProducers partition %d: %+v, expected producer %d epoch 0 last sequence %d", part, me, pid, next[part]-1)
	}

	through := map[int32]int64{}
	for part, k := range next {
		through[part] = k - 1
	}
	got := readPartitions(broker, t, through, sarama.ReadUncommitted, 60*time.Second)
	total := 0
	for part, pms := range got {
		for i, m := range pms {
			harness.Check(m.Offset == int64(i) && string(m.Value) == order[part][i], "partition %d: message %d is %d:%s, expected %d:%s", part, i, m.Offset, m.Value, i, order[part][i])
			total++
		}
	}
	harness.Check(total == n, "read %d messages, produced %d", total, n)
	harness.Logf("%d messages in %d ms (producer id %d); partitions %v; acked in order at contiguous offsets; DescribeProducers: one producer, last sequence = count-1 on each; read back exactly once in order",
		n, el.Milliseconds(), pid, next)
}
