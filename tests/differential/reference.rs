//! The reference Apache Kafka: one single-node KRaft broker (combined broker and
//! controller, node.id 1) for the whole test binary, from the jars `compat/prereqs.sh`
//! assembled (`compat/kafka/setup.sh`). Started on first use, from a thread that lives as
//! long as the binary; the JVM gets SIGKILL when the test process ends (PR_SET_PDEATHSIG).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::common::ports::reserved_port;

/// The pinned release (compat/kafka/setup.sh's default); see compat/kafka/FINDINGS.md.
pub const VERSION: &str = "4.1.2";

/// Settings both brokers get, so that their answers can be compared: Kafka's single-node
/// necessities and brokk's defaults where they differ from Kafka's.
pub const SHARED: &[(&str, &str)] = &[
    ("node.id", "1"),
    ("num.partitions", "1"),
    ("offsets.topic.replication.factor", "1"),
    ("transaction.state.log.replication.factor", "1"),
    ("transaction.state.log.min.isr", "1"),
    ("group.initial.rebalance.delay.ms", "0"),
    // The compaction scenario's cleaner rounds (Kafka's default idles 15 s between them).
    ("log.cleaner.backoff.ms", "100"),
];

pub struct Reference {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Reference {
    /// The broker's `log.dirs` (its only one, which holds `__cluster_metadata-0`).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

static KAFKA: OnceLock<Option<Reference>> = OnceLock::new();

/// The running reference broker, or None (and a note) when it is not installed here.
/// Panics if it is missing while `BROKK_REQUIRE_KAFKA` is set (CI), or fails to start.
pub fn kafka() -> Option<&'static Reference> {
    KAFKA.get_or_init(start).as_ref()
}

/// The reference distribution (`$KAFKA_HOME`), if it is installed here.
pub fn home() -> Option<PathBuf> {
    let home = match std::env::var_os("BROKK_KAFKA_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME")?).join(format!(".cache/brokk-kafka/{VERSION}")),
    };
    home.join(".complete").exists().then_some(home)
}

fn java(home: &Path, dir: &Path) -> Command {
    let mut c = Command::new("java");
    c.args(["-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            dir.join("log4j2.properties").display()
        ))
        .arg("-cp")
        .arg(format!("{}/libs/*", home.display()));
    c
}

fn start() -> Option<Reference> {
    let Some(home) = home() else {
        assert!(
            std::env::var_os("BROKK_REQUIRE_KAFKA").is_none(),
            "BROKK_REQUIRE_KAFKA is set but the reference Kafka is not installed: run compat/prereqs.sh"
        );
        eprintln!(
            "differential: the reference Kafka is not installed (compat/prereqs.sh); these tests do nothing here"
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, cport) = (reserved_port(), reserved_port());
    let mut props = format!(
        "process.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:{cport}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\nlog.dirs={}\n",
        dir.path().join("data").display()
    );
    for (k, v) in SHARED {
        props.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(dir.path().join("server.properties"), props).unwrap();
    // Everything to server.log; the line saying the server is up to stdout as well.
    std::fs::write(
        dir.path().join("log4j2.properties"),
        format!(
            "appender.f.type=File\nappender.f.name=f\nappender.f.fileName={}\n\
             appender.f.layout.type=PatternLayout\nappender.f.layout.pattern=[%d] %p %m (%c)%n\n\
             appender.o.type=Console\nappender.o.name=o\nappender.o.target=SYSTEM_OUT\n\
             appender.o.layout.type=PatternLayout\nappender.o.layout.pattern=%m%n\n\
             rootLogger.level=INFO\nrootLogger.appenderRef.f.ref=f\n\
             logger.up.name=kafka.server.KafkaRaftServer\nlogger.up.level=INFO\nlogger.up.appenderRef.o.ref=o\n",
            dir.path().join("server.log").display()
        ),
    )
    .unwrap();
    let cluster = base64_uuid();
    let formatted = java(&home, dir.path())
        .args(["kafka.tools.StorageTool", "format", "-t", &cluster, "-c"])
        .arg(dir.path().join("server.properties"))
        .output()
        .expect("run kafka-storage format");
    assert!(formatted.status.success(), "kafka-storage format: {formatted:?}");
    let (tx, rx) = std::sync::mpsc::channel();
    let server_props = dir.path().join("server.properties");
    // The JVM dies with the thread that forked it (PR_SET_PDEATHSIG): that thread lives as
    // long as the test binary.
    std::thread::spawn(move || {
        let mut cmd = java(&home, server_props.parent().unwrap());
        cmd.arg("kafka.Kafka").arg(&server_props).stdout(Stdio::piped());
        // SAFETY: prctl(2) is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start kafka");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut started = Some(tx);
        for line in out.lines().map_while(Result::ok) {
            if line.contains("Kafka Server started")
                && let Some(tx) = started.take()
            {
                let _ = tx.send(());
            }
        }
        // stdout closed: the JVM is gone (its exit code says why); unblock a waiting start.
        drop(started);
        let _ = child.wait();
        std::thread::park();
    });
    rx.recv_timeout(std::time::Duration::from_secs(120))
        .unwrap_or_else(|_| {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "the reference Kafka did not start; server.log ends:\n{}",
                tail.join("\n")
            )
        });
    Some(Reference {
        addr: ([127, 0, 0, 1], port).into(),
        dir,
    })
}

/// A random cluster id in Kafka's form (URL-safe base64 of 16 bytes, unpadded), not
/// starting with '-' (as Kafka's `Uuid.randomUuid`: the tools would take it for an option).
fn base64_uuid() -> String {
    loop {
        let id = base64_uuid_any();
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn base64_uuid_any() -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::new();
    let mut bits = 0u32;
    let mut n = 0;
    for byte in b {
        bits = (bits << 8) | byte as u32;
        n += 8;
        while n >= 6 {
            n -= 6;
            out.push(A[((bits >> n) & 63) as usize] as char);
        }
    }
    if n > 0 {
        out.push(A[((bits << (6 - n)) & 63) as usize] as char);
    }
    out
}
