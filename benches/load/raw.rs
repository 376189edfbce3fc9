//! A pipelined raw producer (kafka-protocol, no client library): one pre-encoded Produce
//! request of one ~1 MB batch per partition, re-sent with a fresh correlation id while up to
//! `in_flight` requests are outstanding on each connection. It pushes more than librdkafka
//! can, to find the server's own ceiling. The batch is built with one record per offset and
//! no producer id (kafka-protocol's encoder starts a new batch whenever offset minus
//! sequence changes, so sequences follow offsets).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const PRODUCE_VERSION: i16 = 9;

/// One v2 batch of `count` records of `size` bytes (also the null sink's stored log).
pub fn batch(count: usize, size: usize) -> Bytes {
    let value = Bytes::from(vec![b'r'; size]);
    let recs: Vec<Record> = (0..count as i64)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // Base sequence -1 ("none"), as a producer without an id writes.
            sequence: i as i32 - 1,
            timestamp: brokk::log::now_ms(),
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &opts).expect("encode batch");
    buf.freeze()
}

/// A full request frame (length prefix included); the correlation id is at bytes 8..12.
pub fn frame<R: Encodable + kafka_protocol::protocol::HeaderVersion>(key: ApiKey, version: i16, req: &R) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(StrBytes::from_static_str("brokk-load-raw")));
    let hv = R::header_version(version);
    let mut body = BytesMut::new();
    header.encode(&mut body, hv).expect("header");
    req.encode(&mut body, version).expect("body");
    let mut out = BytesMut::with_capacity(body.len() + 4);
    out.put_i32(body.len() as i32);
    out.extend_from_slice(&body);
    out
}

pub async fn read_frame(s: &mut (impl AsyncReadExt + Unpin)) -> Bytes {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.expect("response length");
    let mut buf = BytesMut::zeroed(i32::from_be_bytes(len) as usize);
    s.read_exact(&mut buf).await.expect("response");
    buf.freeze()
}

/// Makes sure `topic` exists (Metadata auto-creation) and every partition has a leader
/// before producing (at once on brokk; Kafka elects them a moment after the creation).
pub async fn ensure_topic(addr: SocketAddr, topic: &str) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut m = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(StrBytes::from_string(topic.to_string())));
    m.topics = Some(vec![t]);
    m.allow_auto_topic_creation = true;
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        s.write_all(&frame(ApiKey::Metadata, 9, &m)).await.expect("metadata");
        let mut resp = read_frame(&mut s).await;
        let _ = resp.split_to(5); // correlation id and v9's tagged fields
        let r = MetadataResponse::decode(&mut resp, 9).expect("decode metadata");
        let ready = r.topics.iter().all(|t| {
            t.error_code == 0
                && !t.partitions.is_empty()
                && t.partitions.iter().all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        });
        // Kafka's metadata names a leader a moment before that broker serves the partition:
        // wait until ListOffsets answers for every partition too.
        if ready && leaders_serve(&mut s, topic, r.topics[0].partitions.len() as i32).await {
            return;
        }
        assert!(Instant::now() < deadline, "{topic}: no leaders within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether every partition of `topic` answers ListOffsets (latest) without an error.
async fn leaders_serve(s: &mut TcpStream, topic: &str, partitions: i32) -> bool {
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = (0..partitions)
        .map(|i| {
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.partition_index = i;
            p.timestamp = -1;
            p
        })
        .collect();
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![t];
    s.write_all(&frame(ApiKey::ListOffsets, 7, &req))
        .await
        .expect("list offsets");
    let mut resp = read_frame(s).await;
    let _ = resp.split_to(5); // correlation id and v7's tagged fields
    let r = ListOffsetsResponse::decode(&mut resp, 7).expect("decode list offsets");
    r.topics.iter().all(|t| t.partitions.iter().all(|p| p.error_code == 0))
}

/// Sends `total_bytes` of record payload to `partitions` partitions of `topic` over
/// `connections` connections, `in_flight` requests each; returns (frame bytes sent, seconds).
#[allow(clippy::too_many_arguments)]
pub async fn produce(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    size: usize,
    total_bytes: usize,
    connections: usize,
    in_flight: usize,
    batch_bytes: usize,
) -> (usize, f64) {
    // Up to `batch_bytes` of records per batch (1 MB stays under the default
    // max.message.bytes of 1 MiB + 12 with record overheads).
    let per_batch = (batch_bytes / (size + 32)).max(1);
    let b = batch(per_batch, size);
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.timeout_ms = 30_000;
    let mut td = TopicProduceData::default();
    td.name = TopicName(StrBytes::from_string(topic.to_string()));
    td.partition_data = (0..partitions)
        .map(|i| {
            let mut pd = PartitionProduceData::default();
            pd.index = i;
            pd.records = Some(b.clone());
            pd
        })
        .collect();
    req.topic_data = vec![td];
    let template = frame(ApiKey::Produce, PRODUCE_VERSION, &req);
    let payload_per_request = per_batch * size * partitions as usize;
    let requests = total_bytes.div_ceil(payload_per_request).max(connections);
    let per_conn = requests.div_ceil(connections);
    let t = Instant::now();
    let mut tasks = vec![];
    for _ in 0..connections {
        let template = template.clone();
        tasks.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let (mut rd, mut wr) = s.into_split();
            let permits = Arc::new(Semaphore::new(in_flight));
            let reader_permits = permits.clone();
            let reader = tokio::spawn(async move {
                for _ in 0..per_conn {
                    let mut resp = read_frame(&mut rd).await;
                    let _corr = i32::from_be_bytes(resp[..4].try_into().expect("corr"));
                    // v9 is flexible: header v1 has a tagged-field byte after the id.
                    let _ = resp.split_to(5);
                    let r = ProduceResponse::decode(&mut resp, PRODUCE_VERSION).expect("decode");
                    for tr in &r.responses {
                        for pr in &tr.partition_responses {
                            assert_eq!(pr.error_code, 0, "produce failed");
                        }
                    }
                    reader_permits.add_permits(1);
                }
            });
            let mut f = template.to_vec();
            for i in 0..per_conn {
                permits.acquire().await.expect("permit").forget();
                f[8..12].copy_from_slice(&(i as i32).to_be_bytes());
                wr.write_all(&f).await.expect("send");
            }
            reader.await.expect("reader");
            per_conn * f.len()
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.expect("connection");
    }
    (sent, t.elapsed().as_secs_f64())
}

/// Creates topics `many-<from>` .. `many-<to - 1>` of `partitions` partitions each.
pub async fn create_topics(addr: SocketAddr, from: usize, to: usize, partitions: i32) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 60_000;
    req.topics = (from..to)
        .map(|i| {
            let mut t = create_topics_request::CreatableTopic::default();
            t.name = TopicName(StrBytes::from_string(format!("many-{i}")));
            t.num_partitions = partitions;
            t.replication_factor = 1;
            t
        })
        .collect();
    s.write_all(&frame(ApiKey::CreateTopics, 7, &req))
        .await
        .expect("create topics");
    let _ = read_frame(&mut s).await;
}

/// Deletes `names` (between throughput rows, so the next row does not pay for the page
/// cache writeback of the previous ones' data).
pub async fn delete_topics(addr: SocketAddr, names: &[String]) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = DeleteTopicsRequest::default();
    req.timeout_ms = 60_000;
    req.topic_names = names
        .iter()
        .map(|n| TopicName(StrBytes::from_string(n.clone())))
        .collect();
    s.write_all(&frame(ApiKey::DeleteTopics, 5, &req))
        .await
        .expect("delete topics");
    let _ = read_frame(&mut s).await;
}
