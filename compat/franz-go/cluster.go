package main

// franz-go against a three-node brokk cluster (compat/cluster-clients/run.sh):
//
//	franzgo cluster-create BOOTSTRAP TOPIC            replication factor 3, 3 partitions, min.insync.replicas=2, waited for in sync
//	franzgo cluster-produce BOOTSTRAP TOPIC FROM TO   values FROM..TO-1 with the default (idempotent) producer, acks=all
//	franzgo cluster-consume BOOTSTRAP TOPIC N GROUP   a group member reads N distinct values, none twice, partitions in order

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"brokk/compat/go-common/harness"
)

func init() {
	scenarios["cluster-create"] = clusterCreate
	scenarios["cluster-produce"] = clusterProduce
	scenarios["cluster-consume"] = clusterConsume
}

// clusterClient seeds from every node of BOOTSTRAP (comma-separated).
func clusterClient(bootstrap string, extra ...kgo.Opt) *kgo.Client {
	o := append([]kgo.Opt{kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.ClientID("brokk-compat-franz-go")}, extra...)
	cl, err := kgo.NewClient(o...)
	harness.Must(err, "kgo.NewClient")
	return cl
}

func clusterCreate(args []string) {
	cl := clusterClient(args[0])
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t := args[1]
	r, err := adm.CreateTopic(ctxFor(60*time.Second), 3, 3, map[string]*string{"min.insync.replicas": harness.Ptr("2")}, t)
	harness.Must(err, "CreateTopic")
	harness.Check(r.Err == nil, "CreateTopic: %v %s", r.Err, r.ErrMessage)
	var last string
	harness.WaitUntil(60*time.Second, "every partition in sync on three replicas", nil, func() bool {
		md, err := adm.Metadata(ctxFor(10*time.Second), t)
		if err != nil {
			return false
		}
		ps := md.Topics[t].Partitions
		last = fmt.Sprintf("%+v", ps)
		if len(ps) != 3 {
			return false
		}
		for _, p := range ps {
			if p.Leader < 0 || len(p.Replicas) != 3 || len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	fmt.Printf("created %s: %s\n", t, last)
}

func clusterProduce(args []string) {
	from, err := strconv.Atoi(args[2])
	harness.Must(err, "FROM")
	to, err := strconv.Atoi(args[3])
	harness.Must(err, "TO")
	cl := clusterClient(args[0], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(90*time.Second))
	defer cl.Close()
	rs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		v := []byte(strconv.Itoa(i))
		rs = append(rs, &kgo.Record{Topic: args[1], Key: v, Value: v})
	}
	res := cl.ProduceSync(ctxFor(120*time.Second), rs...)
	harness.Must(res.FirstErr(), "ProduceSync")
	fmt.Printf("produced %d..%d, all acknowledged\n", from, to-1)
}

func clusterConsume(args []string) {
	n, err := strconv.Atoi(args[2])
	harness.Must(err, "N")
	t, group := args[1], args[3]
	cl := clusterClient(args[0], kgo.ConsumerGroup(group), kgo.ConsumeTopics(t),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	seen := map[int]bool{}
	last := map[int32]int64{}
	deadline := time.Now().Add(120 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		fs := cl.PollFetches(ctxFor(5 * time.Second))
		fs.EachError(func(topic string, p int32, err error) {
			// A dead node of the seed list, or a poll's own deadline: the client carries on.
			fmt.Printf("fetch error %s/%d: %v\n", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			v, err := strconv.Atoi(string(r.Value))
			harness.Must(err, "value")
			harness.Check(!seen[v], "value %d read twice", v)
			if l, ok := last[r.Partition]; ok {
				harness.Check(r.Offset > l, "partition %d went back to offset %d after %d", r.Partition, r.Offset, l)
			}
			last[r.Partition] = r.Offset
			seen[v] = true
		})
	}
	for i := 0; i < n; i++ {
		harness.Check(seen[i], "value %d never read (%d of %d)", i, len(seen), n)
	}
	fmt.Printf("group %s read %d values once each, %d partitions in order\n", group, n, len(last))
}
