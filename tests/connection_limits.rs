//! The network layer under hostile peers and exhausted resources (issue 14, defects 2 and 3;
//! `shared/repro/p3_emfile.py`, `p3_vlimit.py`): idle and half-sent requests are dropped at
//! `connections.max.idle.ms`, `queued.max.request.bytes` bounds the request bytes held, a
//! frame header reserves nothing before its bytes arrive, a request body's array and tagged-field
//! counts are refused past Kafka's limits before anything is allocated for them, and the
//! accept loop neither spins nor floods the log when file descriptors run out.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::MetadataRequest;
use kafka_protocol::protocol::Decodable;
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
    let v = raw.call(&api_versions_req(), 3).await;
    assert_eq!(v.error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_request_bytes_hold_back_a_request_until_room_is_free() {
    let b = TestBroker::start_with(&[("queued.max.request.bytes", "65536")]).await;
    let mut admin = Raw::connect(b.addr).await;
    create_topic(&mut admin, "big", 1, &[]).await;
    let value = |n: usize| move |_| vec![b'x'; n];
    // A: a ~70 KB produce, more than the whole pool (Kafka's pool lets it in and is then
    // overdrawn), of which only the first 100 bytes are sent for now.
    let mut a = Raw::connect(b.addr).await;
    assert_eq!(a.call(&api_versions_req(), 3).await.error_code, 0);
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
    // A's connection takes its frame's bytes once it has read the size: the pool is then
    // overdrawn (no event tells a client; the pool is watched, bounded).
    let pool = b.broker().request_memory();
    for _ in 0..2000 {
        if pool.available().is_some_and(|a| a < 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        pool.available().is_some_and(|a| a < 0),
        "A's frame never took the pool: {:?}",
        pool.available()
    );
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
        Self::answered(s, &req)
    }

    /// Sends one request frame (correlation id 7) on `s`; true if it was answered, false if
    /// the broker closed the connection instead.
    fn answered(s: &mut StdStream, frame: &[u8]) -> bool {
        if s.write_all(frame).is_err() {
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

/// An unsigned varint as the flexible versions write it.
fn uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A Metadata v4 body whose topics array announces `count` entries and holds `present` of
/// them (each the one-letter name "a").
fn metadata_v4_body(count: i32, present: usize) -> Vec<u8> {
    let mut b = count.to_be_bytes().to_vec();
    for _ in 0..present {
        b.extend_from_slice(&[0, 1, b'a']);
    }
    b.push(0); // allow_auto_topic_creation
    b
}

/// A Metadata v12 body for all topics whose own tagged-field section announces `count`
/// fields and holds `present` of them (distinct unknown tags, empty values).
fn metadata_v12_body(count: u32, present: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 0]; // topics: null (all); two booleans false
    uvarint(&mut b, count);
    for tag in 0..present {
        uvarint(&mut b, 1000 + tag);
        uvarint(&mut b, 0);
    }
    b
}

/// A Metadata request frame (correlation id 7): header v1 for v4, v2 (flexible) for v12.
fn metadata_frame(version: i16, body: &[u8]) -> Vec<u8> {
    let mut h = vec![0, 3];
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&7i32.to_be_bytes());
    h.extend_from_slice(&[0, 1, b't']); // client id "t"
    if version >= 9 {
        h.push(0); // no header tagged fields
    }
    let mut f = ((h.len() + body.len()) as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&h);
    f.extend_from_slice(body);
    f
}

#[test]
fn decoder_limits_sit_at_a_million_elements_and_ten_thousand_tagged_fields() {
    let decode = |body: Vec<u8>, version| MetadataRequest::decode(&mut Bytes::from(body), version);
    let at = decode(metadata_v4_body(1_000_000, 1_000_000), 4).expect("1,000,000 elements");
    assert_eq!(at.topics.map(|t| t.len()), Some(1_000_000));
    assert!(decode(metadata_v4_body(1_000_001, 1_000_001), 4).is_err());
    let at = decode(metadata_v12_body(10_000, 10_000), 12).expect("10,000 tagged fields");
    assert_eq!(at.unknown_tagged_fields.len(), 10_000);
    assert!(decode(metadata_v12_body(10_001, 10_001), 12).is_err());
}

#[test]
fn oversized_counts_close_the_connection_without_allocating() {
    // 2 GiB of address space: an array of i32::MAX topics would ask for over 100 GiB.
    let broker = Limited::start("-v 2097152");
    let refused = [
        metadata_frame(4, &metadata_v4_body(i32::MAX, 0)),
        metadata_frame(4, &metadata_v4_body(1_000_001, 1_000_001)),
        // A compact array announcing u32::MAX - 1 elements.
        metadata_frame(12, &{
            let mut b = vec![];
            uvarint(&mut b, u32::MAX);
            b.extend_from_slice(&[0, 0, 0]);
            b
        }),
        metadata_frame(12, &metadata_v12_body(u32::MAX, 0)),
        metadata_frame(12, &metadata_v12_body(10_001, 10_001)),
    ];
    for (i, frame) in refused.iter().enumerate() {
        let mut s = broker.connect();
        assert!(!Limited::answered(&mut s, frame), "frame {i} was refused");
    }
    let mut s = broker.connect();
    assert!(Limited::answered(
        &mut s,
        &metadata_frame(12, &metadata_v12_body(10_000, 10_000))
    ));
    assert!(Limited::api_versions(&mut s), "brokk still serves");
    assert!(broker.lines_with("panicked") == 0 && broker.lines_with("memory allocation") == 0);
}
