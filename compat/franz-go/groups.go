package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"brokk/compat/go-common/harness"
)

// groupOpts: short sessions (the broker runs with group.min.session.timeout.ms=1000).
func groupOpts(group string, topics ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	}
}

// member is a group member polled in its own goroutine. With BlockRebalanceOnPoll, no
// rebalance happens between a poll and the commit of what it returned (then AllowRebalance),
// so its view of what it owns is exact while it handles records.
type member struct {
	name    string
	cl      *kgo.Client
	ledger  *harness.Ledger
	mu      sync.Mutex
	owned   map[int32]bool
	revoked []int32 // every partition revoked or lost, in order
	stop    chan struct{}
	done    chan struct{}
}

func startMember(broker, name, group, topic string, balancer kgo.GroupBalancer, l *harness.Ledger) *member {
	m := &member{name: name, ledger: l, owned: map[int32]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	o := append(groupOpts(group, topic), kgo.Balancers(balancer), kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
			m.mu.Unlock()
			l.Signal()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.revoked = append(m.revoked, r[topic]...)
			m.mu.Unlock()
			l.Signal()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.revoked = append(m.revoked, r[topic]...)
			m.mu.Unlock()
			l.Signal()
		}))
	m.cl = client(broker, o...)
	go m.run()
	return m
}

func (m *member) run() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		fs := m.cl.PollRecords(ctxFor(200*time.Millisecond), 500)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				harness.Fail("%s: fetch %s/%d: %v", m.name, t, p, err)
			}
		})
		recs := fs.Records()
		if len(recs) > 0 {
			m.mu.Lock()
			for _, r := range recs {
				harness.Check(m.owned[r.Partition], "%s consumed %d/%d while owning %v", m.name, r.Partition, r.Offset, sortedInt32(m.owned))
			}
			m.mu.Unlock()
			cs := make([]harness.Consumed, 0, len(recs))
			for _, r := range recs {
				cs = append(cs, harness.Consumed{Member: m.name, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			}
			m.ledger.Add(cs...)
			harness.Must(m.cl.CommitUncommittedOffsets(ctxFor(10*time.Second)), m.name+": commit")
			m.ledger.Signal()
		}
		m.cl.AllowRebalance()
	}
}

// revokedSince: the partitions revoked from the member after the first n revocations, sorted.
func (m *member) revokedSince(n int) []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]int32(nil), m.revoked[n:]...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (m *member) revocations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.revoked)
}

func (m *member) ownedNow() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedInt32(m.owned)
}

// leave stops polling (the last poll's records are committed) and closes: LeaveGroup.
func (m *member) leave() {
	close(m.stop)
	<-m.done
	m.cl.CloseAllowingRebalance()
}

var balancers = map[string]func() kgo.GroupBalancer{
	"cooperative-sticky": kgo.CooperativeStickyBalancer,
	"range":              kgo.RangeBalancer,
	"roundrobin":         kgo.RoundRobinBalancer,
	"sticky":             kgo.StickyBalancer,
}

