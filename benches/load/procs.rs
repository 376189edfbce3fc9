//! The servers under test as separate processes (so their CPU and memory are their own):
//! brokk's release binary on an ephemeral data dir, or this binary in sink mode. CPU time
//! and peak RSS come from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process and the address it listens on.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// From spawn to its "listening" line.
    pub startup: Duration,
}

impl Server {
    /// brokk with `args` (after `--listen 127.0.0.1:0`): this build's binary, or
    /// `LOAD_BROKK_BIN` (another build, for before/after figures in one run).
    pub fn brokk(args: &[&str]) -> Server {
        let bin = std::env::var("LOAD_BROKK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_brokk").to_string());
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0"]).args(args).env("RUST_LOG", "info");
        Self::spawn(cmd, "listening on ")
    }

    /// This benchmark binary as the null sink.
    pub fn sink(partitions: i32, records: i64, size: usize) -> Server {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--sink",
            &partitions.to_string(),
            &records.to_string(),
            &size.to_string(),
        ]);
        Self::spawn(cmd, "sink listening on ")
    }

    fn spawn(mut cmd: Command, marker: &str) -> Server {
        let t = Instant::now();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            let line = lines.next().expect("server exited before listening").expect("read");
            if let Some(rest) = line.split(marker).nth(1) {
                break rest.split_whitespace().next().expect("addr").parse().expect("addr");
            }
        };
        let startup = t.elapsed();
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server { child, addr, startup }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// Peak resident set size in MB (VmHWM).
    pub fn peak_rss_mb(&self) -> f64 {
        status_kb(self.pid(), "VmHWM:") / 1024.0
    }

    /// Open file descriptors.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// Memory mappings (lines of /proc/<pid>/maps; Linux allows vm.max_map_count).
    pub fn mappings(&self) -> usize {
        std::fs::read_to_string(format!("/proc/{}/maps", self.pid())).map_or(0, |m| m.lines().count())
    }

    /// Current resident set size in MB (VmRSS).
    pub fn rss_mb(&self) -> f64 {
        status_kb(self.pid(), "VmRSS:") / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(14) + ticks(15)) / hz.max(1.0)
}

pub fn status_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
