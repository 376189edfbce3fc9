"""A brokk process owned by a client script, for scenarios whose client must outlive a
broker restart (the harness's start_broker/stop_broker cannot stop a broker under a running
client script).

    b = BrokerProc(BROKK_BIN, "127.0.0.1:PORT", DATA_DIR)
    b.start(); ...; b.stop("TERM" | "KILL"); b.start(); ...; b.close()

Each start logs to DATA_DIR.<n>.log and writes the broker's pid to DATA_DIR.pid (the
harness's cleanup kills it if the script itself was killed). Every wait is bounded; close()
(also on SIGTERM, which the harness's `timeout` sends) kills a broker still running, and the
broker gets SIGKILL if the script dies first (PR_SET_PDEATHSIG).
"""
import ctypes
import os
import signal
import subprocess
import time


def _die_with_parent():
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class BrokerProc:
    def __init__(self, binary, listen, data_dir):
        self.binary, self.listen, self.data_dir = binary, listen, data_dir
        self.proc, self.starts = None, 0
        signal.signal(signal.SIGTERM, lambda *_: (self.close(), os._exit(143)))

    def start(self, timeout=10.0):
        self.starts += 1
        self.log = f"{self.data_dir}.{self.starts}.log"
        env = dict(os.environ, NO_COLOR="1")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--listen", self.listen, "--data-dir", self.data_dir],
                stdout=subprocess.DEVNULL, stderr=out, env=env, preexec_fn=_die_with_parent)
        with open(f"{self.data_dir}.pid", "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log, "rb") as f:
                if b"brokk listening on" in f.read():
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited during start-up, see {self.log}")
            time.sleep(0.05)
        raise RuntimeError(f"broker did not listen within {timeout}s, see {self.log}")

    def stop(self, sig="TERM", timeout=10.0):
        self.proc.send_signal(getattr(signal, f"SIG{sig}"))
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise RuntimeError(f"broker did not exit within {timeout}s of SIG{sig}")
        self.proc = None

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
