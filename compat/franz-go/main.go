// Command franzgo runs one franz-go (kgo + kadm) compat scenario against brokk per
// invocation; compat/franz-go/run.sh builds it and runs every scenario:
//
//	franzgo codecs BROKER                       produce with every codec, read back (data.go)
//	franzgo times BROKER                        ListOffsets by time, start, end, max timestamp
//	franzgo group BROKER BALANCER               two members share 4 partitions, one leaves (groups.go)
//	franzgo commit BROKER STATE                 commits; a new member resumes exactly there
//	franzgo resume BROKER STATE                 after the broker's kill -9: resume after the last commit
//	franzgo admin-topics|admin-configs|admin-partitions|admin-records|admin-groups BROKER (admin.go)
//	franzgo idempotent BROKER N                 the default (idempotent) producer (idem.go)
//	franzgo txn-eos BROKER N                    GroupTransactSession consume-transform-produce (txn.go)
//	franzgo txn-fence BROKER                    a second producer with the same transactional id
//	franzgo epochs-restart BROKER BROKK_BIN DATA     a consumer across a broker restart (epochs.go)
//	franzgo epochs-truncation BROKER BROKK_BIN DATA  a crash loses records: ErrDataLoss
//	franzgo cluster-create|cluster-produce|cluster-consume BOOTSTRAP ...  against three nodes (cluster.go)
//
// Every check that fails prints "FAIL: ..." and exits 1 (../go-common/harness: dispatch,
// checks, waits, the broker the epoch scenarios run). FG_LOG=debug|info logs kgo's own log
// lines to stderr.
package main

import (
	"context"
	"errors"
	"os"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"brokk/compat/go-common/harness"
)

var scenarios = map[string]func(args []string){
	"codecs":            codecs,
	"times":             times,
	"group":             group,
	"commit":            commit,
	"resume":            resume,
	"admin-topics":      adminTopics,
	"admin-configs":     adminConfigs,
	"admin-partitions":  adminPartitions,
	"admin-records":     adminRecords,
	"admin-groups":      adminGroups,
	"idempotent":        idempotent,
	"txn-eos":           txnEOS,
	"txn-fence":         txnFence,
	"epochs-restart":    epochsRestart,
	"epochs-truncation": epochsTruncation,
}

func main() { harness.Main("franzgo", scenarios) }

// ctxFor is a context with a deadline, for one client call or wait.
func ctxFor(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // released at the deadline; the process is short-lived
	return ctx
}

// opts are the options every client gets, plus extra.
func opts(broker string, extra ...kgo.Opt) []kgo.Opt {
	o := []kgo.Opt{kgo.SeedBrokers(broker), kgo.ClientID("brokk-compat-franz-go")}
	switch os.Getenv("FG_LOG") {
	case "debug":
		o = append(o, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	case "info":
		o = append(o, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
	}
	return append(o, extra...)
}

// partitioned: the client sends each record to its Record.Partition.
func partitioned() kgo.Opt { return kgo.RecordPartitioner(kgo.ManualPartitioner()) }

func client(broker string, extra ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(opts(broker, extra...)...)
	harness.Must(err, "kgo.NewClient")
	return cl
}

// admin returns a kadm client and the kgo client under it (close that one).
func admin(broker string) (*kadm.Client, *kgo.Client) {
	cl := client(broker)
	return kadm.NewClient(cl), cl
}

// createTopic creates a topic with CreateTopics and checks the answer.
func createTopic(adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	r, err := adm.CreateTopic(ctxFor(15*time.Second), partitions, 1, configs, topic)
	harness.Must(err, "create topic "+topic)
	harness.Check(r.NumPartitions == partitions, "create %s: %d partitions in the answer, asked %d", topic, r.NumPartitions, partitions)
}

// produceSync produces the records and fails on any error; the records then carry their
// partition and offset.
func produceSync(cl *kgo.Client, rs ...*kgo.Record) {
	for i, r := range cl.ProduceSync(ctxFor(60*time.Second), rs...) {
		if r.Err != nil {
			harness.Fail("produce record %d (%s): %v", i, r.Record.Topic, r.Err)
		}
	}
}

// rec is a record for an explicit partition (clients made with partitioned()).
func rec(topic string, partition int32, key, value string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// readUntil reads the partitions from their start with a direct (group-less) consumer until
// stop says it has everything, or fails at the deadline.
func readUntil(broker, topic string, partitions []int32, isolation kgo.IsolationLevel, timeout time.Duration,
	stop func([]*kgo.Record) bool) []*kgo.Record {
	start := map[int32]kgo.Offset{}
	for _, p := range partitions {
		start[p] = kgo.NewOffset().AtStart()
	}
	cl := client(broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(isolation), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(timeout)
	for !stop(got) {
		harness.Check(time.Now().Before(deadline), "read of %s: only %d records within %s", topic, len(got), timeout)
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

// byPartition groups records by partition, each in fetch order.
func byPartition(rs []*kgo.Record) map[int32][]*kgo.Record {
	out := map[int32][]*kgo.Record{}
	for _, r := range rs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	return out
}

// valuesOf: the records' values, in order.
func valuesOf(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// seenOffsets: stop condition "every partition has reached offset want[p]" (want[p] read).
func seenOffsets(want map[int32]int64) func([]*kgo.Record) bool {
	return func(rs []*kgo.Record) bool {
		last := map[int32]int64{}
		for _, r := range rs {
			if l, ok := last[r.Partition]; !ok || r.Offset > l {
				last[r.Partition] = r.Offset
			}
		}
		for p, o := range want {
			if l, ok := last[p]; !ok || l < o {
				return false
			}
		}
		return true
	}
}

func sortedInt32(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func seq(n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}
