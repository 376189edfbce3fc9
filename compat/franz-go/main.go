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
//
// Every check that fails prints "FAIL: ..." and exits 1. FG_LOG=debug|info logs kgo's own
// log lines to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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

func main() {
	if len(os.Args) < 3 || scenarios[os.Args[1]] == nil {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: franzgo SCENARIO BROKER [ARGS...]; scenarios: %s\n", strings.Join(names, " "))
		os.Exit(2)
	}
	scenarios[os.Args[1]](os.Args[2:])
}

// atExit runs before a failing check exits (brokers a scenario runs itself).
var atExit []func()

// fail reports a failed check and exits; it may be called from any goroutine.
func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", a...)
	for _, f := range atExit {
		f()
	}
	os.Exit(1)
}

func check(cond bool, format string, a ...any) {
	if !cond {
		fail(format, a...)
	}
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func logf(format string, a ...any) { fmt.Printf("   "+format+"\n", a...) }

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
	must(err, "kgo.NewClient")
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
	must(err, "create topic "+topic)
	check(r.NumPartitions == partitions, "create %s: %d partitions in the answer, asked %d", topic, r.NumPartitions, partitions)
}

// produceSync produces the records and fails on any error; the records then carry their
// partition and offset.
func produceSync(cl *kgo.Client, rs ...*kgo.Record) {
	for i, r := range cl.ProduceSync(ctxFor(60*time.Second), rs...) {
		if r.Err != nil {
			fail("produce record %d (%s): %v", i, r.Record.Topic, r.Err)
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
		check(time.Now().Before(deadline), "read of %s: only %d records within %s", topic, len(got), timeout)
		fs := cl.PollFetches(ctxFor(500 * time.Millisecond))
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				fail("fetch %s/%d: %v", t, p, err)
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

// waitUntil checks cond each time wake fires (with wake nil: every 20 ms, for states the
// client has no event for) until it holds, or fails once the timeout has passed.
func waitUntil(timeout time.Duration, what string, wake <-chan struct{}, cond func() bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		var tick <-chan time.Time
		if wake == nil {
			tick = time.After(20 * time.Millisecond)
		}
		select {
		case <-wake:
		case <-tick:
		case <-deadline.C:
			if !cond() {
				fail("%s: not within %s", what, timeout)
			}
			return
		}
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
