//! Scale rows: many concurrent connections, and the server's memory while one consumer
//! reads a log far larger than any buffer.
//!
//! - [`connections`]: `n` connections each send `per_conn` small acks=1 Produce requests, one
//!   at a time, all connections at once; request rate and round-trip percentiles, and the
//!   server's resident memory per open connection.
//! - [`read_back`]: one raw consumer fetches a partition from offset 0 to its end while a
//!   thread samples the server's anonymous and file-backed resident memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::raw::{batch, frame, read_frame};

/// What [`connections`] measured.
pub struct ConnResult {
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// `n` connections, each sending `per_conn` Produce requests of one 100-byte record to
/// partition `i % partitions` of `topic`, waiting for each answer.
pub async fn connections(addr: SocketAddr, topic: &str, partitions: i32, n: usize, per_conn: usize) -> ConnResult {
    let b = batch(1, 100);
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        streams.push(s);
    }
    let start = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    for (i, mut s) in streams.into_iter().enumerate() {
        let mut req = ProduceRequest::default();
        req.acks = 1;
        req.timeout_ms = 30_000;
        let mut td = TopicProduceData::default();
        td.name = TopicName(StrBytes::from_string(topic.to_string()));
        let mut pd = PartitionProduceData::default();
        pd.index = i as i32 % partitions;
        pd.records = Some(b.clone());
        td.partition_data = vec![pd];
        req.topic_data = vec![td];
        let f = frame(ApiKey::Produce, 9, &req);
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            start.wait().await;
            for _ in 0..per_conn {
                let t = Instant::now();
                s.write_all(&f).await.expect("send");
                let mut resp = read_frame(&mut s).await;
                let _ = resp.split_to(5);
                let r = ProduceResponse::decode(&mut resp, 9).expect("decode");
                assert_eq!(r.responses[0].partition_responses[0].error_code, 0, "produce failed");
                h.record(t.elapsed().as_micros() as u64).expect("record");
            }
            h
        }));
    }
    start.wait().await;
    let t = Instant::now();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    for task in tasks {
        all.add(task.await.expect("connection")).expect("merge");
    }
    let secs = t.elapsed().as_secs_f64();
    ConnResult {
        requests_per_sec: (n * per_conn) as f64 / secs,
        p50_us: all.value_at_quantile(0.5) as f64,
        p99_us: all.value_at_quantile(0.99) as f64,
        max_us: all.max() as f64,
    }
}

/// Opens `n` idle connections (each has sent one ApiVersions) and keeps them open.
pub async fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&frame(
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(kafka_protocol::protocol::StrBytes::from_static_str("brokk-load"))
                .with_client_software_version(kafka_protocol::protocol::StrBytes::from_static_str("1.0")),
        ))
        .await
        .expect("api versions");
        let _ = read_frame(&mut s).await;
        out.push(s);
    }
    out
}

/// Peak memory of the server while [`read_back`] ran, in MB.
pub struct ReadResult {
    pub mb_per_sec: f64,
    pub peak_anon_mb: f64,
    pub peak_file_mb: f64,
}

/// Fetches partition 0 of `topic` from offset 0 to its high watermark on one connection,
/// `max_bytes` per response, sampling `pid`'s RssAnon and RssFile every 50 ms.
pub async fn read_back(addr: SocketAddr, pid: u32, topic: &str, max_bytes: i32) -> ReadResult {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut anon, mut file) = (0f64, 0f64);
            while !stop.load(Ordering::Relaxed) {
                anon = anon.max(crate::procs::status_kb(pid, "RssAnon:"));
                file = file.max(crate::procs::status_kb(pid, "RssFile:"));
                std::thread::sleep(Duration::from_millis(50));
            }
            (anon / 1024.0, file / 1024.0)
        })
    };
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut offset = 0i64;
    let mut bytes = 0usize;
    let mut end = i64::MAX;
    let t = Instant::now();
    while offset < end {
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_wait_ms = 500;
        req.min_bytes = 1;
        req.max_bytes = max_bytes;
        let mut ft = FetchTopic::default();
        ft.topic = TopicName(StrBytes::from_string(topic.to_string()));
        let mut fp = FetchPartition::default();
        fp.partition = 0;
        fp.fetch_offset = offset;
        fp.partition_max_bytes = max_bytes;
        ft.partitions = vec![fp];
        req.topics = vec![ft];
        s.write_all(&frame(ApiKey::Fetch, 12, &req)).await.expect("fetch");
        let mut resp = read_frame(&mut s).await;
        let _ = resp.split_to(5);
        let r = FetchResponse::decode(&mut resp, 12).expect("decode");
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch failed at {offset}");
        end = p.high_watermark;
        let records: Bytes = p.records.clone().unwrap_or_default();
        bytes += records.len();
        if let Some((_, h)) = brokk::log::record::batch::iter_batches(&records).last() {
            offset = h.last_offset() + 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (peak_anon_mb, peak_file_mb) = sampler.join().expect("sampler");
    ReadResult {
        mb_per_sec: bytes as f64 / 1e6 / secs,
        peak_anon_mb,
        peak_file_mb,
    }
}
