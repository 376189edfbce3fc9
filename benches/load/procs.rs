//! The servers under test as separate processes (so their CPU and memory are their own):
//! brokk's release binary on an ephemeral data dir, this binary in sink mode, or the
//! reference Apache Kafka (the peer, from the distribution `compat/prereqs.sh` assembles).
//! CPU time and peak RSS come from `/proc/<pid>/stat` and `/proc/<pid>/status`.

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
    /// Kafka's config and data dir (removed when the server is dropped).
    _dir: Option<tempfile::TempDir>,
}

/// The reference Kafka release (compat/kafka/setup.sh's pin).
pub const KAFKA_VERSION: &str = "4.1.2";

/// The Kafka distribution `compat/prereqs.sh` assembled (`BROKK_KAFKA_HOME` to override),
/// if it is here.
pub fn kafka_home() -> Option<std::path::PathBuf> {
    let home = match std::env::var_os("BROKK_KAFKA_HOME") {
        Some(h) => std::path::PathBuf::from(h),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(format!(".cache/brokk-kafka/{KAFKA_VERSION}")),
    };
    home.join(".complete").exists().then_some(home)
}

/// The JVM flags Kafka ships with: `kafka-server-start.sh`'s heap and
/// `kafka-run-class.sh`'s performance options.
const KAFKA_JVM: &[&str] = &[
    "-Xmx1G",
    "-Xms1G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
];

/// Kafka's shipped `config/server.properties` (KRaft, combined broker and controller), with
/// its log dir and ports moved.
const KAFKA_SHIPPED: &[(&str, &str)] = &[
    ("process.roles", "broker,controller"),
    ("node.id", "1"),
    ("controller.listener.names", "CONTROLLER"),
    ("inter.broker.listener.name", "PLAINTEXT"),
    (
        "listener.security.protocol.map",
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    ),
    ("num.network.threads", "3"),
    ("num.io.threads", "8"),
    ("socket.send.buffer.bytes", "102400"),
    ("socket.receive.buffer.bytes", "102400"),
    ("socket.request.max.bytes", "104857600"),
    ("num.partitions", "1"),
    ("num.recovery.threads.per.data.dir", "1"),
    ("offsets.topic.replication.factor", "1"),
    ("share.coordinator.state.topic.replication.factor", "1"),
    ("share.coordinator.state.topic.min.isr", "1"),
    ("transaction.state.log.replication.factor", "1"),
    ("transaction.state.log.min.isr", "1"),
    ("log.retention.hours", "168"),
    ("log.segment.bytes", "1073741824"),
    ("log.retention.check.interval.ms", "300000"),
];

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
        Server {
            child,
            addr,
            startup,
            _dir: None,
        }
    }

    /// The reference Kafka at its shipped defaults, with `overrides` (the settings brokk's
    /// row sets too) on top; None when the distribution is not here. Formatted first (as
    /// `kafka-storage format`, not timed); `startup` is from the JVM's spawn to its
    /// "Kafka Server started" line.
    pub fn kafka(overrides: &[(&str, &str)]) -> Option<Server> {
        let home = kafka_home()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = |l: std::net::TcpListener| l.local_addr().expect("addr").port();
        let (broker, controller) = (
            port(std::net::TcpListener::bind("127.0.0.1:0").expect("port")),
            port(std::net::TcpListener::bind("127.0.0.1:0").expect("port")),
        );
        let mut props: Vec<(String, String)> = KAFKA_SHIPPED
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        props.extend([
            ("controller.quorum.voters".into(), format!("1@127.0.0.1:{controller}")),
            (
                "listeners".into(),
                format!("PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}"),
            ),
            ("advertised.listeners".into(), format!("PLAINTEXT://127.0.0.1:{broker}")),
            ("log.dirs".into(), dir.path().join("data").display().to_string()),
        ]);
        for (k, v) in overrides {
            props.retain(|(key, _)| key != k);
            props.push((k.to_string(), v.to_string()));
        }
        let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let config = dir.path().join("server.properties");
        std::fs::write(&config, text).expect("server.properties");
        // Kafka's shipped logging (INFO), to stderr, where the ready line is read.
        let log4j = dir.path().join("log4j2.properties");
        std::fs::write(
            &log4j,
            "appender.e.type=Console\nappender.e.name=E\nappender.e.target=SYSTEM_ERR\n\
             appender.e.layout.type=PatternLayout\nappender.e.layout.pattern=[%d] %p %m (%c)%n\n\
             rootLogger.level=INFO\nrootLogger.appenderRef.e.ref=E\n",
        )
        .expect("log4j2.properties");
        let java = |class: &str| {
            let mut c = Command::new("java");
            c.args(KAFKA_JVM)
                .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
                .arg("-cp")
                .arg(format!("{}/libs/*", home.display()))
                .arg(class);
            c
        };
        let formatted = java("kafka.tools.StorageTool")
            .args(["format", "-t", "YmJyb2trLWxvYWQtc3VpdA", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("kafka-storage format");
        assert!(formatted.success(), "kafka-storage format failed");
        let mut cmd = java("kafka.Kafka");
        cmd.arg(&config);
        let t = Instant::now();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kafka");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        loop {
            let line = lines.next().expect("kafka exited before it started").expect("read");
            if line.contains("Kafka Server started") {
                break;
            }
        }
        let startup = t.elapsed();
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Some(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], broker)),
            startup,
            _dir: Some(dir),
        })
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
