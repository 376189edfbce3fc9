package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"brokk/compat/go-common/harness"
)

const (
	txnIn, txnOut, txnGroup, txnID = "fg-txn-in", "fg-txn-out", "fg-txn-group", "fg-txn"
	txnParts                       = 2
)

// txnEOS BROKER N: N inputs in fg-txn-in (2 partitions, non-transactional); a
// GroupTransactSession (group fg-txn-group, read_committed, transactional id fg-txn) polls
// up to 40 records, begins, writes one output per input to fg-txn-out (same partition) and
// ends the transaction: every 3rd one with an abort (the session then rewinds to the
// committed offsets). Checks: each poll's records start at the committed offset of their
// partition; after each end, the group's committed offsets (OffsetFetch, require_stable)
// are the positions of the last commit; while the first transaction is open, kadm's
// ListTransactions, DescribeTransactions, DescribeProducers and the last stable offsets show
// it; at the end, read_committed gets each input exactly once in order, read_uncommitted also
// the aborted attempts, every partition has one marker per transaction that wrote to it,
// the group's offsets are the input's end offsets, and fg-txn is CompleteCommit.
func txnEOS(args []string) {
	broker := args[0]
	n, err := strconv.Atoi(args[1])
	harness.Must(err, "N")
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, txnIn, txnParts, nil)
	createTopic(adm, txnOut, txnParts, nil)
	inputs := map[[2]int64]string{}
	inEnd := map[int32]int64{}
	{
		p := client(broker, partitioned())
		var rs []*kgo.Record
		for i := 0; i < n; i++ {
			rs = append(rs, rec(txnIn, int32(i%txnParts), "", fmt.Sprintf("in-%05d", i)))
		}
		produceSync(p, rs...)
		for _, r := range rs {
			inputs[[2]int64{int64(r.Partition), r.Offset}] = string(r.Value)
			inEnd[r.Partition] = r.Offset + 1
		}
		p.Close()
	}

	sess, err := kgo.NewGroupTransactSession(opts(broker,
		append(groupOpts(txnGroup, txnIn), kgo.TransactionalID(txnID), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(), kgo.FetchMaxWait(50*time.Millisecond), partitioned())...)...)
	harness.Must(err, "NewGroupTransactSession")
	cl := sess.Client()

	committed := map[int32]int64{0: 0, 1: 0} // nothing committed: the group starts at 0
	processed := map[[2]int64]bool{}
	var commitOut, abortOut []string // "partition|value"
	markers := map[int32]int{}
	txn, aborted := 0, 0
	timings := map[string][]time.Duration{}
	var visible []time.Duration
	timed := func(name string, f func()) {
		t0 := time.Now()
		f()
		timings[name] = append(timings[name], time.Since(t0))
	}
	deadline := time.Now().Add(60 * time.Second)
	for fmt.Sprint(committed) != fmt.Sprint(inEnd) {
		harness.Check(time.Now().Before(deadline), "not done in 60s: committed %v, input ends %v", committed, inEnd)
		fs := sess.PollRecords(ctxFor(time.Second), 40)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				harness.Fail("poll %s/%d: %v", t, p, err)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		txn++
		abort := txn%3 == 0
		for part, prs := range byPartition(recs) {
			harness.Check(prs[0].Offset == committed[part], "transaction %d: partition %d starts at %d, the committed offset is %d", txn, part, prs[0].Offset, committed[part])
			for i, r := range prs {
				harness.Check(r.Offset == prs[0].Offset+int64(i), "transaction %d: partition %d not contiguous at %d", txn, part, r.Offset)
			}
		}
		prev := map[int32]int64{}
		for part, o := range committed {
			prev[part] = o
		}
		harness.Must(sess.Begin(), "Begin")
		outs := make([]*kgo.Record, 0, len(recs))
		for _, r := range recs {
			v, ok := inputs[[2]int64{int64(r.Partition), r.Offset}]
			harness.Check(ok && v == string(r.Value), "input %d/%d is %q", r.Partition, r.Offset, r.Value)
			outs = append(outs, rec(txnOut, r.Partition, fmt.Sprintf("%d:%d", r.Partition, r.Offset), fmt.Sprintf("%s|t%d", r.Value, txn)))
		}
		timed("produce", func() { produceSync(cl, outs...) })
		first := map[int32]int64{}
		for _, o := range outs {
			if _, ok := first[o.Partition]; !ok {
				first[o.Partition] = o.Offset
			}
		}
		for part := range first {
			markers[part]++
		}
		if txn == 1 {
			describeOpen(adm, cl, first)
		}
		var ok bool
		timed(map[bool]string{true: "end(abort)", false: "end(commit)"}[abort], func() {
			ok, err = sess.End(ctxFor(30*time.Second), kgo.TransactionEndTry(!abort))
		})
		harness.Must(err, fmt.Sprintf("End of transaction %d", txn))
		harness.Check(ok == !abort, "transaction %d: End returned committed=%v, wanted %v", txn, ok, !abort)
		if abort {
			aborted++
			for _, o := range outs {
				abortOut = append(abortOut, fmt.Sprintf("%d|%s", o.Partition, o.Value))
			}
		} else {
			for _, r := range recs {
				k := [2]int64{int64(r.Partition), r.Offset}
				harness.Check(!processed[k], "input %d/%d in two committed transactions", r.Partition, r.Offset)
				processed[k] = true
				committed[r.Partition] = r.Offset + 1
			}
			for _, o := range outs {
				commitOut = append(commitOut, fmt.Sprintf("%d|%s", o.Partition, o.Value))
			}
		}
		// Kafka writes the markers after answering EndTxn, so the commit becomes visible a
		// little later there; until then the group's offsets must be the previous ones.
		t0 := time.Now()
		harness.WaitUntil(10*time.Second, fmt.Sprintf("the group's offsets after transaction %d", txn), nil, func() bool {
			return groupOffsetsAre(adm, committed, prev, txn)
		})
		visible = append(visible, time.Since(t0))
	}
	sess.Close()
	timings["offsets visible"] = visible
	harness.Logf("loop: %d transactions (%d aborted), %s", txn, aborted, harness.TimingSummary(timings))

	// one plain record per output partition marks its end for the readers
	p := client(broker, partitioned())
	defer p.Close()
	ends := map[int32]int64{}
	for part := int32(0); part < txnParts; part++ {
		r := rec(txnOut, part, "", "end")
		produceSync(p, r)
		ends[part] = r.Offset
	}
	rc := readUntil(broker, txnOut, seq(txnParts), kgo.ReadCommitted(), 30*time.Second, seenOffsets(ends))
	for part, prs := range byPartition(rc) {
		harness.CheckReadCommitted(txnOut, part, valuesOf(prs), inputs, inEnd[part], "record")
	}
	ru := readUntil(broker, txnOut, seq(txnParts), kgo.ReadUncommitted(), 30*time.Second, seenOffsets(ends))
	var gotRU []string
	for _, r := range ru {
		if string(r.Value) != "end" {
			gotRU = append(gotRU, fmt.Sprintf("%d|%s", r.Partition, r.Value))
		}
	}
	harness.CheckReadUncommitted(txnOut, gotRU, commitOut, abortOut, ends, markers, "record")
	fo, err := adm.FetchOffsets(ctxFor(10*time.Second), txnGroup)
	harness.Must(err, "FetchOffsets")
	for part := int32(0); part < txnParts; part++ {
		o, _ := fo.Lookup(txnIn, part)
		harness.Check(o.At == inEnd[part], "group offset of %d: %d, expected the input end %d", part, o.At, inEnd[part])
	}
	harness.WaitUntil(10*time.Second, txnID+" listed as CompleteCommit", nil, func() bool {
		lt, err := adm.ListTransactions(ctxFor(5*time.Second), nil, nil)
		return err == nil && lt[txnID].State == "CompleteCommit"
	})
	harness.Logf("read_committed: each of %d inputs once, in order; read_uncommitted +%d aborted; %v markers; group offsets = input ends %v; %s CompleteCommit",
		n, len(abortOut), markers, inEnd, txnID)
}

