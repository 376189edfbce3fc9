//! End-to-end throughput through a real client (librdkafka via the `rdkafka` crate), with
//! the machine's loopback TCP throughput measured in the same run as the ceiling.
//!
//! Run: `cargo bench --bench e2e` (starts an in-process brokk on an ephemeral data dir), or
//! `BROKK_BENCH_BOOTSTRAP=host:port cargo bench --bench e2e` to drive any broker.
//! `BROKK_BENCH_MB` sets the volume per run (default 256 MB). Prints a table of MB/s,
//! msgs/s and the ratio to loopback.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Loopback TCP ceiling: one connection, 1 MiB writes, the reader discards.
async fn loopback_mb_s(total: usize) -> f64 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0usize;
        while n < total {
            let r = s.read(&mut buf).await.unwrap();
            if r == 0 {
                break;
            }
            n += r;
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let chunk = vec![7u8; 1 << 20];
    let t = Instant::now();
    let mut sent = 0;
    while sent < total {
        s.write_all(&chunk).await.unwrap();
        sent += chunk.len();
    }
    reader.await.unwrap();
    total as f64 / 1e6 / t.elapsed().as_secs_f64()
}

/// Producer variants: plain, idempotent, or plain with idempotence's in-flight limit (5
/// requests per connection), which separates the client's pipelining limit from the
/// broker's cost of the sequence checks.
/// `Transactional(n)`: a transactional producer committing every `n` messages.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Idempotent,
    FiveInFlight,
    Transactional(usize),
}

fn produce(bootstrap: &str, topic: &str, size: usize, count: usize, acks: &str, mode: Mode) -> f64 {
    let idempotent = mode != Mode::Plain && mode != Mode::FiveInFlight;
    let in_flight = if mode == Mode::Plain { "1000000" } else { "5" };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("max.in.flight.requests.per.connection", in_flight)
        .set("acks", acks)
        .set("enable.idempotence", if idempotent { "true" } else { "false" })
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "none");
    let per_txn = match mode {
        Mode::Transactional(n) => {
            config.set("transactional.id", format!("{topic}-txn"));
            Some(n)
        }
        _ => None,
    };
    let p: BaseProducer = config.create().expect("producer");
    let txn_timeout = Duration::from_secs(60);
    let t = Instant::now();
    if per_txn.is_some() {
        p.init_transactions(txn_timeout).expect("init_transactions");
        p.begin_transaction().expect("begin");
    }
    let payload = vec![b'p'; size];
    for i in 0..count {
        if let Some(n) = per_txn
            && i > 0
            && i % n == 0
        {
            drain(&p);
            p.commit_transaction(txn_timeout).expect("commit");
            p.begin_transaction().expect("begin");
        }
        loop {
            match p.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload)) {
                Ok(()) => break,
                Err((_, _)) => {
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    if per_txn.is_some() {
        drain(&p);
        p.commit_transaction(txn_timeout).expect("commit");
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    t.elapsed().as_secs_f64()
}

/// Waits until every sent message is acknowledged. The `rdkafka` crate's
/// `commit_transaction` flushes first, polling in 100 ms steps (measured: every commit then
/// costs 100 ms whatever the broker does); this serves delivery reports as they come.
fn drain(p: &BaseProducer) {
    let t = Instant::now();
    while p.in_flight_count() > 0 && t.elapsed() < Duration::from_secs(120) {
        p.poll(Duration::from_millis(1));
    }
}

fn consume(bootstrap: &str, topic: &str, count: usize) -> f64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "brokk-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.min.messages", "1000000")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let t = Instant::now();
    let mut n = 0;
    while n < count && t.elapsed() < Duration::from_secs(300) {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            m.expect("message");
            n += 1;
        }
    }
    assert_eq!(n, count, "consumed everything");
    t.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let mb: usize = std::env::var("BROKK_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (bootstrap, running) = match std::env::var("BROKK_BENCH_BOOTSTRAP") {
        Ok(b) => (b, None),
        Err(_) => {
            let r = rt
                .block_on(brokk::Broker::builder().listen("127.0.0.1:0").ephemeral().start())
                .expect("broker");
            (r.local_addr().to_string(), Some(r))
        }
    };
    let loopback = rt.block_on(loopback_mb_s(mb << 20));
    println!("loopback TCP ceiling: {loopback:.0} MB/s ({mb} MB, 1 MiB writes)");
    println!("{:<36} {:>10} {:>12} {:>12}", "run", "MB/s", "msgs/s", "/ loopback");
    // Per message size, the acks=all rows give the cost of idempotence and of transactions
    // (committing every 1 MiB or every 100 KiB of payload) against plain acks=all, same run.
    for (size, acks, mode) in [
        (100usize, "1", Mode::Plain),
        (1024, "1", Mode::Plain),
        (1024, "all", Mode::Plain),
        (1024, "all", Mode::FiveInFlight),
        (1024, "all", Mode::Idempotent),
        (1024, "all", Mode::Transactional(1024)),
        (1024, "all", Mode::Transactional(100)),
        (100, "all", Mode::Plain),
        (100, "all", Mode::FiveInFlight),
        (100, "all", Mode::Idempotent),
        (100, "all", Mode::Transactional(10_240)),
        (100, "all", Mode::Transactional(1024)),
    ] {
        let count = (mb << 20) / size;
        let label = match mode {
            Mode::Plain => String::new(),
            Mode::Idempotent => " idempotent".to_string(),
            Mode::FiveInFlight => " 5 in flight".to_string(),
            Mode::Transactional(n) => format!(" txn/{n} msgs"),
        };
        let topic = format!(
            "bench-{size}-{acks}{}-{}",
            label.replace([' ', '/'], "-"),
            std::process::id()
        );
        let secs = produce(&bootstrap, &topic, size, count, acks, mode);
        let mbs = (count * size) as f64 / 1e6 / secs;
        println!(
            "{:<36} {:>10.1} {:>12.0} {:>12.3}",
            format!("produce {size} B acks={acks}{label}"),
            mbs,
            count as f64 / secs,
            mbs / loopback
        );
        if acks == "1" && mode == Mode::Plain {
            let secs = consume(&bootstrap, &topic, count);
            let mbs = (count * size) as f64 / 1e6 / secs;
            println!(
                "{:<36} {:>10.1} {:>12.0} {:>12.3}",
                format!("consume {size} B"),
                mbs,
                count as f64 / secs,
                mbs / loopback
            );
        }
    }
    if let Some(r) = running {
        rt.block_on(r.shutdown()).expect("shutdown");
    }
}
