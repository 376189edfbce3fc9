package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

const (
	txnIn, txnOut, txnGroup, txnID = "sa-txn-in", "sa-txn-out", "sa-txn-group", "sa-txn"
	txnParts                       = 2
)

func txnConfig(id string) *sarama.Config {
	c := manual(config())
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 10
	c.Producer.Transaction.ID = id
	return c
}

// eos is the consume-transform-produce loop: the ConsumerGroup's handler, one
// transaction per batch of one partition (the transactions are serialised).
type eos struct {
	mu        sync.Mutex
	prod      sarama.SyncProducer
	adm       sarama.TransactionClusterAdmin
	inputs    map[[2]int64]string
	committed map[int32]int64
	processed map[[2]int64]bool
	commitOut []string // "partition|value"
	abortOut  []string
	markers   map[int32]int
	txn       int
	aborted   int
	ended     bool // this session aborted a transaction and is ending
	cancel    context.CancelFunc
	timings   map[string][]time.Duration
}

func (e *eos) Setup(sarama.ConsumerGroupSession) error {
	e.mu.Lock()
	e.ended = false
	e.mu.Unlock()
	return nil
}
func (e *eos) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (e *eos) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch := []*sarama.ConsumerMessage{m}
		drain:
			for len(batch) < 40 {
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
			if !e.process(s, batch) {
				return nil
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (e *eos) timed(name string, f func()) {
	t0 := time.Now()
	f()
	e.timings[name] = append(e.timings[name], time.Since(t0))
}

// process runs one transaction for the batch; false ends the session (after an abort, so
// that the next one starts again at the committed offsets).
func (e *eos) process(s sarama.ConsumerGroupSession, batch []*sarama.ConsumerMessage) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended {
		return false
	}
	part := batch[0].Partition
	harness.Check(batch[0].Offset == e.committed[part], "transaction %d: partition %d starts at %d, the committed offset is %d", e.txn+1, part, batch[0].Offset, e.committed[part])
	for i, m := range batch {
		harness.Check(m.Offset == batch[0].Offset+int64(i), "partition %d not contiguous at %d", part, m.Offset)
		v, ok := e.inputs[[2]int64{int64(part), m.Offset}]
		harness.Check(ok && v == string(m.Value), "input %d/%d is %q", part, m.Offset, m.Value)
	}
	e.txn++
	txn := e.txn
	abort := txn%3 == 0
	prev := map[int32]int64{}
	for p, o := range e.committed {
		prev[p] = o
	}
	harness.Must(e.prod.BeginTxn(), "BeginTxn")
	outs := make([]*sarama.ProducerMessage, 0, len(batch))
	for _, m := range batch {
		outs = append(outs, msg(txnOut, part, fmt.Sprintf("%d:%d", part, m.Offset), fmt.Sprintf("%s|t%d", m.Value, txn)))
	}
	e.timed("send", func() { sendAll(e.prod, outs...) })
	e.markers[part]++
	if txn == 1 {
		describeOpen(e.adm, part, outs[0].Offset)
	}
	next := batch[len(batch)-1].Offset + 1
	e.timed("AddOffsetsToTxn", func() {
		harness.Must(e.prod.AddOffsetsToTxnWithGroupMetadata(map[string][]*sarama.PartitionOffsetMetadata{txnIn: {{Partition: part, Offset: next}}},
			sarama.NewConsumerGroupMetadataFromSession(s, txnGroup, nil)), "AddOffsetsToTxn")
	})
	if abort {
		e.timed("AbortTxn", func() { harness.Must(e.prod.AbortTxn(), "AbortTxn") })
		e.aborted++
		for _, o := range outs {
			e.abortOut = append(e.abortOut, fmt.Sprintf("%d|%s", part, encoded(o.Value)))
		}
		e.ended = true
		e.cancel()
	} else {
		e.timed("CommitTxn", func() { harness.Must(e.prod.CommitTxn(), "CommitTxn") })
		for _, m := range batch {
			k := [2]int64{int64(part), m.Offset}
			harness.Check(!e.processed[k], "input %d/%d in two committed transactions", part, m.Offset)
			e.processed[k] = true
		}
		e.committed[part] = next
		for _, o := range outs {
			e.commitOut = append(e.commitOut, fmt.Sprintf("%d|%s", part, encoded(o.Value)))
		}
	}
	// Kafka writes the markers after answering EndTxn, so a commit becomes visible a little
	// later there; until then the group's offsets must be the previous ones.
	t0 := time.Now()
	harness.WaitUntil(10*time.Second, fmt.Sprintf("the group's offsets after transaction %d", txn), nil, func() bool {
		got := groupOffsets(e.adm, txnGroup, txnIn, txnParts)
		same := true
		for p := int32(0); p < txnParts; p++ {
			at := got[p].Offset
			if at < 0 {
				at = 0 // no commit yet: the group starts at 0
			}
			harness.Check(at == e.committed[p] || at == prev[p], "after transaction %d (abort=%v) the group's offset of %d is %d, expected %d (before it: %d)",
				txn, abort, p, got[p].Offset, e.committed[p], prev[p])
			same = same && at == e.committed[p]
		}
		return same
	})
	e.timings["offsets visible"] = append(e.timings["offsets visible"], time.Since(t0))
	return !abort
}

// txnEOS BROKER N: N inputs in sa-txn-in (2 partitions, non-transactional); a ConsumerGroup
// (group sa-txn-group, read_committed) and a transactional SyncProducer (sa-txn): per
// batch of up to 40 messages of one partition, BeginTxn, one output per input to
// sa-txn-out (same partition), AddOffsetsToTxnWithGroupMetadata (the session's member and
// generation), CommitTxn; every 3rd transaction is aborted instead and the session ends,
// so the next one starts at the committed offsets. Checks: each batch starts at the
// committed offset; after each transaction the group's offsets are the last commit's; while
// the first transaction is open, ListTransactions, DescribeTransactions, DescribeProducers
// and the last stable offset show it; at the end, read_committed gets each input exactly
// once in order, read_uncommitted also the aborted attempts, every partition has one
// marker per transaction, the group's offsets are the input's ends, sa-txn is CompleteCommit.
func txnEOS(args []string) {
	broker := args[0]
	n, err := strconv.Atoi(args[1])
	harness.Must(err, "N")
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, txnIn, txnParts, nil)
	createTopic(adm, txnOut, txnParts, nil)
	e := &eos{adm: adm, inputs: map[[2]int64]string{}, committed: map[int32]int64{0: 0, 1: 0}, processed: map[[2]int64]bool{},
		markers: map[int32]int{}, timings: map[string][]time.Duration{}}
	inEnd := map[int32]int64{}
	{
		p := newSyncProducer(broker, manual(config()))
		var ms []*sarama.ProducerMessage
		for i := 0; i < n; i++ {
			ms = append(ms, msg(txnIn, int32(i%txnParts), "", fmt.Sprintf("in-%05d", i)))
		}
		sendAll(p, ms...)
		for _, m := range ms {
			e.inputs[[2]int64{int64(m.Partition), m.Offset}] = string(encoded(m.Value))
			inEnd[m.Partition] = m.Offset + 1
		}
		harness.Must(p.Close(), "close producer")
	}
	e.timed("init (NewSyncProducer)", func() { e.prod = newSyncProducer(broker, txnConfig(txnID)) })
	gc := groupConfig(sarama.NewBalanceStrategyRange())
	gc.Consumer.IsolationLevel = sarama.ReadCommitted
	cg, err := sarama.NewConsumerGroup([]string{broker}, txnGroup, gc)
	harness.Must(err, "NewConsumerGroup")
	go func() {
		for err := range cg.Errors() {
			harness.Fail("consumer group error: %v", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	sessions := 0
	for {
		e.mu.Lock()
		done := fmt.Sprint(e.committed) == fmt.Sprint(inEnd)
		e.mu.Unlock()
		if done {
			break
		}
		harness.Check(time.Now().Before(deadline), "not done in 60s: committed %v, input ends %v", e.committed, inEnd)
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline))
		e.mu.Lock()
		e.cancel = cancel
		e.mu.Unlock()
		sessions++
		// the session ends after an abort (e.cancel) or once everything is committed
		go func() {
			harness.WaitUntil(time.Until(deadline), "all inputs committed", nil, func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				return ctx.Err() != nil || fmt.Sprint(e.committed) == fmt.Sprint(inEnd)
			})
			cancel()
		}()
		if err := cg.Consume(ctx, []string{txnIn}, e); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			harness.Fail("Consume: %v", err)
		}
		cancel()
	}
	harness.Must(cg.Close(), "close the consumer group")
	harness.Must(e.prod.Close(), "close the transactional producer")
	harness.Logf("loop: %d transactions (%d aborted) in %d sessions; %s", e.txn, e.aborted, sessions, harness.TimingSummary(e.timings))

	p := newSyncProducer(broker, manual(config()))
	defer p.Close()
	ends := map[int32]int64{}
	for part := int32(0); part < txnParts; part++ {
		m := msg(txnOut, part, "", "end")
		sendAll(p, m)
		ends[part] = m.Offset
	}
	rc := readPartitions(broker, txnOut, ends, sarama.ReadCommitted, 30*time.Second)
	for part, pms := range rc {
		harness.CheckReadCommitted(txnOut, part, valuesOf(pms), e.inputs, inEnd[part], "message")
	}
	ru := readPartitions(broker, txnOut, ends, sarama.ReadUncommitted, 30*time.Second)
	var gotRU []string
	for part, pms := range ru {
		for _, m := range pms[:len(pms)-1] {
			gotRU = append(gotRU, fmt.Sprintf("%d|%s", part, m.Value))
		}
	}
	harness.CheckReadUncommitted(txnOut, gotRU, e.commitOut, e.abortOut, ends, e.markers, "message")
	got := groupOffsets(adm, txnGroup, txnIn, txnParts)
	for part := int32(0); part < txnParts; part++ {
		harness.Check(got[part].Offset == inEnd[part], "group offset of %d: %d, expected the input end %d", part, got[part].Offset, inEnd[part])
	}
	harness.WaitUntil(10*time.Second, txnID+" listed as CompleteCommit", nil, func() bool {
		lt, err := adm.ListTransactions(nil, nil, -1)
		harness.Must(err, "ListTransactions")
		for _, t := range lt {
			if t.TransactionalID == txnID {
				return t.TransactionState == "CompleteCommit"
			}
		}
		return false
	})
	harness.Logf("read_committed: each of %d inputs once, in order; read_uncommitted +%d aborted; %v markers; group offsets = input ends %v; %s CompleteCommit",
		n, len(e.abortOut), e.markers, inEnd, txnID)
}

