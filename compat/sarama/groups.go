package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

var strategies = map[string]func() sarama.BalanceStrategy{
	"range":              sarama.NewBalanceStrategyRange,
	"roundrobin":         sarama.NewBalanceStrategyRoundRobin,
	"sticky":             sarama.NewBalanceStrategySticky,
	"cooperative-sticky": sarama.NewBalanceStrategyCooperativeSticky,
}

// groupConfig: short sessions (the broker runs with group.min.session.timeout.ms=1000),
// no auto-commit (the scenarios commit), start at the oldest offset.
func groupConfig(strategy sarama.BalanceStrategy) *sarama.Config {
	c := config()
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	c.Consumer.Group.Session.Timeout = 3 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	c.Consumer.Offsets.AutoCommit.Enable = false
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	return c
}

// ledger: who owns which partition right now (a ConsumeClaim runs for it), besides
// everything consumed and a wake-up for waiters (its Mu guards all).
type ledger struct {
	*harness.Ledger
	owner map[int32]string
	ended map[string][]int32 // per member, every partition whose ConsumeClaim returned, in order
}

func newLedger() *ledger {
	return &ledger{Ledger: harness.NewLedger(), owner: map[int32]string{}, ended: map[string][]int32{}}
}

// endedSince: the member's claims that ended after its first n, sorted; and the new count.
func (l *ledger) endedSince(name string, n int) ([]int32, int) {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	out := append([]int32(nil), l.ended[name][n:]...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, len(l.ended[name])
}

func (l *ledger) owned(name string) []int32 {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	var out []int32
	for p, o := range l.owner {
		if o == name {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// member is a ConsumerGroup whose Consume runs in a loop in its own goroutine; its
// ConsumeClaim records what it consumes and commits each batch (MarkMessage + Commit).
type member struct {
	name   string
	cg     sarama.ConsumerGroup
	l      *ledger
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember(broker, name, group, topic string, strategy sarama.BalanceStrategy, l *ledger) *member {
	cg, err := sarama.NewConsumerGroup([]string{broker}, group, groupConfig(strategy))
	harness.Must(err, "NewConsumerGroup")
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, cg: cg, l: l, cancel: cancel, done: make(chan struct{})}
	go func() {
		for err := range cg.Errors() {
			harness.Fail("%s: consumer group error: %v", name, err)
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				harness.Fail("%s: Consume: %v", name, err)
			}
		}
	}()
	return m
}

func (m *member) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	p := claim.Partition()
	m.l.Mu.Lock()
	if o, taken := m.l.owner[p]; taken {
		harness.Fail("%s got partition %d while %s still consumes it", m.name, p, o)
	}
	m.l.owner[p] = m.name
	m.l.Mu.Unlock()
	m.l.Signal()
	defer func() {
		m.l.Mu.Lock()
		delete(m.l.owner, p)
		m.l.ended[m.name] = append(m.l.ended[m.name], p)
		m.l.Mu.Unlock()
		m.l.Signal()
	}()
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch := []*sarama.ConsumerMessage{msg}
		drain:
			for len(batch) < 500 {
				select {
				case more, ok := <-claim.Messages():
					if !ok {
						break drain
					}
					batch = append(batch, more)
				default:
					break drain
				}
			}
			s.MarkMessage(batch[len(batch)-1], "")
			s.Commit() // synchronous: what the ledger holds is committed
			cs := make([]harness.Consumed, 0, len(batch))
			for _, r := range batch {
				cs = append(cs, harness.Consumed{Member: m.name, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			}
			m.l.Add(cs...)
			m.l.Signal()
		case <-s.Context().Done():
			return nil
		}
	}
}

// leave stops consuming and closes the group: LeaveGroup.
func (m *member) leave() {
	m.cancel()
	harness.Must(m.cg.Close(), m.name+": close")
	<-m.done
}

// group BROKER STRATEGY: members A and B share a 4-partition topic (2 each, disjoint and
// complete, as DescribeConsumerGroups shows too; no partition is ever consumed by two
// members at once); 2000 messages are consumed exactly once; B leaves, A gets all 4 and
// resumes B's partitions at B's commits; 400 more are consumed exactly once by A.
func group(args []string) {
	broker, sname := args[0], args[1]
	mk := strategies[sname]
	harness.Check(mk != nil, "unknown strategy %s", sname)
	topic, grp := "sa-group-"+sname, "sa-group-"+sname
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, topic, 4, nil)
	l := newLedger()
	a := startMember(broker, "A", grp, topic, mk(), l)
	harness.WaitUntil(15*time.Second, "A owns all 4 partitions", l.Wake, func() bool { return len(l.owned("A")) == 4 })
	_, n0 := l.endedSince("A", 0)
	b := startMember(broker, "B", grp, topic, mk(), l)
	t0 := time.Now()
	harness.WaitUntil(20*time.Second, "A and B own 2 partitions each", l.Wake, func() bool {
		return len(l.owned("A")) == 2 && len(l.owned("B")) == 2
	})
	joinMs := time.Since(t0).Milliseconds()
	ao, bo := l.owned("A"), l.owned("B")
	// cooperative (KIP-429): A's claims on what it keeps run on, only B's end; eager: every
	// claim ends first
	cooperative := sname == "cooperative-sticky"
	wantEnded := fmt.Sprint([]int32{0, 1, 2, 3})
	if cooperative {
		wantEnded = fmt.Sprint(bo)
	}
	endedA, _ := l.endedSince("A", n0)
	harness.Check(fmt.Sprint(endedA) == wantEnded, "%s: B's join ended A's claims %v, expected %s", sname, endedA, wantEnded)

	ds, err := adm.DescribeConsumerGroups([]string{grp})
	harness.Must(err, "DescribeConsumerGroups")
	harness.Check(len(ds) == 1, "DescribeConsumerGroups: %d groups", len(ds))
	d := ds[0]
	harness.Check(d.Err == sarama.ErrNoError && d.State == "Stable" && d.ProtocolType == "consumer" && d.Protocol == mk().Name() && len(d.Members) == 2,
		"DescribeConsumerGroups: state %s protocol %s/%s, %d members, err %v", d.State, d.ProtocolType, d.Protocol, len(d.Members), d.Err)
	var described []string
	for _, mem := range d.Members {
		as, err := mem.GetMemberAssignment()
		harness.Must(err, "member assignment")
		ps := append([]int32(nil), as.Topics[topic]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		described = append(described, fmt.Sprint(ps))
	}
	sort.Strings(described)
	owned := []string{fmt.Sprint(ao), fmt.Sprint(bo)}
	sort.Strings(owned)
	harness.Check(fmt.Sprint(described) == fmt.Sprint(owned), "DescribeConsumerGroups assignments %v, the members own A %v B %v", described, ao, bo)

	p := newSyncProducer(broker, config())
	defer p.Close()
	produced := map[[2]int64]string{}
	var ms []*sarama.ProducerMessage
	for i := 0; i < 2000; i++ {
		ms = append(ms, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("one-%d", i))})
	}
	sendAll(p, ms...)
	for _, m := range ms {
		produced[[2]int64{int64(m.Partition), m.Offset}] = string(encoded(m.Value))
	}
	per := harness.PerMember(l.WaitExactlyOnce(produced, "phase 1", "message"))
	harness.Check(per["A"] > 0 && per["B"] > 0, "both members consumed: %v", per)

	_, n1 := l.endedSince("A", 0)
	t1 := time.Now()
	b.leave()
	harness.WaitUntil(20*time.Second, "A owns all 4 partitions after B left", l.Wake, func() bool { return len(l.owned("A")) == 4 })
	leaveMs := time.Since(t1).Milliseconds()
	wantEnded = fmt.Sprint(ao)
	if cooperative {
		wantEnded = "[]"
	}
	endedA, _ = l.endedSince("A", n1)
	harness.Check(fmt.Sprint(endedA) == wantEnded, "%s: B's leave ended A's claims %v, expected %s", sname, endedA, wantEnded)
	tps := map[string][]int32{topic: {0, 1, 2, 3}}
	fo, err := adm.ListConsumerGroupOffsets(grp, tps)
	harness.Must(err, "ListConsumerGroupOffsets")
	cl := newClient(broker, config())
	defer cl.Close()
	for part := int32(0); part < 4; part++ {
		end, err := cl.GetOffset(topic, part, sarama.OffsetNewest)
		harness.Must(err, "GetOffset")
		blk := fo.GetBlock(topic, part)
		harness.Check(blk != nil && blk.Err == sarama.ErrNoError && blk.Offset == end, "partition %d committed %+v, end offset %d", part, blk, end)
	}

	ms = nil
	for i := 0; i < 400; i++ {
		ms = append(ms, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("two-%d", i))})
	}
	sendAll(p, ms...)
	for _, m := range ms {
		produced[[2]int64{int64(m.Partition), m.Offset}] = string(encoded(m.Value))
	}
	all := l.WaitExactlyOnce(produced, "phase 2", "message")
	harness.ConsumedBy("A", all[len(all)-400:], "after B left")
	a.leave()
	harness.Logf("%s: B joined, split A %v B %v in %d ms (DescribeConsumerGroups agrees; A's claims ended: %s); 2000 messages exactly once (A %d, B %d); B left, A owned all 4 in %d ms, resumed at B's commits, 400 more exactly once",
		sname, ao, bo, joinMs, map[bool]string{true: "only B's", false: "all 4 first"}[cooperative], per["A"], per["B"], leaveMs)
}

