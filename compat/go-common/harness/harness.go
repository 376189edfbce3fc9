// Package harness is what the Go compat programs (compat/franz-go, compat/sarama) share
// besides their client: the dispatch of one scenario per invocation, failure reporting,
// waits with deadlines, a brokk process the program runs itself (broker.go), and the
// client-independent parts of the group and commit (groups.go) and transaction (txn.go)
// scenarios. The code that calls a client stays in each program.
//
// Every check that fails prints "FAIL: ..." to stderr and exits 1; Logf writes a result
// line ("   ..." on stdout) under the scenario the suite's run.sh announced.
package harness

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Main runs the scenario named by os.Args[1] with os.Args[2:] (the broker first). Without a
// known scenario and a broker it prints the usage of the program prog and exits 2.
func Main(prog string, scenarios map[string]func(args []string)) {
	if len(os.Args) < 3 || scenarios[os.Args[1]] == nil {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: %s SCENARIO BROKER [ARGS...]; scenarios: %s\n", prog, strings.Join(names, " "))
		os.Exit(2)
	}
	scenarios[os.Args[1]](os.Args[2:])
}

// atExit runs before a failing check exits (brokers a scenario runs itself).
var atExit []func()

// Fail reports a failed check and exits; it may be called from any goroutine.
func Fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", a...)
	for _, f := range atExit {
		f()
	}
	os.Exit(1)
}

// Check fails with the message unless cond holds.
func Check(cond bool, format string, a ...any) {
	if !cond {
		Fail(format, a...)
	}
}

// Must fails with "what: err" on an error.
func Must(err error, what string) {
	if err != nil {
		Fail("%s: %v", what, err)
	}
}

// Logf writes a result line of the scenario.
func Logf(format string, a ...any) { fmt.Printf("   "+format+"\n", a...) }

// WaitUntil checks cond each time wake fires (with wake nil: every 20 ms, for states the
// client has no event for) until it holds, or fails once the timeout has passed.
func WaitUntil(timeout time.Duration, what string, wake <-chan struct{}, cond func() bool) {
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
				Fail("%s: not within %s", what, timeout)
			}
			return
		}
	}
}

// ErrIs: err is (or wraps) the Kafka error want (the client's error value for its code).
func ErrIs(err, want error) bool { return err != nil && errors.Is(err, want) }

// Ptr is a pointer to v (config values are *string in both clients).
func Ptr[T any](v T) *T { return &v }

// ExpectConfigs waits until the described configs have the wanted values and sources.
// brokk applies an alter before answering it; Kafka (KRaft) answers once the controller
// has it, and the broker describes it a moment later.
func ExpectConfigs[V comparable](what string, get func() map[string]V, want map[string]V) {
	var last map[string]V
	matches := func() bool {
		last = get()
		for k, v := range want {
			if last[k] != v {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !matches() {
		if time.Now().After(deadline) {
			shown := map[string]V{}
			for k := range want {
				shown[k] = last[k]
			}
			Fail("%s: configs %+v, expected %+v", what, shown, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TimesTimestamp is the timestamp of record i of the times scenarios (10 records, one a
// second from base, but record 7 the largest, out of order: base + 50 s).
func TimesTimestamp(base int64, i int) int64 {
	if i == 7 {
		return base + 50_000
	}
	return base + int64(i)*1000
}
