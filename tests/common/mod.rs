//! Shared harness for the TCP tests: an in-process broker on 127.0.0.1:0 with a temp data
//! dir, a raw kafka-protocol client for edge cases, and record-batch builders.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use brokk::{Broker, RunningBroker};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for any single wait in a test.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A broker under test and its data directory.
pub struct TestBroker {
    pub running: Option<RunningBroker>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    settings: Vec<(String, String)>,
}

impl TestBroker {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with extra `server.properties` settings.
    pub async fn start_with(settings: &[(&str, &str)]) -> Self {
        Self::start_at(tempfile::tempdir().expect("tempdir"), settings).await
    }

    /// Starts with its data directory inside `parent` (e.g. a small filesystem).
    pub async fn start_in(parent: &std::path::Path, settings: &[(&str, &str)]) -> Self {
        Self::start_at(tempfile::tempdir_in(parent).expect("tempdir"), settings).await
    }

    async fn start_at(dir: tempfile::TempDir, settings: &[(&str, &str)]) -> Self {
        let settings: Vec<(String, String)> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let running = Self::boot(dir.path().to_path_buf(), &settings, "127.0.0.1:0").await;
        let addr = running.local_addr();
        Self {
            running: Some(running),
            dir,
            addr,
            settings,
        }
    }

    async fn boot(dir: PathBuf, settings: &[(String, String)], listen: &str) -> RunningBroker {
        let mut b = Broker::builder().listen(listen).data_dir(dir);
        for (k, v) in settings {
            b = b.set(k, v);
        }
        b.start().await.expect("broker starts")
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn broker(&self) -> &std::sync::Arc<Broker> {
        self.running.as_ref().expect("running").broker()
    }

    /// Clean shutdown (marker written).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }

    /// Stops cleanly, makes the stop look like a crash (no clean-shutdown marker), lets
    /// `damage` change partition `topic`-0's first segment file, and starts again.
    pub async fn crash_and_damage(&mut self, topic: &str, damage: impl FnOnce(&std::path::Path)) {
        self.stop().await;
        std::fs::remove_file(self.data_dir().join(".kafka_cleanshutdown")).unwrap();
        damage(
            &self
                .data_dir()
                .join(format!("{topic}-0"))
                .join("00000000000000000000.log"),
        );
        self.restart().await;
    }

    /// Starts again on the same data dir and port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let r = Self::boot(self.data_dir(), &self.settings, &self.addr.to_string()).await;
        self.addr = r.local_addr();
        self.running = Some(r);
    }
}

/// An ApiVersions request as clients send it (v3+ need a valid client software name and
/// version, or Kafka answers INVALID_REQUEST).
pub fn api_versions_req() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("brokk-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

/// A raw kafka-protocol connection.
pub struct Raw {
    pub stream: TcpStream,
    corr: i32,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream, corr: 0 }
    }

    /// Encodes a request frame for `req` at `version`.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> BytesMut {
        self.corr += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("brokk-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, R::header_version(version)).expect("header");
        req.encode(&mut body, version).expect("body");
        let mut out = BytesMut::with_capacity(body.len() + 4);
        out.put_i32(body.len() as i32);
        out.extend_from_slice(&body);
        out
    }

    pub async fn send_bytes(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.expect("write");
    }

    /// Reads one response frame (without the length), or None if the broker closed.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        match tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut len))
            .await
            .expect("response in time")
        {
            Ok(_) => {}
            Err(_) => return None,
        }
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }

    /// Sends `req` and decodes its response.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let f = self.frame(req, version);
        self.send_bytes(&f).await;
        let mut resp = self.read_frame().await.expect("broker answered");
        let hv = if R::KEY == ApiKey::ApiVersions as i16 {
            0
        } else {
            <R::Response as HeaderVersion>::header_version(version)
        };
        let header = ResponseHeader::decode(&mut resp, hv).expect("response header");
        assert_eq!(header.correlation_id, self.corr, "correlation id echoed");
        let out = R::Response::decode(&mut resp, version).expect("response body");
        assert_eq!(resp.remaining(), 0, "response fully consumed");
        out
    }

    /// True if the broker closed the connection (EOF) within the timeout.
    pub async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(TIMEOUT, self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub mod cluster;
pub mod net_cluster;
pub mod netns;
pub mod ports;
pub mod process;
pub mod records;

/// `n` records `key-i`/`value-i` with timestamps `ts0 + i`, as one v2 batch.
pub fn batch(n: usize, ts0: i64, compression: Compression) -> Bytes {
    records::batch_of(n, ts0, compression, |i| format!("value-{i}").into_bytes())
}

/// [`batch`] of `n` records from producer `pid`/`epoch` at sequence `seq`, transactional or
/// not (the CRC made right again).
pub fn producer_batch(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Bytes {
    let mut b = batch(n, now_ms(), Compression::None).to_vec();
    if transactional {
        b[22] |= 0x10;
    }
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

pub fn now_ms() -> i64 {
    brokk::log::now_ms()
}

/// A Produce request of one batch to one partition.
pub fn produce_req(name: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    let mut pd = produce_request::PartitionProduceData::default();
    pd.index = partition;
    pd.records = Some(records);
    let mut td = produce_request::TopicProduceData::default();
    td.name = topic(name);
    td.partition_data = vec![pd];
    let mut r = ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 5000;
    r.topic_data = vec![td];
    r
}

/// Produces and returns (error_code, base_offset) of the single partition.
pub async fn produce(raw: &mut Raw, name: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let resp = raw.call(&produce_req(name, partition, records, -1), 9).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A Fetch request for one partition.
pub fn fetch_req(name: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    let mut fp = fetch_request::FetchPartition::default();
    fp.partition = partition;
    fp.fetch_offset = offset;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = fetch_request::FetchTopic::default();
    ft.topic = topic(name);
    ft.partitions = vec![fp];
    let mut r = FetchRequest::default();
    r.replica_id = BrokerId(-1);
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = min_bytes;
    r.max_bytes = 50 << 20;
    r.session_epoch = -1;
    r.topics = vec![ft];
    r
}

/// Creates a topic through CreateTopics v7 with configs; asserts success.
pub async fn create_topic(raw: &mut Raw, name: &str, partitions: i32, configs: &[(&str, &str)]) -> uuid::Uuid {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic(name);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.value = Some(StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let resp = raw.call(&req, 7).await;
    assert_eq!(
        resp.topics[0].error_code, 0,
        "create {name}: {:?}",
        resp.topics[0].error_message
    );
    resp.topics[0].topic_id
}

/// Decodes every record in a fetch response's bytes: (offset, key, value, timestamp).
pub fn decode_records(b: &Bytes) -> Vec<(i64, Option<Bytes>, Option<Bytes>, i64)> {
    let mut buf = b.clone();
    kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
        .expect("decode")
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.key, r.value, r.timestamp))
        .collect()
}
