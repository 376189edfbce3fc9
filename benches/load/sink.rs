//! The null sink: the ceiling brokk is measured against. A Kafka server built from brokk's
//! own frame codec that answers the requests a producer and a consumer send (ApiVersions,
//! Metadata, Produce, ListOffsets, Fetch) with no storage at all: Produce is decoded and
//! discarded, Fetch serves slices of one pre-built in-memory log. It advertises brokk's own
//! version ranges, so clients speak to both exactly alike. Like brokk, it serves one request
//! per connection at a time.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use brokk::server::codec::{
    RequestFrame, ResponseFrame, decode_body, decode_header, encode_fetch_response, encode_response,
};
use brokk::server::dispatch::{SUPPORTED, advertised};

/// The in-memory log Fetch serves: `batches` of `per_batch` records of `size` bytes.
#[derive(Clone)]
pub struct SinkLog {
    pub bytes: Bytes,
    pub batch_len: usize,
    pub per_batch: i64,
    pub records: i64,
}

impl SinkLog {
    /// A log of `records` records of `size` bytes, 1,000-record batches (at most 1 MiB).
    pub fn new(records: i64, size: usize) -> Self {
        let per_batch = ((1 << 20) / (size + 16)).clamp(1, 1000) as i64;
        let one = crate::raw::batch(per_batch as usize, size);
        let batches = (records + per_batch - 1) / per_batch;
        let mut all = BytesMut::with_capacity(one.len() * batches as usize);
        for b in 0..batches {
            let start = all.len();
            all.extend_from_slice(&one);
            // Each copy gets its base offset; the CRC does not cover it.
            all[start..start + 8].copy_from_slice(&(b * per_batch).to_be_bytes());
        }
        SinkLog {
            batch_len: one.len(),
            bytes: all.freeze(),
            per_batch,
            records: batches * per_batch,
        }
    }

    /// Whole batches from `offset`, at most `max` bytes (at least one batch).
    fn read(&self, offset: i64, max: usize) -> Bytes {
        if offset >= self.records || offset < 0 {
            return Bytes::new();
        }
        let first = (offset / self.per_batch) as usize * self.batch_len;
        let n = (max / self.batch_len).max(1) * self.batch_len;
        self.bytes.slice(first..(first + n).min(self.bytes.len()))
    }
}

/// Serves the sink on `listener` until the process ends.
pub async fn serve(listener: TcpListener, partitions: i32, log: SinkLog) {
    loop {
        let Ok((s, _)) = listener.accept().await else { continue };
        let _ = s.set_nodelay(true);
        let log = log.clone();
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            let _ = connection(s, port, partitions, log).await;
        });
    }
}

async fn connection(s: TcpStream, port: u16, partitions: i32, log: SinkLog) -> std::io::Result<()> {
    let (rd, mut wr) = s.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut next_offset: HashMap<(String, i32), i64> = HashMap::new();
    loop {
        let mut len = [0u8; 4];
        if rd.read_exact(&mut len).await.is_err() {
            return Ok(());
        }
        let mut frame = BytesMut::zeroed(i32::from_be_bytes(len).max(0) as usize);
        rd.read_exact(&mut frame).await?;
        let Ok(req) = decode_header(frame.freeze()) else {
            return Ok(());
        };
        match respond(req, port, partitions, &log, &mut next_offset) {
            Some(out) => out.write_to(&mut wr).await?,
            None => continue,
        }
    }
}