const commitTopic, commitGroup = "sa-commit", "sa-commit-g"

// collector is a one-member group's handler: it records the offsets it reads (marking
// each one if mark is set) and keeps the session for the scenario to commit with.
type collector struct {
	mu   sync.Mutex
	got  map[int32][]int64
	sess sarama.ConsumerGroupSession
	mark bool
	wake chan struct{}
}

// offsets is a copy of what the collector read, per partition.
func (c *collector) offsets() map[int32][]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int32][]int64{}
	for p, os := range c.got {
		out[p] = append([]int64(nil), os...)
	}
	return out
}

func (c *collector) session() sarama.ConsumerGroupSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *collector) Setup(s sarama.ConsumerGroupSession) error {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	return nil
}
func (c *collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			harness.Check(string(m.Value) == harness.ValueAt(m.Partition, m.Offset), "%d/%d is %q", m.Partition, m.Offset, m.Value)
			c.mu.Lock()
			c.got[m.Partition] = append(c.got[m.Partition], m.Offset)
			c.mu.Unlock()
			if c.mark {
				s.MarkMessage(m, "")
			}
			select {
			case c.wake <- struct{}{}:
			default:
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// runCollector joins commitGroup (range; alone, so it gets all 4 partitions) and reads
// until it has read through offset last[p] of every partition; it returns the group (to
// close), its handler (the session) and what it read.
func runCollector(broker string, mark bool, last map[int32]int64) (sarama.ConsumerGroup, context.CancelFunc, *collector) {
	cg, err := sarama.NewConsumerGroup([]string{broker}, commitGroup, groupConfig(sarama.NewBalanceStrategyRange()))
	harness.Must(err, "NewConsumerGroup")
	go func() {
		for err := range cg.Errors() {
			harness.Fail("consumer group error: %v", err)
		}
	}()
	h := &collector{got: map[int32][]int64{}, mark: mark, wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{commitTopic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				harness.Fail("Consume: %v", err)
			}
		}
	}()
	harness.WaitUntil(30*time.Second, fmt.Sprintf("consumed through %v", last), h.wake, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for p, o := range last {
			if n := len(h.got[p]); n == 0 || h.got[p][n-1] < o {
				return false
			}
		}
		return true
	})
	return cg, cancel, h
}

