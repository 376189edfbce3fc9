package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"brokk/compat/go-common/harness"
)

// requestCounter counts the requests of one API key the client wrote.
type requestCounter struct {
	key int16
	n   atomic.Int64
}

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == c.key && err == nil {
		c.n.Add(1)
	}
}

type got struct {
	offset int64
	epoch  int32
	value  string
}

// receive polls until n records are in; any fetch error but the poll's own deadline fails.
func receive(cl *kgo.Client, n int, timeout time.Duration) []got {
	var out []got
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		harness.Check(time.Now().Before(deadline), "only %d of %d records within %s: %v", len(out), n, timeout, out)
		fs := cl.PollFetches(ctxFor(500 * time.Millisecond))
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				harness.Fail("fetch %s/%d: %v", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, got{r.Offset, r.LeaderEpoch, string(r.Value)}) })
	}
	return out
}

func produceValues(broker, topic string, values ...string) {
	p := client(broker, partitioned())
	defer p.Close()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, rec(topic, 0, "", v))
	}
	produceSync(p, rs...)
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func epochConsumer(broker, topic string, counter *requestCounter) *kgo.Client {
	return client(broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.WithHooks(counter), kgo.RetryTimeout(60*time.Second))
}

// epochsRestart BROKER BROKK_BIN DATA: 10 records at leader epoch 0; the broker restarts
// (SIGTERM) at epoch 2 under the running consumer, which validates its position with
// OffsetForLeaderEpoch (no data loss) and reads the next 10 records once each, at epoch 2.
func epochsRestart(args []string) {
	broker, bin, data := args[0], args[1], args[2]
	b := harness.NewBrokerProc(bin, broker, data)
	defer b.Kill()
	b.Start()
	const t = "fg-e1"
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, t, 1, nil)
	produceValues(broker, t, values("a", 10)...)
	counter := &requestCounter{key: 23} // OffsetForLeaderEpoch
	c := epochConsumer(broker, t, counter)
	defer c.Close()
	g := receive(c, 10, 30*time.Second)
	for i, r := range g {
		harness.Check(r == got{int64(i), 0, fmt.Sprintf("a%d", i)}, "epoch 0 records: %v", g)
	}
	before := counter.n.Load()
	b.Stop(syscall.SIGTERM)
	b.Start()
	produceValues(broker, t, values("b", 10)...)
	g = receive(c, 10, 60*time.Second)
	for i, r := range g {
		harness.Check(r == got{int64(10 + i), 2, fmt.Sprintf("b%d", i)}, "after the restart: %v", g)
	}
	asked := counter.n.Load() - before
	harness.Check(asked >= 1, "the consumer never validated its position (no OffsetForLeaderEpoch after the restart)")
	// what brokk answers the same question
	oe, err := adm.OffsetForLeaderEpoch(ctxFor(10*time.Second), kadm.OffsetForLeaderEpochRequest{t: {0: 0}})
	harness.Must(err, "OffsetForLeaderEpoch")
	e0 := oe[t][0]
	harness.Check(e0.Err == nil && e0.LeaderEpoch == 0 && e0.EndOffset == 10, "OffsetForLeaderEpoch(epoch 0): %+v, expected epoch 0 ending at 10", e0)
	oe, err = adm.OffsetForLeaderEpoch(ctxFor(10*time.Second), kadm.OffsetForLeaderEpochRequest{t: {0: 2}})
	harness.Must(err, "OffsetForLeaderEpoch")
	e2 := oe[t][0]
	harness.Check(e2.Err == nil && e2.LeaderEpoch == 2 && e2.EndOffset == 20, "OffsetForLeaderEpoch(epoch 2): %+v, expected epoch 2 ending at the log end 20", e2)
	fs := c.PollFetches(ctxFor(time.Second))
	harness.Check(len(fs.Records()) == 0, "records after the 20: %d", len(fs.Records()))
	harness.Logf("%d OffsetForLeaderEpoch request(s) after the restart, no data loss; the next 10 records once each at epoch 2; brokk answers epoch 0 -> end 10, epoch 2 -> end 20", asked)
}

// epochsTruncation BROKER BROKK_BIN DATA: 5 records at epoch 0, a clean restart, 3 at
// epoch 2, all consumed; a crash then loses the epoch-2 records (the segment file is cut
// back, as a power loss of unflushed data would) and the broker comes back at epoch 4. The
// consumer reports kgo's ErrDataLoss (consumed to 8, reset to 5, where epoch 2's records
// began) and, with no seek, reads the new records at 5 and 6 at epoch 4.
func epochsTruncation(args []string) {
	broker, bin, data := args[0], args[1], args[2]
	b := harness.NewBrokerProc(bin, broker, data)
	defer b.Kill()
	b.Start()
	const t = "fg-e2"
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, t, 1, nil)
	produceValues(broker, t, values("a", 5)...)
	b.Stop(syscall.SIGTERM)
	segment := filepath.Join(data, t+"-0", "00000000000000000000.log")
	st, err := os.Stat(segment)
	harness.Must(err, "segment")
	epoch0Bytes := st.Size()
	b.Start()
	produceValues(broker, t, values("b", 3)...)
	counter := &requestCounter{key: 23}
	c := epochConsumer(broker, t, counter)
	defer c.Close()
	g := receive(c, 8, 30*time.Second)
	want := []got{{0, 0, "a0"}, {1, 0, "a1"}, {2, 0, "a2"}, {3, 0, "a3"}, {4, 0, "a4"}, {5, 2, "b0"}, {6, 2, "b1"}, {7, 2, "b2"}}
	harness.Check(fmt.Sprint(g) == fmt.Sprint(want), "before the crash: %v", g)
	b.Stop(syscall.SIGKILL)
	harness.Must(os.Truncate(segment, epoch0Bytes), "cut the segment back")
	b.Start()
	var loss *kgo.ErrDataLoss
	deadline := time.Now().Add(60 * time.Second)
	for loss == nil {
		harness.Check(time.Now().Before(deadline), "no ErrDataLoss within 60s")
		fs := c.PollFetches(ctxFor(500 * time.Millisecond))
		fs.EachError(func(tp string, p int32, err error) {
			if errors.As(err, &loss) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			harness.Fail("fetch %s/%d: %v", tp, p, err)
		})
		harness.Check(len(fs.Records()) == 0, "records from the lost tail's offsets: %d", len(fs.Records()))
	}
	harness.Check(loss.Topic == t && loss.Partition == 0 && loss.ConsumedTo == 8 && loss.ResetTo == 5,
		"ErrDataLoss %+v, expected consumed to 8, reset to 5", *loss)
	harness.Check(counter.n.Load() >= 1, "no OffsetForLeaderEpoch request")
	produceValues(broker, t, "c0", "c1")
	g = receive(c, 2, 30*time.Second)
	harness.Check(fmt.Sprint(g) == fmt.Sprint([]got{{5, 4, "c0"}, {6, 4, "c1"}}), "after the truncation: %v", g)
	harness.Logf("ErrDataLoss: %v; then the new records at 5 and 6, epoch 4 (%d OffsetForLeaderEpoch requests)", loss, counter.n.Load())
}
