//! The network layer under hostile peers and exhausted resources (issue 14, defects 2 and 3;
//! `shared/repro/p3_emfile.py`, `p3_vlimit.py`): idle and half-sent requests are dropped at
//! `connections.max.idle.ms`, `queued.max.request.bytes` bounds the request bytes held, a
//! frame header reserves nothing before its bytes arrive, and the accept loop neither spins
//! nor floods the log when file descriptors run out.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::records::Compression;

const BIN: &str = env!("CARGO_BIN_EXE_brokk");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_requests_are_dropped_but_long_polls_are_not() {
    let b = TestBroker::start_with(&[("connections.max.idle.ms", "300")]).await;
    // A connection that never sends a request.
    let mut silent = Raw::connect(b.addr).await;
    // One that announces 100 bytes and sends 10.
    let mut half = Raw::connect(b.addr).await;
    half.send_bytes(&[0, 0, 0, 100, 0, 18, 0, 3, 0, 0]).await;
    assert!(silent.is_closed().await, "an idle connection is closed");
    assert!(half.is_closed().await, "a request not wholly read in time is dropped");

    // A long poll longer than the idle time is still answered, and the connection lives on.
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "quiet", 1, &[]).await;
    let resp = raw.call(&fetch_req("quiet", 0, 0, 1000, 1), 12).await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    let v = raw.call(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(v.error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_request_bytes_hold_back_a_request_until_room_is_free() {
    let b = TestBroker::start_with(&[("queued.max.request.bytes", "65536")]).await;
    let mut admin = Raw::connect(b.addr).await;
    create_topic(&mut admin, "big", 1, &[]).await;
    let value = |n: usize| move |_| vec![b'x'; n];
    // A: a ~70 KB produce, more than the whole pool (Kafka's pool lets it in and is then
    // overdrawn), of which only the first 100 bytes are sent for now. A's
    // connection is served once first, so its task is already waiting to read when the
    // bytes come, well before B's connection is even accepted.
    let mut a = Raw::connect(b.addr).await;
    assert_eq!(a.call(&ApiVersionsRequest::default(), 3).await.error_code, 0);
    let fa = a.frame(
        &produce_req(
            "big",
            0,
            records::batch_of(1, now_ms(), Compression::None, value(70_000)),
            -1,
        ),
        9,
    );
    a.send_bytes(&fa[..100]).await;
    // B: a small produce; the pool is overdrawn while A's frame is held.
    let mut bconn = Raw::connect(b.addr).await;
    let fb = bconn.frame(
        &produce_req(
            "big",
            0,
            records::batch_of(1, now_ms(), Compression::None, value(100)),
            -1,
        ),
        9,
    );
    bconn.send_bytes(&fb).await;
    let mut probe = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), bconn.stream.peek(&mut probe)).await;
    assert!(early.is_err(), "B is not read while A holds the pool");
    // A completes: both are answered.
    a.send_bytes(&fa[100..]).await;
    a.read_frame().await.expect("A answered");
    bconn.read_frame().await.expect("B answered once A is done");
}

/// A `brokk` process with limits set by `ulimit` (a separate process: the limits are its own).
struct Limited {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Limited {
    fn start(ulimit: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit {ulimit} && exec {BIN} --listen 127.0.0.1:0 --data-dir {}",
                dir.path().display()
            ))
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap())
            .lines()
            .map_while(Result::ok);
        let mut port = None;
        for l in lines.by_ref() {
            if let Some(rest) = l.split("brokk listening on 127.0.0.1:").nth(1) {
                port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
                break;
            }
        }
        let log = Arc::new((Mutex::new(vec![]), Condvar::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines {
                sink.0.lock().unwrap().push(l);
                sink.1.notify_all();
            }
        });
        Limited {
            child,
            _dir: dir,
            port: port.expect("brokk logged its port"),
            log,
        }
    }

    fn connect(&self) -> StdStream {
        let s = StdStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    }

    /// One ApiVersions v0 round trip on `s`; false if the broker did not answer.
    fn api_versions(s: &mut StdStream) -> bool {
        // size 15 | api key 18, version 0, correlation id 7, client id "brokk"
        let req = [0, 0, 0, 15, 0, 18, 0, 0, 0, 0, 0, 7, 0, 5, b'b', b'r', b'o', b'k', b'k'];
        if s.write_all(&req).is_err() {
            return false;
        }
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return false;
        }
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).is_ok() && body[..4] == [0, 0, 0, 7]
    }

    fn lines_with(&self, needle: &str) -> usize {
        self.log.0.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits (bounded) until a log line contains `needle`.
    fn await_line(&self, needle: &str) -> bool {
        let (lines, changed) = &*self.log;
        let guard = lines.lock().unwrap();
        let (guard, _) = changed
            .wait_timeout_while(guard, TIMEOUT, |l| !l.iter().any(|l| l.contains(needle)))
            .unwrap();
        guard.iter().any(|l| l.contains(needle))
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn frame_headers_reserve_nothing_before_their_bytes_arrive() {
    // 2 GiB of address space; forty headers announcing 100 MB each would need 4 GB.
    let broker = Limited::start("-v 2097152");
    let mut held = vec![];
    for _ in 0..40 {
        let mut s = broker.connect();
        s.write_all(&[0x06, 0x40, 0x00, 0x00, 0x00, 0x12]).unwrap();
        held.push(s);
    }
    let mut s = broker.connect();
    assert!(Limited::api_versions(&mut s), "brokk still serves");
    assert!(broker.lines_with("panicked") == 0 && broker.lines_with("memory allocation") == 0);
}

#[test]
fn accept_backs_off_and_stays_quiet_when_descriptors_run_out() {
    let broker = Limited::start("-n 64");
    let mut first = broker.connect();
    assert!(Limited::api_versions(&mut first));
    // More connections than descriptors: the rest wait in the listen backlog.
    let extra: Vec<StdStream> = (0..80).map(|_| broker.connect()).collect();
    // The existing connection is served throughout (each round trip also gives a spinning
    // accept loop time to show itself).
    for _ in 0..50 {
        assert!(
            Limited::api_versions(&mut first),
            "an existing connection is served at EMFILE"
        );
    }
    assert!(broker.await_line("accept failed"), "the exhaustion is reported");
    assert!(
        broker.lines_with("accept failed") <= 2,
        "at most one warning per interval, not one per attempt"
    );
    drop(extra);
    // Once descriptors are free again, new connections are accepted.
    let mut later = broker.connect();
    assert!(Limited::api_versions(&mut later), "new connections work again");
}
