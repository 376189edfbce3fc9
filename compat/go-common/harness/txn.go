package harness

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TimingSummary: per name (sorted), the count, median and maximum of the durations.
func TimingSummary(t map[string][]time.Duration) string {
	var out []string
	names := make([]string, 0, len(t))
	for k := range t {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := append([]time.Duration(nil), t[k]...)
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		out = append(out, fmt.Sprintf("%s x%d median %.1fms max %.1fms", k, len(v),
			float64(v[len(v)/2].Microseconds())/1000, float64(v[len(v)-1].Microseconds())/1000))
	}
	return strings.Join(out, ", ")
}

// CheckReadCommitted checks the values read_committed read from partition part of the output
// topic of the txn-eos scenarios, in offset order: "INPUT|tN" (the input, transaction N) for
// each input of the partition (inputs[(part, offset)] below offset end), once each and in
// order, none of an aborted transaction (every 3rd), then the "end" record. noun is what the
// client calls a record ("record", "message").
func CheckReadCommitted(topic string, part int32, values []string, inputs map[[2]int64]string, end int64, noun string) {
	var got []string
	for _, v := range values[:len(values)-1] {
		in, t, _ := strings.Cut(v, "|t")
		tn, _ := strconv.Atoi(t)
		Check(tn%3 != 0, "read_committed returned %q of aborted transaction %d", v, tn)
		got = append(got, in)
	}
	var want []string
	for o := int64(0); o < end; o++ {
		want = append(want, inputs[[2]int64{int64(part), o}])
	}
	Check(fmt.Sprint(got) == fmt.Sprint(want), "read_committed %s/%d: %d %ss for %d inputs", topic, part, len(got), noun, len(want))
	last := values[len(values)-1]
	Check(last == "end", "read_committed %d: the last %s is %q", part, noun, last)
}

// CheckReadUncommitted checks what read_uncommitted read from the output topic of the
// txn-eos scenarios ("PARTITION|VALUE" for every record but the "end" ones, in any order):
// the outputs of the committed and the aborted transactions alike; and that the "end" record
// of each partition p (at ends[p]) follows its records and one marker per transaction that
// wrote to it (markers[p]). noun is what the client calls a record ("record", "message").
func CheckReadUncommitted(topic string, got, commitOut, abortOut []string, ends map[int32]int64, markers map[int32]int, noun string) {
	want := append(append([]string{}, commitOut...), abortOut...)
	sort.Strings(got)
	sort.Strings(want)
	Check(fmt.Sprint(got) == fmt.Sprint(want), "read_uncommitted: %d %ss, expected %d (committed + aborted)", len(got), noun, len(want))
	for part := int32(0); part < int32(len(ends)); part++ {
		recs := 0
		for _, s := range want {
			if strings.HasPrefix(s, fmt.Sprintf("%d|", part)) {
				recs++
			}
		}
		Check(ends[part] == int64(recs+markers[part]), "%s/%d: the end marker is at %d, expected %d %ss + %d transaction markers",
			topic, part, ends[part], recs, noun, markers[part])
	}
}