// groupOffsetsAre: the group's committed offsets of txnIn (OffsetFetch with require_stable)
// are want; false while they are still before (prev) or unstable; any other value fails.
func groupOffsetsAre(adm *kadm.Client, want, prev map[int32]int64, txn int) bool {
	fo, err := adm.FetchOffsetsForTopics(kadm.RequireStable(ctxFor(10*time.Second)), txnGroup, txnIn)
	if harness.ErrIs(err, kerr.UnstableOffsetCommit) {
		return false // KIP-447: the transaction's offsets are not decided yet (Kafka, briefly)
	}
	harness.Must(err, "FetchOffsets")
	same := true
	for part := int32(0); part < txnParts; part++ {
		o, has := fo.Lookup(txnIn, part)
		at := int64(0) // no commit yet: the group starts at 0
		if has && o.Err == nil && o.At >= 0 {
			at = o.At
		}
		harness.Check(o.Err == nil && (at == want[part] || at == prev[part]),
			"after transaction %d the group's offset of %d is %+v, expected %d (before it: %d)", txn, part, o, want[part], prev[part])
		same = same && at == want[part]
	}
	return same
}

// describeOpen: checks while the first transaction is open (its records acked, not ended).
func describeOpen(adm *kadm.Client, cl *kgo.Client, first map[int32]int64) {
	ctx := ctxFor(10 * time.Second)
	pid, epoch, err := cl.ProducerID(ctx)
	harness.Must(err, "ProducerID")
	lt, err := adm.ListTransactions(ctx, nil, nil)
	harness.Must(err, "ListTransactions")
	l := lt[txnID]
	harness.Check(l.State == "Ongoing" && l.ProducerID == pid, "ListTransactions with a transaction open: %+v (producer %d)", l, pid)
	dt, err := adm.DescribeTransactions(ctx, txnID)
	harness.Must(err, "DescribeTransactions")
	d := dt[txnID]
	written := map[int32]struct{}{}
	for part := range first {
		written[part] = struct{}{}
	}
	harness.Check(d.Err == nil && d.State == "Ongoing" && d.ProducerID == pid && d.ProducerEpoch == epoch && d.TimeoutMillis == 40000 &&
		d.StartTimestamp > 0 && fmt.Sprint(d.Topics) == fmt.Sprint(kadm.TopicsSet{txnOut: written}),
		"DescribeTransactions: %+v; producer %d epoch %d wrote %v", d, pid, epoch, first)
	ts := kadm.TopicsSet{txnOut: written}
	dp, err := adm.DescribeProducers(ctx, ts)
	harness.Must(err, "DescribeProducers")
	for part, off := range first {
		me := dp[txnOut].Partitions[part].ActiveProducers[pid]
		harness.Check(me.CurrentTxnStartOffset == off && me.ProducerEpoch == epoch, "DescribeProducers %s/%d: %+v, expected the transaction to start at %d", txnOut, part, me, off)
	}
	lso, err := adm.ListCommittedOffsets(ctx, txnOut)
	harness.Must(err, "ListCommittedOffsets")
	for part, off := range first {
		o, _ := lso.Lookup(txnOut, part)
		harness.Check(o.Offset == off, "the last stable offset of %s/%d is %d with the transaction open at %d", txnOut, part, o.Offset, off)
	}
	harness.Logf("open transaction: ListTransactions Ongoing; DescribeTransactions producer %d epoch %d timeout %d ms partitions %v; DescribeProducers and the last stable offsets at its first offsets %v",
		pid, epoch, d.TimeoutMillis, d.Topics, first)
}