// describeOpen: checks while the first transaction is open (its messages acked, no
// offsets added yet).
func describeOpen(adm sarama.TransactionClusterAdmin, part int32, first int64) {
	dt, err := adm.DescribeTransactions([]string{txnID})
	harness.Must(err, "DescribeTransactions")
	d := dt[txnID]
	harness.Check(d.ErrorCode == sarama.ErrNoError && d.TransactionState == "Ongoing" && d.ProducerID >= 0 && d.TransactionTimeout == time.Minute &&
		d.TransactionStartTime > 0 && len(d.Topics) == 1 && d.Topics[0].Topic == txnOut && fmt.Sprint(d.Topics[0].Partitions) == fmt.Sprint([]int32{part}),
		"DescribeTransactions: %+v; wrote %s/%d", d, txnOut, part)
	lt, err := adm.ListTransactions(nil, nil, -1)
	harness.Must(err, "ListTransactions")
	found := false
	for _, t := range lt {
		if t.TransactionalID == txnID {
			found = true
			harness.Check(t.TransactionState == "Ongoing" && t.ProducerID == d.ProducerID, "ListTransactions: %+v", t)
		}
	}
	harness.Check(found, "ListTransactions without %s: %+v", txnID, lt)
	dp, err := adm.DescribeProducers(map[string][]int32{txnOut: {part}})
	harness.Must(err, "DescribeProducers")
	pp := dp[txnOut][part]
	harness.Check(pp.ErrorCode == sarama.ErrNoError && len(pp.ActiveProducers) == 1 && pp.ActiveProducers[0].ProducerID == d.ProducerID &&
		pp.ActiveProducers[0].ProducerEpoch == int32(d.ProducerEpoch) && pp.ActiveProducers[0].CurrentTxnStartOffset == first,
		"DescribeProducers %s/%d: %+v, expected producer %d with the transaction at %d", txnOut, part, pp, d.ProducerID, first)
	lso, err := adm.ListOffsets(map[string]map[int32]int64{txnOut: {part: sarama.OffsetNewest}}, &sarama.ListOffsetsOptions{IsolationLevel: sarama.ReadCommitted})
	harness.Must(err, "ListOffsets read_committed")
	harness.Check(noErr(lso[txnOut][part].Err) && lso[txnOut][part].Offset == first, "the last stable offset of %s/%d is %+v with the transaction open at %d",
		txnOut, part, lso[txnOut][part], first)
	harness.Logf("open transaction: ListTransactions Ongoing; DescribeTransactions producer %d epoch %d timeout %s partitions %s%v; DescribeProducers and the last stable offset at its first offset %d",
		d.ProducerID, d.ProducerEpoch, d.TransactionTimeout, txnOut, d.Topics[0].Partitions, first)
}