// group BROKER BALANCER: members A and B share a 4-partition topic (2 each, disjoint and
// complete, as DescribeGroups shows too); 2000 records are consumed exactly once, each by
// the owner of its partition; B leaves, A gets all 4 and resumes B's partitions at B's
// commits; 400 more are consumed exactly once by A.
func group(args []string) {
	broker, bname := args[0], args[1]
	mk := balancers[bname]
	harness.Check(mk != nil, "unknown balancer %s", bname)
	topic, grp := "fg-group-"+bname, "fg-group-"+bname
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, topic, 4, nil)
	l := harness.NewLedger()
	a := startMember(broker, "A", grp, topic, mk(), l)
	harness.WaitUntil(15*time.Second, "A owns all 4 partitions", l.Wake, func() bool { return len(a.ownedNow()) == 4 })
	r0 := a.revocations()
	b := startMember(broker, "B", grp, topic, mk(), l)
	t0 := time.Now()
	split := func() bool {
		ao, bo := a.ownedNow(), b.ownedNow()
		all := map[int32]bool{}
		for _, p := range append(append([]int32{}, ao...), bo...) {
			all[p] = true
		}
		return len(ao) == 2 && len(bo) == 2 && len(all) == 4
	}
	harness.WaitUntil(20*time.Second, "A and B own 2 partitions each, all 4 between them", l.Wake, split)
	joinMs := time.Since(t0).Milliseconds()
	ao, bo := a.ownedNow(), b.ownedNow()
	// cooperative (KIP-429): A gives up only what B gets; eager: A gives up everything first
	cooperative := bname == "cooperative-sticky"
	wantRevoked := fmt.Sprint([]int32{0, 1, 2, 3})
	if cooperative {
		wantRevoked = fmt.Sprint(bo)
	}
	harness.Check(fmt.Sprint(a.revokedSince(r0)) == wantRevoked, "%s: B's join revoked %v from A, expected %s", bname, a.revokedSince(r0), wantRevoked)

	// what the coordinator says: the same split, under the balancer's protocol name
	dg, err := adm.DescribeGroups(ctxFor(10*time.Second), grp)
	harness.Must(err, "DescribeGroups")
	d := dg[grp]
	harness.Check(d.Err == nil && d.State == "Stable" && d.ProtocolType == "consumer" && d.Protocol == mk().ProtocolName() && len(d.Members) == 2,
		"DescribeGroups: state %s protocol %s/%s, %d members, err %v", d.State, d.ProtocolType, d.Protocol, len(d.Members), d.Err)
	described := [][]int32{}
	for _, mem := range d.Members {
		ca, ok := mem.Assigned.AsConsumer()
		harness.Check(ok, "member %s: no consumer assignment", mem.MemberID)
		ps := []int32{}
		for _, t := range ca.Topics {
			harness.Check(t.Topic == topic, "member %s assigned topic %s", mem.MemberID, t.Topic)
			ps = append(ps, t.Partitions...)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		described = append(described, ps)
	}
	harness.Check(fmt.Sprint(described) == fmt.Sprint([][]int32{ao, bo}) || fmt.Sprint(described) == fmt.Sprint([][]int32{bo, ao}),
		"DescribeGroups assignments %v, the members own A %v B %v", described, ao, bo)

	// phase 1: 2000 keyed records
	p := client(broker)
	defer p.Close()
	produced := map[[2]int64]string{} // (partition, offset) -> value
	var rs []*kgo.Record
	for i := 0; i < 2000; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("one-%d", i))})
	}
	produceSync(p, rs...)
	for _, r := range rs {
		produced[[2]int64{int64(r.Partition), r.Offset}] = string(r.Value)
	}
	perMember := harness.PerMember(l.WaitExactlyOnce(produced, "phase 1", "record"))
	harness.Check(perMember["A"] > 0 && perMember["B"] > 0, "both members consumed: %v", perMember)

	// B leaves (its last records are committed first)
	r1 := a.revocations()
	t1 := time.Now()
	b.leave()
	harness.WaitUntil(20*time.Second, "A owns all 4 partitions after B left", l.Wake, func() bool { return len(a.ownedNow()) == 4 })
	leaveMs := time.Since(t1).Milliseconds()
	wantRevoked = fmt.Sprint(ao)
	if cooperative {
		wantRevoked = "[]"
	}
	harness.Check(fmt.Sprint(a.revokedSince(r1)) == wantRevoked, "%s: B's leave revoked %v from A, expected %s", bname, a.revokedSince(r1), wantRevoked)
	ends, err := adm.ListEndOffsets(ctxFor(10*time.Second), topic)
	harness.Must(err, "ListEndOffsets")
	fo, err := adm.FetchOffsets(ctxFor(10*time.Second), grp)
	harness.Must(err, "FetchOffsets")
	for part := int32(0); part < 4; part++ {
		e, _ := ends.Lookup(topic, part)
		c, ok := fo.Lookup(topic, part)
		harness.Check(ok && c.Err == nil && c.At == e.Offset, "partition %d committed %+v, end offset %d", part, c, e.Offset)
	}

	// phase 2: 400 more, all for A, B's partitions included
	rs = nil
	for i := 0; i < 400; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("two-%d", i))})
	}
	produceSync(p, rs...)
	for _, r := range rs {
		produced[[2]int64{int64(r.Partition), r.Offset}] = string(r.Value)
	}
	all := l.WaitExactlyOnce(produced, "phase 2", "record")
	harness.ConsumedBy("A", all[len(all)-400:], "after B left")
	a.leave()
	harness.Logf("%s: B joined, split A %v B %v in %d ms (DescribeGroups agrees, protocol %s; A gave up %s); 2000 records exactly once (A %d, B %d); B left, A owned all 4 in %d ms, resumed at B's commits, 400 more exactly once",
		bname, ao, bo, joinMs, d.Protocol, map[bool]string{true: "only B's", false: "all 4 first"}[cooperative], perMember["A"], perMember["B"], leaveMs)
}

