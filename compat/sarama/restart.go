package main

import (
	"fmt"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

// restart BROKER BROKK_BIN DATA: a PartitionConsumer reads 10 messages at leader epoch 0;
// the broker restarts (SIGTERM) under it at epoch 2; it carries on and reads the next 10
// messages once each. sarama sends the partition's leader epoch in its fetches
// (current_leader_epoch, KIP-320's fencing) and refreshes metadata on FENCED_LEADER_EPOCH,
// but never asks OffsetForLeaderEpoch: this is a restart, not a position validation.
func restart(args []string) {
	broker, bin, data := args[0], args[1], args[2]
	b := harness.NewBrokerProc(bin, broker, data)
	defer b.Kill()
	b.Start()
	const t = "sa-restart"
	adm := newAdmin(broker)
	createTopic(adm, t, 1, nil)
	harness.Must(adm.Close(), "close admin")
	produce := func(prefix string) {
		p := newSyncProducer(broker, manual(config()))
		var ms []*sarama.ProducerMessage
		for i := 0; i < 10; i++ {
			ms = append(ms, msg(t, 0, "", fmt.Sprintf("%s%d", prefix, i)))
		}
		sendAll(p, ms...)
		harness.Must(p.Close(), "close producer")
	}
	produce("a")
	c := config()
	c.Consumer.Retry.Backoff = 100 * time.Millisecond
	c.Metadata.Retry.Max = 100
	cons, err := sarama.NewConsumer([]string{broker}, c)
	harness.Must(err, "NewConsumer")
	defer cons.Close()
	pc, err := cons.ConsumePartition(t, 0, sarama.OffsetOldest)
	harness.Must(err, "ConsumePartition")
	receive := func(n int) []string {
		var out []string
		deadline := time.After(60 * time.Second)
		for len(out) < n {
			select {
			case m := <-pc.Messages():
				out = append(out, fmt.Sprintf("%d:%s", m.Offset, m.Value))
			case err := <-pc.Errors():
				// sarama reports the broken connection and then redispatches by itself
				harness.Logf("consumer error (it carries on): %v", err)
			case <-deadline:
				harness.Fail("only %d of %d messages: %v", len(out), n, out)
			}
		}
		return out
	}
	got := receive(10)
	harness.Check(fmt.Sprint(got) == "[0:a0 1:a1 2:a2 3:a3 4:a4 5:a5 6:a6 7:a7 8:a8 9:a9]", "before the restart: %v", got)
	b.Stop(syscall.SIGTERM)
	b.Start()
	produce("b")
	got = receive(10)
	harness.Check(fmt.Sprint(got) == "[10:b0 11:b1 12:b2 13:b3 14:b4 15:b5 16:b6 17:b7 18:b8 19:b9]", "after the restart: %v", got)
	cl := newClient(broker, config())
	defer cl.Close()
	_, epoch, err := cl.LeaderAndEpoch(t, 0)
	harness.Must(err, "LeaderAndEpoch")
	harness.Check(epoch == 2, "leader epoch after the restart: %d, expected 2", epoch)
	select {
	case m := <-pc.Messages():
		harness.Fail("a message after the 20: %d:%s", m.Offset, m.Value)
	case <-time.After(time.Second):
	}
	harness.Logf("the consumer outlived the restart (leader epoch 0 -> %d): the next 10 messages once each, nothing more", epoch)
}
