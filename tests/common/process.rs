//! brokk as a child process (the release binary Cargo built for the tests), for tests that
//! kill it, limit it or put its data directory on a filesystem the test controls.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use kafka_protocol::messages::{ProduceResponse, ResponseHeader};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Raw, produce_req};

const BIN: &str = env!("CARGO_BIN_EXE_brokk");

pub struct BrokkProcess {
    child: Child,
    addr: SocketAddr,
}

impl BrokkProcess {
    /// Starts brokk on 127.0.0.1:0 with `data` and `--override`s; returns once it listens.
    /// Its log goes to the test's stderr.
    pub fn start(data: &Path, overrides: &[&str]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["--listen", "127.0.0.1:0", "--data-dir"]).arg(data);
        Self::spawn(cmd, overrides)
    }

    /// Starts brokk with `data` and `--override`s only: its listeners come from the
    /// overrides' `listeners` (no `--listen`).
    #[allow(dead_code)]
    pub fn start_named(data: &Path, overrides: &[&str]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(data);
        Self::spawn(cmd, overrides)
    }

    /// Starts brokk inside network namespace `netns` (`ip netns exec`, which becomes the
    /// brokk process itself), listening on `listen`, with `data` and `--override`s.
    pub fn start_in_netns(netns: &str, listen: SocketAddr, data: &Path, overrides: &[&str]) -> Self {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns, BIN, "--listen"])
            .arg(listen.to_string())
            .arg("--data-dir")
            .arg(data);
        Self::spawn(cmd, overrides)
    }

    /// Starts brokk with several `log.dirs` (the first is the metadata directory).
    pub fn start_dirs(dirs: &[&Path], overrides: &[&str]) -> Self {
        let mut cmd = Command::new(BIN);
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        cmd.args(["--listen", "127.0.0.1:0", "--override"])
            .arg(format!("log.dirs={}", list.join(",")));
        Self::spawn(cmd, overrides)
    }

    fn spawn(mut cmd: Command, overrides: &[&str]) -> Self {
        for o in overrides {
            cmd.args(["--override", o]);
        }
        let mut child = cmd
            .env(
                "RUST_LOG",
                std::env::var("BROKK_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brokk");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr"))
            .lines()
            .map_while(Result::ok);
        let mut addr = None;
        for l in lines.by_ref() {
            eprintln!("brokk: {l}");
            if let Some(rest) = l.split("brokk listening on ").nth(1) {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(|l| eprintln!("brokk: {l}")));
        Self {
            child,
            addr: addr.expect("brokk logged its address"),
        }
    }

    /// Runs brokk with `log.dirs` expecting it to refuse to start: returns its log once it
    /// exited (bounded by [`super::TIMEOUT`]; a broker that starts instead fails the test).
    pub fn refused_dirs(dirs: &[&Path]) -> String {
        let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        let mut cmd = Command::new(BIN);
        cmd.args(["--listen", "127.0.0.1:0", "--override"])
            .arg(format!("log.dirs={}", list.join(",")));
        Self::refusal(cmd)
    }

    /// Runs brokk with `data` and `--override`s expecting it to refuse to start, as
    /// [`Self::refused_dirs`].
    #[allow(dead_code)]
    pub fn refused(data: &Path, overrides: &[&str]) -> String {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(data);
        for o in overrides {
            cmd.args(["--override", o]);
        }
        Self::refusal(cmd)
    }

    fn refusal(mut cmd: Command) -> String {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start brokk");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
            let _ = tx.send(text);
        });
        let text = rx.recv_timeout(super::TIMEOUT);
        let status = child.try_wait().ok().flatten();
        let _ = child.kill();
        let status = status.or_else(|| child.wait().ok());
        let text = text.expect("brokk exited (its log closed) instead of starting");
        assert!(status.is_some_and(|s| !s.success()), "brokk refused to start: {text}");
        text
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the process to exit by itself (blocking).
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for brokk")
    }

    /// SIGTERM (a clean stop), and waits (bounded by [`super::TIMEOUT`]) for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for brokk") {
                return status;
            }
            assert!(
                start.elapsed() < super::TIMEOUT,
                "brokk did not stop within {:?} of SIGTERM",
                super::TIMEOUT
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// SIGKILL, and waits for the exit.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BrokkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Produce (v9, acks=-1) of one batch that reports a dead broker instead of panicking:
/// Some((error_code, base_offset)), or None once the connection is gone.
pub async fn try_produce(raw: &mut Raw, topic: &str, partition: i32, records: Bytes) -> Option<(i16, i64)> {
    let frame = raw.frame(&produce_req(topic, partition, records, -1), 9);
    raw.stream.write_all(&frame).await.ok()?;
    let mut len = [0u8; 4];
    raw.stream.read_exact(&mut len).await.ok()?;
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    raw.stream.read_exact(&mut buf).await.ok()?;
    let mut b = Bytes::from(buf);
    ResponseHeader::decode(&mut b, 1).ok()?;
    let resp = ProduceResponse::decode(&mut b, 9).ok()?;
    let p = &resp.responses[0].partition_responses[0];
    Some((p.error_code, p.base_offset))
}

/// Sends `req` and decodes its response; None if the connection is gone or the broker does
/// not answer within [`super::TIMEOUT`] (a killed broker).
pub async fn try_call<R: kafka_protocol::protocol::Request>(
    raw: &mut Raw,
    req: &R,
    version: i16,
) -> Option<R::Response> {
    use kafka_protocol::protocol::HeaderVersion;
    let frame = raw.frame(req, version);
    let round_trip = async {
        raw.stream.write_all(&frame).await.ok()?;
        let mut len = [0u8; 4];
        raw.stream.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        raw.stream.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    };
    let mut b = tokio::time::timeout(super::TIMEOUT, round_trip).await.ok()??;
    ResponseHeader::decode(&mut b, <R::Response as HeaderVersion>::header_version(version)).ok()?;
    R::Response::decode(&mut b, version).ok()
}
