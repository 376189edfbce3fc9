package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// brokerProc is a brokk process this program runs itself, for scenarios whose client must
// outlive a broker restart (as ../lib/brokerproc.py does for the Python suites). Each start
// logs to DATA.<n>.log and writes the pid to DATA.pid, which the harness's cleanup kills;
// the broker also gets SIGKILL when this process dies (Pdeathsig).
type brokerProc struct {
	bin, listen, data string
	cmd               *exec.Cmd
	exited            chan struct{}
	starts            int
}

func newBrokerProc(bin, listen, data string) *brokerProc {
	b := &brokerProc{bin: bin, listen: listen, data: data}
	atExit = append(atExit, b.kill)
	return b
}

func (b *brokerProc) start() {
	b.starts++
	log := fmt.Sprintf("%s.%d.log", b.data, b.starts)
	f, err := os.Create(log)
	must(err, "broker log")
	defer f.Close()
	cmd := exec.Command(b.bin, "--listen", b.listen, "--data-dir", b.data)
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(cmd.Start(), "start brokk")
	b.cmd, b.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(b.exited)
	must(os.WriteFile(b.data+".pid", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644), "pid file")
	// brokk has no readiness event but its log line
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := os.ReadFile(log)
		if bytes.Contains(out, []byte("brokk listening on")) {
			return
		}
		select {
		case <-b.exited:
			fail("broker exited during start-up, see %s: %s", log, out)
		case <-time.After(50 * time.Millisecond):
		}
		check(time.Now().Before(deadline), "broker did not listen within 10s, see %s", log)
	}
}

func (b *brokerProc) stop(sig syscall.Signal) {
	must(b.cmd.Process.Signal(sig), "signal brokk")
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.kill()
		fail("broker did not exit within 10s of %v", sig)
	}
	b.cmd = nil
}

func (b *brokerProc) kill() {
	if b.cmd != nil {
		_ = b.cmd.Process.Kill()
		<-b.exited
		b.cmd = nil
	}
}

// restart BROKER BROKK_BIN DATA: a PartitionConsumer reads 10 messages at leader epoch 0;
// the broker restarts (SIGTERM) under it at epoch 2; it carries on and reads the next 10
// messages once each. sarama sends the partition's leader epoch in its fetches
// (current_leader_epoch, KIP-320's fencing) and refreshes metadata on FENCED_LEADER_EPOCH,
// but never asks OffsetForLeaderEpoch: this is a restart, not a position validation.
func restart(args []string) {
	broker, bin, data := args[0], args[1], args[2]
	b := newBrokerProc(bin, broker, data)
	defer b.kill()
	b.start()
	const t = "sa-restart"
	adm := newAdmin(broker)
	createTopic(adm, t, 1, nil)
	must(adm.Close(), "close admin")
	produce := func(prefix string) {
		p := newSyncProducer(broker, manual(config()))
		var ms []*sarama.ProducerMessage
		for i := 0; i < 10; i++ {
			ms = append(ms, msg(t, 0, "", fmt.Sprintf("%s%d", prefix, i)))
		}
		sendAll(p, ms...)
		must(p.Close(), "close producer")
	}
	produce("a")
	c := config()
	c.Consumer.Retry.Backoff = 100 * time.Millisecond
	c.Metadata.Retry.Max = 100
	cons, err := sarama.NewConsumer([]string{broker}, c)
	must(err, "NewConsumer")
	defer cons.Close()
	pc, err := cons.ConsumePartition(t, 0, sarama.OffsetOldest)
	must(err, "ConsumePartition")
	receive := func(n int) []string {
		var out []string
		deadline := time.After(60 * time.Second)
		for len(out) < n {
			select {
			case m := <-pc.Messages():
				out = append(out, fmt.Sprintf("%d:%s", m.Offset, m.Value))
			case err := <-pc.Errors():
				// sarama reports the broken connection and then redispatches by itself
				logf("consumer error (it carries on): %v", err)
			case <-deadline:
				fail("only %d of %d messages: %v", len(out), n, out)
			}
		}
		return out
	}
	got := receive(10)
	check(fmt.Sprint(got) == "[0:a0 1:a1 2:a2 3:a3 4:a4 5:a5 6:a6 7:a7 8:a8 9:a9]", "before the restart: %v", got)
	b.stop(syscall.SIGTERM)
	b.start()
	produce("b")
	got = receive(10)
	check(fmt.Sprint(got) == "[10:b0 11:b1 12:b2 13:b3 14:b4 15:b5 16:b6 17:b7 18:b8 19:b9]", "after the restart: %v", got)
	cl := newClient(broker, config())
	defer cl.Close()
	_, epoch, err := cl.LeaderAndEpoch(t, 0)
	must(err, "LeaderAndEpoch")
	check(epoch == 2, "leader epoch after the restart: %d, expected 2", epoch)
	select {
	case m := <-pc.Messages():
		fail("a message after the 20: %d:%s", m.Offset, m.Value)
	case <-time.After(time.Second):
	}
	logf("the consumer outlived the restart (leader epoch 0 -> %d): the next 10 messages once each, nothing more", epoch)
}