func produceUpTo(broker string, from, end int64) {
	p := newSyncProducer(broker, manual(config()))
	defer p.Close()
	var ms []*sarama.ProducerMessage
	for part := int32(0); part < 4; part++ {
		for o := from; o < end; o++ {
			ms = append(ms, msg(commitTopic, part, "", harness.ValueAt(part, o)))
		}
	}
	sendAll(p, ms...)
	for _, m := range ms {
		harness.Check(string(encoded(m.Value)) == harness.ValueAt(m.Partition, m.Offset), "produced %q at %d/%d", encoded(m.Value), m.Partition, m.Offset)
	}
}

type committedOffset struct {
	Offset   int64  `json:"offset"`
	Metadata string `json:"metadata"`
}

func groupOffsets(adm sarama.ClusterAdmin, group, topic string, parts int32) map[int32]committedOffset {
	var ps []int32
	for p := int32(0); p < parts; p++ {
		ps = append(ps, p)
	}
	r, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	harness.Must(err, "ListConsumerGroupOffsets")
	out := map[int32]committedOffset{}
	for _, p := range ps {
		b := r.GetBlock(topic, p)
		harness.Check(b != nil && b.Err == sarama.ErrNoError, "offset of %s/%d: %+v", topic, p, b)
		out[p] = committedOffset{b.Offset, b.Metadata}
	}
	return out
}

type commitState struct {
	Committed map[int32]committedOffset `json:"committed"`
	End       int64                     `json:"end"`
}