// commitState is what commit leaves for resume (after the broker's kill -9).
type commitState struct {
	Committed map[int32]int64 `json:"committed"`
	End       map[int32]int64 `json:"end"`
}

const commitTopic, commitGroup = "fg-commit", "fg-commit-g"

// consumeGroupUntil runs a group member on commitTopic until it has read through offset
// last[p] of every partition in last; returns what it read per partition.
func consumeGroupUntil(cl *kgo.Client, last map[int32]int64) map[int32][]int64 {
	got := map[int32][]int64{}
	deadline := time.Now().Add(30 * time.Second)
	done := func() bool {
		for p, o := range last {
			if n := len(got[p]); n == 0 || got[p][n-1] < o {
				return false
			}
		}
		return true
	}
	for !done() {
		harness.Check(time.Now().Before(deadline), "consumed %v, expected through %v", got, last)
		fs := cl.PollFetches(ctxFor(500 * time.Millisecond))
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				harness.Fail("fetch %s/%d: %v", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			harness.Check(string(r.Value) == harness.ValueAt(r.Partition, r.Offset), "%d/%d is %q", r.Partition, r.Offset, r.Value)
			got[r.Partition] = append(got[r.Partition], r.Offset)
		})
	}
	return got
}

// produceUpTo appends records to each partition of commitTopic up to (excluding) offset end.
func produceUpTo(broker string, from, end int64) {
	p := client(broker, partitioned())
	defer p.Close()
	var rs []*kgo.Record
	for part := int32(0); part < 4; part++ {
		for o := from; o < end; o++ {
			rs = append(rs, rec(commitTopic, part, "", harness.ValueAt(part, o)))
		}
	}
	produceSync(p, rs...)
	for _, r := range rs {
		harness.Check(string(r.Value) == harness.ValueAt(r.Partition, r.Offset), "produced %q at %d/%d", r.Value, r.Partition, r.Offset)
	}
}

func fetchCommitted(adm *kadm.Client) map[int32]int64 {
	fo, err := adm.FetchOffsets(ctxFor(10*time.Second), commitGroup)
	harness.Must(err, "FetchOffsets")
	out := map[int32]int64{}
	fo.Each(func(o kadm.OffsetResponse) {
		harness.Check(o.Err == nil && o.Topic == commitTopic, "FetchOffsets: %+v", o)
		out[o.Partition] = o.At
	})
	return out
}

func commitSync(cl *kgo.Client, offs map[int32]int64) {
	eo := map[string]map[int32]kgo.EpochOffset{commitTopic: {}}
	for p, o := range offs {
		eo[commitTopic][p] = kgo.EpochOffset{Epoch: 0, Offset: o} // every record here is at leader epoch 0
	}
	var cerr error
	cl.CommitOffsetsSync(ctxFor(10*time.Second), eo, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = err
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 {
						cerr = fmt.Errorf("%s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
					}
				}
			}
		}
	})
	harness.Must(cerr, "CommitOffsetsSync")
}