// txnFence BROKER: producer A (transactional id fg-fence) writes 5 records in an open
// transaction; producer B initializes the same id, which aborts A's transaction and fences
// A: A's commit fails with PRODUCER_FENCED (or INVALID_PRODUCER_EPOCH); B commits 5 records.
// read_committed gets B's only; read_uncommitted A's and B's, with the abort marker between.
func txnFence(args []string) {
	broker := args[0]
	const t = "fg-fence"
	adm, acl := admin(broker)
	defer acl.Close()
	createTopic(adm, t, 1, nil)
	a := client(broker, kgo.TransactionalID(t), partitioned())
	defer a.Close()
	harness.Must(a.BeginTransaction(), "A BeginTransaction")
	var ars []*kgo.Record
	for i := 0; i < 5; i++ {
		ars = append(ars, rec(t, 0, "", fmt.Sprintf("A-%d", i)))
	}
	produceSync(a, ars...)
	pidA, epA, err := a.ProducerID(ctxFor(10 * time.Second))
	harness.Must(err, "A ProducerID")

	b := client(broker, kgo.TransactionalID(t), partitioned())
	defer b.Close()
	t0 := time.Now()
	pidB, epB, err := b.ProducerID(ctxFor(30 * time.Second))
	harness.Must(err, "B's InitProducerId")
	initMs := time.Since(t0).Milliseconds()
	harness.Check(pidB == pidA && epB > epA, "B got producer %d epoch %d; A has %d epoch %d", pidB, epB, pidA, epA)
	fenced := a.EndTransaction(ctxFor(30*time.Second), kgo.TryCommit)
	harness.Check(harness.ErrIs(fenced, kerr.ProducerFenced) || harness.ErrIs(fenced, kerr.InvalidProducerEpoch),
		"A's commit after B's init: %v, expected PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", fenced)

	harness.Must(b.BeginTransaction(), "B BeginTransaction")
	var brs []*kgo.Record
	for i := 0; i < 5; i++ {
		brs = append(brs, rec(t, 0, "", fmt.Sprintf("B-%d", i)))
	}
	produceSync(b, brs...)
	harness.Check(brs[0].Offset == 6, "B's first record at %d, expected 6 (A's 5 records and the abort marker before it)", brs[0].Offset)
	harness.Must(b.EndTransaction(ctxFor(30*time.Second), kgo.TryCommit), "B's commit")

	rc := readUntil(broker, t, []int32{0}, kgo.ReadCommitted(), 15*time.Second, seenOffsets(map[int32]int64{0: 10}))
	ru := readUntil(broker, t, []int32{0}, kgo.ReadUncommitted(), 15*time.Second, seenOffsets(map[int32]int64{0: 10}))
	show := func(rs []*kgo.Record) string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		}
		return strings.Join(out, " ")
	}
	harness.Check(show(rc) == "6:B-0 7:B-1 8:B-2 9:B-3 10:B-4", "read_committed: %s", show(rc))
	harness.Check(show(ru) == "0:A-0 1:A-1 2:A-2 3:A-3 4:A-4 6:B-0 7:B-1 8:B-2 9:B-3 10:B-4", "read_uncommitted: %s", show(ru))
	end, err := adm.ListEndOffsets(ctxFor(10*time.Second), t)
	harness.Must(err, "ListEndOffsets")
	lso, err := adm.ListCommittedOffsets(ctxFor(10*time.Second), t)
	harness.Must(err, "ListCommittedOffsets")
	e, _ := end.Lookup(t, 0)
	l, _ := lso.Lookup(t, 0)
	harness.Check(e.Offset == 12 && l.Offset == 12, "high watermark %d, last stable offset %d; expected 12 (10 records, 2 markers)", e.Offset, l.Offset)
	harness.Logf("B's InitProducerId %d ms: producer %d epoch %d -> %d; A's commit: %v; read_committed only B's (6..10), read_uncommitted A's 0..4 too; high watermark = LSO = 12",
		initMs, pidA, epA, epB, fenced)
}