fn respond(
    mut req: RequestFrame,
    port: u16,
    partitions: i32,
    log: &SinkLog,
    next_offset: &mut HashMap<(String, i32), i64>,
) -> Option<ResponseFrame> {
    let (key, v, corr) = (req.api_key, req.version, req.header.correlation_id);
    let out = match key {
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsResponse::default();
            for (k, range) in SUPPORTED {
                if matches!(
                    k,
                    ApiKey::ApiVersions | ApiKey::Metadata | ApiKey::Produce | ApiKey::Fetch | ApiKey::ListOffsets
                ) {
                    let range = advertised(*k, *range);
                    let mut a = ApiVersion::default();
                    a.api_key = *k as i16;
                    a.min_version = range.min;
                    a.max_version = range.max;
                    r.api_keys.push(a);
                }
            }
            encode_response(key, corr, v.min(3), &r)
        }
        ApiKey::Metadata => {
            let m: MetadataRequest = decode_body(&mut req).ok()?;
            let mut r = MetadataResponse::default();
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(0);
            b.host = StrBytes::from_static_str("127.0.0.1");
            b.port = port as i32;
            r.brokers = vec![b];
            r.cluster_id = Some(StrBytes::from_static_str("sink"));
            r.controller_id = BrokerId(0);
            r.topics = m
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let mut rt = MetadataResponseTopic::default();
                    rt.name = t.name;
                    rt.topic_id = topic_id(rt.name.as_ref().map_or("", |n| n.0.as_str()));
                    rt.partitions = (0..partitions)
                        .map(|i| {
                            let mut p = MetadataResponsePartition::default();
                            p.partition_index = i;
                            p.leader_id = BrokerId(0);
                            p.replica_nodes = vec![BrokerId(0)];
                            p.isr_nodes = vec![BrokerId(0)];
                            p
                        })
                        .collect();
                    rt
                })
                .collect();
            encode_response(key, corr, v, &r)
        }
        ApiKey::Produce => {
            let p: ProduceRequest = decode_body(&mut req).ok()?;
            if p.acks == 0 {
                return None;
            }
            let mut r = ProduceResponse::default();
            for td in p.topic_data {
                let mut tr = TopicProduceResponse::default();
                tr.name = td.name.clone();
                tr.topic_id = td.topic_id;
                for pd in td.partition_data {
                    let count = pd.records.as_ref().map_or(0, batch_records);
                    let at = next_offset.entry((td.name.0.to_string(), pd.index)).or_insert(0);
                    let mut pr = PartitionProduceResponse::default();
                    pr.index = pd.index;
                    pr.base_offset = *at;
                    pr.log_append_time_ms = -1;
                    *at += count;
                    tr.partition_responses.push(pr);
                }
                r.responses.push(tr);
            }
            encode_response(key, corr, v, &r)
        }
        ApiKey::ListOffsets => {
            let l: ListOffsetsRequest = decode_body(&mut req).ok()?;
            let mut r = ListOffsetsResponse::default();
            for t in l.topics {
                let mut rt = ListOffsetsTopicResponse::default();
                rt.name = t.name;
                for p in t.partitions {
                    let mut rp = ListOffsetsPartitionResponse::default();
                    rp.partition_index = p.partition_index;
                    rp.timestamp = -1;
                    rp.offset = if p.timestamp == -2 { 0 } else { log.records };
                    rt.partitions.push(rp);
                }
                r.topics.push(rt);
            }
            encode_response(key, corr, v, &r)
        }
        ApiKey::Fetch => {
            let f: FetchRequest = decode_body(&mut req).ok()?;
            let mut r = FetchResponse::default();
            let mut budget = f.max_bytes.max(1) as usize;
            for t in f.topics {
                let mut rt = FetchableTopicResponse::default();
                rt.topic = t.topic;
                rt.topic_id = t.topic_id;
                for p in t.partitions {
                    let mut rp = PartitionData::default();
                    rp.partition_index = p.partition;
                    rp.high_watermark = log.records;
                    rp.last_stable_offset = log.records;
                    rp.log_start_offset = 0;
                    let data = log.read(p.fetch_offset, (p.partition_max_bytes.max(1) as usize).min(budget));
                    budget = budget.saturating_sub(data.len());
                    rp.records = Some(data);
                    rt.partitions.push(rp);
                }
                r.responses.push(rt);
            }
            encode_fetch_response(corr, v, &r)
        }
        _ => return None,
    };
    out.ok()
}

/// Records in the batch(es) of a produce payload (header fields only).
fn batch_records(b: &Bytes) -> i64 {
    let mut n = 0;
    let mut at = 0;
    while at + 61 <= b.len() {
        let len = i32::from_be_bytes(b[at + 8..at + 12].try_into().unwrap_or([0; 4])) as usize;
        n += i32::from_be_bytes(b[at + 57..at + 61].try_into().unwrap_or([0; 4])) as i64;
        at += 12 + len;
    }
    n
}

/// A stable topic id per name (Produce v13 and Fetch v13+ address topics by id).
fn topic_id(name: &str) -> uuid::Uuid {
    let h = brokk::log::internal::java_string_hash(name) as u32 as u128;
    uuid::Uuid::from_u128(h.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1)
}