// commit BROKER STATE: C1 reads 4x40 messages, MarkMessage + Commit (40 everywhere), then
// ResetOffset to 12, 25, 40, 7 with metadata (a non-ASCII and a 300-character one among
// them) + Commit; a new member C2 resumes exactly there (a message at offset 40 on each
// partition marks the end) and marks partition 0 at 30 and partition 3 at 20; 10 more
// messages per partition follow.
func commit(args []string) {
	broker, statePath := args[0], args[1]
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, commitTopic, 4, nil)
	produceUpTo(broker, 0, 40)
	all := map[int32]int64{0: 39, 1: 39, 2: 39, 3: 39}
	cg, cancel, h := runCollector(broker, true, all)
	got := h.offsets()
	for p := int32(0); p < 4; p++ {
		harness.ExpectRange(fmt.Sprintf("C1 partition %d", p), got[p], 0, 39)
	}
	sess := h.session()
	sess.Commit()
	c := groupOffsets(adm, commitGroup, commitTopic, 4)
	for p := int32(0); p < 4; p++ {
		harness.Check(c[p] == committedOffset{40, ""}, "after MarkMessage + Commit, partition %d: %+v", p, c[p])
	}
	long := strings.Repeat("m", 300)
	set := map[int32]committedOffset{0: {12, "meta-p0"}, 1: {25, "ünï-côdé"}, 2: {40, ""}, 3: {7, long}}
	for p, o := range set {
		sess.ResetOffset(commitTopic, p, o.Offset, o.Metadata)
	}
	sess.Commit()
	c = groupOffsets(adm, commitGroup, commitTopic, 4)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(set), "after ResetOffset + Commit: %v, expected %v", c, set)
	cancel()
	harness.Must(cg.Close(), "close C1")

	produceUpTo(broker, 40, 41)
	cg, cancel, h = runCollector(broker, false, map[int32]int64{0: 40, 1: 40, 2: 40, 3: 40})
	got = h.offsets()
	for p := int32(0); p < 4; p++ {
		harness.ExpectRange(fmt.Sprintf("C2 partition %d", p), got[p], set[p].Offset, 40)
	}
	sess = h.session()
	// MarkOffset moves a partition's offset forward only, ResetOffset back only
	sess.MarkOffset(commitTopic, 0, 30, "c2-last-p0")
	sess.MarkOffset(commitTopic, 3, 20, "c2-last-p3")
	sess.Commit()
	cancel()
	harness.Must(cg.Close(), "close C2")
	want := map[int32]committedOffset{0: {30, "c2-last-p0"}, 1: set[1], 2: set[2], 3: {20, "c2-last-p3"}}
	c = groupOffsets(adm, commitGroup, commitTopic, 4)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(want), "after C2's commit: %v, expected %v", c, want)
	produceUpTo(broker, 41, 51)
	harness.SaveState(statePath, commitState{Committed: want, End: 51})
	harness.Logf("MarkMessage + Commit: 40 x4; ResetOffset 12,25,40,7 with metadata read back; C2 resumed exactly there; its MarkOffset of p0=30 p3=20 read back")
}

// resume BROKER STATE: after the broker's restart the committed offsets and metadata are
// the last commit; a new member reads exactly from there to the end and commits the end.
func resume(args []string) {
	broker, statePath := args[0], args[1]
	var st commitState
	harness.LoadState(statePath, &st)
	adm := newAdmin(broker)
	defer adm.Close()
	c := groupOffsets(adm, commitGroup, commitTopic, 4)
	harness.Check(fmt.Sprint(c) == fmt.Sprint(st.Committed), "after the restart: %v, expected %v", c, st.Committed)
	through := map[int32]int64{0: st.End - 1, 1: st.End - 1, 2: st.End - 1, 3: st.End - 1}
	cg, cancel, h := runCollector(broker, true, through)
	got := h.offsets()
	n := 0
	for p := int32(0); p < 4; p++ {
		harness.ExpectRange(fmt.Sprintf("C3 partition %d", p), got[p], st.Committed[p].Offset, st.End-1)
		n += len(got[p])
	}
	h.session().Commit()
	cancel()
	harness.Must(cg.Close(), "close C3")
	c = groupOffsets(adm, commitGroup, commitTopic, 4)
	for p := int32(0); p < 4; p++ {
		harness.Check(c[p].Offset == st.End, "after C3's commit, partition %d: %+v, expected %d", p, c[p], st.End)
	}
	harness.Logf("committed offsets and metadata %v survived; C3 read exactly the %d messages after them, then committed the end offsets", st.Committed, n)
}