func describeTxn(adm sarama.TransactionClusterAdmin, id string) sarama.TransactionState {
	dt, err := adm.DescribeTransactions([]string{id})
	harness.Must(err, "DescribeTransactions")
	return dt[id]
}

// txnFence BROKER: producer A (transactional id sa-fence) sends 5 messages in an open
// transaction; producer B initializes the same id, which aborts A's transaction and fences
// A: A's CommitTxn fails with PRODUCER_FENCED (or INVALID_PRODUCER_EPOCH) and A is in a fatal
// state; B sends 5 messages and a consumer offset (AddMessageToTxn) and commits.
// read_committed gets B's only; read_uncommitted A's and B's, the abort marker between;
// the group's offset is the one B added, with its metadata.
func txnFence(args []string) {
	broker := args[0]
	const t, g = "sa-fence", "sa-fence-group"
	adm := newAdmin(broker)
	defer adm.Close()
	createTopic(adm, t, 1, nil)
	a := newSyncProducer(broker, txnConfig(t))
	defer a.Close()
	harness.Must(a.BeginTxn(), "A BeginTxn")
	var ams []*sarama.ProducerMessage
	for i := 0; i < 5; i++ {
		ams = append(ams, msg(t, 0, "", fmt.Sprintf("A-%d", i)))
	}
	sendAll(a, ams...)
	da := describeTxn(adm, t)
	harness.Check(da.TransactionState == "Ongoing", "A's transaction: %+v", da)

	t0 := time.Now()
	b := newSyncProducer(broker, txnConfig(t))
	defer b.Close()
	initMs := time.Since(t0).Milliseconds()
	db := describeTxn(adm, t)
	harness.Check(db.ProducerID == da.ProducerID && db.ProducerEpoch > da.ProducerEpoch, "after B's init: producer %d epoch %d; A had %d epoch %d",
		db.ProducerID, db.ProducerEpoch, da.ProducerID, da.ProducerEpoch)
	fenced := a.CommitTxn()
	harness.Check(harness.ErrIs(fenced, sarama.ErrProducerFenced) || harness.ErrIs(fenced, sarama.ErrInvalidProducerEpoch),
		"A's CommitTxn after B's init: %v, expected PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", fenced)
	harness.Check(a.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0, "A's status after being fenced: %v, expected a fatal error", a.TxnStatus())

	harness.Must(b.BeginTxn(), "B BeginTxn")
	var bms []*sarama.ProducerMessage
	for i := 0; i < 5; i++ {
		bms = append(bms, msg(t, 0, "", fmt.Sprintf("B-%d", i)))
	}
	sendAll(b, bms...)
	harness.Check(bms[0].Offset == 6, "B's first message at %d, expected 6 (A's 5 and the abort marker before it)", bms[0].Offset)
	meta := "fenced-and-done"
	harness.Must(b.AddMessageToTxn(&sarama.ConsumerMessage{Topic: t, Partition: 0, Offset: 4}, g, &meta), "AddMessageToTxn")
	harness.Must(b.CommitTxn(), "B's CommitTxn")

	rc := readPartitions(broker, t, map[int32]int64{0: 10}, sarama.ReadCommitted, 15*time.Second)[0]
	ru := readPartitions(broker, t, map[int32]int64{0: 10}, sarama.ReadUncommitted, 15*time.Second)[0]
	show := func(ms []*sarama.ConsumerMessage) string {
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%d:%s", m.Offset, m.Value))
		}
		return strings.Join(out, " ")
	}
	harness.Check(show(rc) == "6:B-0 7:B-1 8:B-2 9:B-3 10:B-4", "read_committed: %s", show(rc))
	harness.Check(show(ru) == "0:A-0 1:A-1 2:A-2 3:A-3 4:A-4 6:B-0 7:B-1 8:B-2 9:B-3 10:B-4", "read_uncommitted: %s", show(ru))
	cl := newClient(broker, config())
	defer cl.Close()
	hw, err := cl.GetOffset(t, 0, sarama.OffsetNewest)
	harness.Must(err, "GetOffset")
	lso, err := adm.ListOffsets(map[string]map[int32]int64{t: {0: sarama.OffsetNewest}}, &sarama.ListOffsetsOptions{IsolationLevel: sarama.ReadCommitted})
	harness.Must(err, "ListOffsets read_committed")
	harness.Check(hw == 12 && lso[t][0].Offset == 12, "high watermark %d, last stable offset %d; expected 12 (10 messages, 2 markers)", hw, lso[t][0].Offset)
	var o map[int32]committedOffset
	harness.WaitUntil(10*time.Second, "the offset B added is committed", nil, func() bool {
		o = groupOffsets(adm, g, t, 1)
		return o[0].Offset == 5
	})
	harness.Check(o[0] == committedOffset{5, meta}, "the group's offset: %+v, expected 5 %q", o[0], meta)
	harness.Logf("B's init %d ms: producer %d epoch %d -> %d; A's CommitTxn: %v (fatal); read_committed only B's (6..10), read_uncommitted A's 0..4 too; high watermark = LSO = 12; AddMessageToTxn committed 5 %q",
		initMs, da.ProducerID, da.ProducerEpoch, db.ProducerEpoch, fenced, meta)
}