// commit BROKER STATE: C1 reads 4x40 records and commits (CommitUncommittedOffsets: 40
// everywhere), then commits 12, 25, 40, 7 (CommitOffsetsSync); a new member C2 resumes
// exactly there (a record at offset 40 on each partition marks the end); C2 commits 30 on
// partition 0 and 20 on partition 3; 10 more records per partition follow.
func commit(args []string) {
	broker, statePath := args[0], args[1]
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, commitTopic, 4, nil)
	produceUpTo(broker, 0, 40)

	c1 := client(broker, groupOpts(commitGroup, commitTopic)...)
	got := consumeGroupUntil(c1, map[int32]int64{0: 39, 1: 39, 2: 39, 3: 39})
	for p := int32(0); p < 4; p++ {
		harness.ExpectRange(fmt.Sprintf("C1 partition %d", p), got[p], 0, 39)
	}
	harness.Must(c1.CommitUncommittedOffsets(ctxFor(10*time.Second)), "C1 CommitUncommittedOffsets")
	c := fetchCommitted(adm)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(map[int32]int64{0: 40, 1: 40, 2: 40, 3: 40}), "after CommitUncommittedOffsets: %v", c)
	co := c1.CommittedOffsets()[commitTopic]
	harness.Check(len(co) == 4 && co[0].Offset == 40 && co[3].Offset == 40, "C1's CommittedOffsets(): %v", co)
	set := map[int32]int64{0: 12, 1: 25, 2: 40, 3: 7}
	commitSync(c1, set)
	c1.Close()
	c = fetchCommitted(adm)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(set), "after CommitOffsetsSync %v: %v", set, c)

	produceUpTo(broker, 40, 41) // one record per partition marks the end for C2
	c2 := client(broker, groupOpts(commitGroup, commitTopic)...)
	got = consumeGroupUntil(c2, map[int32]int64{0: 40, 1: 40, 2: 40, 3: 40})
	for p := int32(0); p < 4; p++ {
		harness.ExpectRange(fmt.Sprintf("C2 partition %d", p), got[p], set[p], 40)
	}
	last := map[int32]int64{0: 30, 3: 20}
	commitSync(c2, last)
	c2.Close()
	want := map[int32]int64{0: 30, 1: 25, 2: 40, 3: 20}
	c = fetchCommitted(adm)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(want), "after C2's commit of %v: %v, expected %v", last, c, want)
	produceUpTo(broker, 41, 51)
	harness.SaveState(statePath, commitState{Committed: want, End: map[int32]int64{0: 51, 1: 51, 2: 51, 3: 51}})
	harness.Logf("CommitUncommittedOffsets: 40 x4; CommitOffsetsSync 12,25,40,7 read back; C2 resumed exactly there; C2's commit of p0=30 p3=20 read back")
}

// resume BROKER STATE: after the broker's restart the committed offsets are the last
// commit; a new member reads exactly from there to the end, commits, and the commits are
// the end offsets.
func resume(args []string) {
	broker, statePath := args[0], args[1]
	var st commitState
	harness.LoadState(statePath, &st)
	adm, acl := admin(broker)
	defer acl.Close()
	c := fetchCommitted(adm)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(st.Committed), "after the restart the committed offsets are %v, expected %v", c, st.Committed)
	// the commits carry leader epoch 0 and the broker is now at 2: kgo validates them with
	// OffsetForLeaderEpoch before fetching (a data loss would fail the read)
	counter := &requestCounter{key: 23}
	c3 := client(broker, append(groupOpts(commitGroup, commitTopic), kgo.WithHooks(counter))...)
	through := map[int32]int64{}
	for p, e := range st.End {
		through[p] = e - 1
	}
	got := consumeGroupUntil(c3, through)
	n := 0
	for p := int32(0); p < 4; p++ {
		harness.ExpectRange(fmt.Sprintf("C3 partition %d", p), got[p], st.Committed[p], st.End[p]-1)
		n += len(got[p])
	}
	harness.Check(counter.n.Load() >= 1, "C3 resumed at commits of leader epoch 0 without OffsetForLeaderEpoch")
	harness.Must(c3.CommitUncommittedOffsets(ctxFor(10*time.Second)), "C3 commit")
	c3.Close()
	c = fetchCommitted(adm)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(st.End), "after C3's commit: %v, expected %v", c, st.End)
	harness.Logf("committed offsets %v survived; C3 validated them (%d OffsetForLeaderEpoch), read exactly the %d records after them, then committed the end offsets",
		st.Committed, counter.n.Load(), n)
}
