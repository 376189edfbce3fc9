package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Consumed is one record a group member consumed.
type Consumed struct {
	Member    string
	Partition int32
	Offset    int64
	Value     string
}

// Ledger: everything the members of a group scenario consumed, and a wake-up for waiters.
// Mu guards recs, and whatever a suite's ledger adds around it.
type Ledger struct {
	Mu   sync.Mutex
	recs []Consumed
	Wake chan struct{}
}

// NewLedger is an empty ledger.
func NewLedger() *Ledger { return &Ledger{Wake: make(chan struct{}, 1)} }

// Add records what a member consumed (one batch, at once).
func (l *Ledger) Add(cs ...Consumed) {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	l.recs = append(l.recs, cs...)
}

// Signal wakes a waiter (WaitUntil with l.Wake), without blocking.
func (l *Ledger) Signal() {
	select {
	case l.Wake <- struct{}{}:
	default:
	}
}

// Snapshot is a copy of everything consumed so far.
func (l *Ledger) Snapshot() []Consumed {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return append([]Consumed(nil), l.recs...)
}

// WaitExactlyOnce waits (at most 30 s) until the ledger holds as many records as were
// produced, checks them with ExactlyOnce and returns them.
func (l *Ledger) WaitExactlyOnce(produced map[[2]int64]string, what, noun string) []Consumed {
	WaitUntil(30*time.Second, fmt.Sprintf("%d %ss consumed", len(produced), noun), l.Wake,
		func() bool { return len(l.Snapshot()) >= len(produced) })
	all := l.Snapshot()
	ExactlyOnce(all, produced, what, noun)
	return all
}

// PerMember counts the records each member consumed.
func PerMember(cs []Consumed) map[string]int {
	out := map[string]int{}
	for _, c := range cs {
		out[c.Member]++
	}
	return out
}

// ConsumedBy checks that the member consumed each of the records (what: when, for the message).
func ConsumedBy(member string, cs []Consumed, what string) {
	for _, c := range cs {
		Check(c.Member == member, "%s, %s consumed %d/%d", what, c.Member, c.Partition, c.Offset)
	}
}

// ExactlyOnce: the consumed records are exactly the produced ones ((partition, offset) ->
// value), each once, in offset order per partition. noun is what the client calls a record
// ("record", "message").
func ExactlyOnce(got []Consumed, produced map[[2]int64]string, what, noun string) {
	seen := map[[2]int64]bool{}
	last := map[int32]int64{}
	for _, c := range got {
		k := [2]int64{int64(c.Partition), c.Offset}
		Check(!seen[k], "%s: %d/%d consumed twice", what, c.Partition, c.Offset)
		seen[k] = true
		v, ok := produced[k]
		Check(ok && v == c.Value, "%s: consumed %d/%d = %q, produced %q", what, c.Partition, c.Offset, c.Value, v)
		if l, ok := last[c.Partition]; ok {
			Check(c.Offset > l, "%s: partition %d: offset %d after %d", what, c.Partition, c.Offset, l)
		}
		last[c.Partition] = c.Offset
	}
	Check(len(seen) == len(produced), "%s: %d %ss consumed, %d produced", what, len(seen), noun, len(produced))
}

// ValueAt is the value the commit scenarios write at offset o of partition p.
func ValueAt(p int32, o int64) string { return fmt.Sprintf("p%d-o%d", p, o) }

// ExpectRange: got must be exactly from..through (nothing for from > through).
func ExpectRange(what string, got []int64, from, through int64) {
	want := []int64{}
	for o := from; o <= through; o++ {
		want = append(want, o)
	}
	Check(fmt.Sprint(got) == fmt.Sprint(want), "%s: consumed %v, expected %d..%d", what, got, from, through)
}

// SaveState writes v (JSON) to path: what the commit scenarios leave for resume, which runs
// after the broker's kill -9 and restart.
func SaveState(path string, v any) {
	st, _ := json.Marshal(v)
	Must(os.WriteFile(path, st, 0o644), "write state")
}

// LoadState reads into v what SaveState wrote to path.
func LoadState(path string, v any) {
	b, err := os.ReadFile(path)
	Must(err, "read state")
	Must(json.Unmarshal(b, v), "parse state")
}
