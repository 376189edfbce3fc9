package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// BrokerProc is a brokk process the program runs itself, for scenarios whose client must
// outlive a broker restart (as ../lib/brokerproc.py does for the Python suites). Each start
// logs to DATA.<n>.log and writes the pid to DATA.pid, which the harness's cleanup kills;
// the broker also gets SIGKILL when this process dies (Pdeathsig), and a failing check
// kills it before exiting.
type BrokerProc struct {
	bin, listen, data string
	cmd               *exec.Cmd
	exited            chan struct{}
	starts            int
}

// NewBrokerProc is brokk (the binary bin) listening on listen with the data dir data; not
// started yet.
func NewBrokerProc(bin, listen, data string) *BrokerProc {
	b := &BrokerProc{bin: bin, listen: listen, data: data}
	atExit = append(atExit, b.Kill)
	return b
}

// Start starts the broker and waits (at most 10 s) until it listens.
func (b *BrokerProc) Start() {
	b.starts++
	log := fmt.Sprintf("%s.%d.log", b.data, b.starts)
	f, err := os.Create(log)
	Must(err, "broker log")
	defer f.Close()
	cmd := exec.Command(b.bin, "--listen", b.listen, "--data-dir", b.data)
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	Must(cmd.Start(), "start brokk")
	b.cmd, b.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(b.exited)
	Must(os.WriteFile(b.data+".pid", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644), "pid file")
	// brokk has no readiness event but its log line
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := os.ReadFile(log)
		if bytes.Contains(out, []byte("brokk listening on")) {
			return
		}
		select {
		case <-b.exited:
			Fail("broker exited during start-up, see %s: %s", log, out)
		case <-time.After(50 * time.Millisecond):
		}
		Check(time.Now().Before(deadline), "broker did not listen within 10s, see %s", log)
	}
}

// Stop sends sig and waits (at most 10 s) for the broker to exit.
func (b *BrokerProc) Stop(sig syscall.Signal) {
	Must(b.cmd.Process.Signal(sig), "signal brokk")
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.Kill()
		Fail("broker did not exit within 10s of %v", sig)
	}
	b.cmd = nil
}

// Kill SIGKILLs the broker if it runs, and waits for it.
func (b *BrokerProc) Kill() {
	if b.cmd != nil {
		_ = b.cmd.Process.Kill()
		<-b.exited
		b.cmd = nil
	}
}
