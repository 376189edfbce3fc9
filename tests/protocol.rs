//! Raw kafka-protocol tests over TCP: versions, malformed frames, error codes, long-poll,
//! fetch limits, offset lookups and topic administration edge cases.

mod common;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn code(e: ResponseError) -> i16 {
    e.code()
}

#[tokio::test]
async fn api_versions_advertises_exactly_what_is_implemented() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    for v in [0, 3, 4] {
        let resp = raw.call(&api_versions_req(), v).await;
        assert_eq!(resp.error_code, 0);
        let find = |k: ApiKey| {
            resp.api_keys
                .iter()
                .find(|a| a.api_key == k as i16)
                .map(|a| (a.min_version, a.max_version))
        };
        assert_eq!(find(ApiKey::ApiVersions), Some((0, 4)));
        // Advertised from v0 for librdkafka's codec detection (as Kafka 4.0); v0-2 rejected.
        assert_eq!(find(ApiKey::Produce), Some((0, 13)));
        assert_eq!(find(ApiKey::Fetch), Some((4, 18)));
        assert_eq!(find(ApiKey::JoinGroup), Some((0, 9)), "as Kafka 4.1.1");
        assert_eq!(find(ApiKey::OffsetCommit), Some((2, 9)));
        assert_eq!(find(ApiKey::InitProducerId), Some((0, 5)));
        assert_eq!(find(ApiKey::AddPartitionsToTxn), Some((0, 5)));
        assert_eq!(find(ApiKey::EndTxn), Some((0, 4)), "v5 is transaction version 2");
        assert_eq!(find(ApiKey::TxnOffsetCommit), Some((0, 4)));
        assert_eq!(
            find(ApiKey::WriteTxnMarkers),
            Some((1, 1)),
            "as Kafka 4.1: Admin.abortTransaction sends it"
        );
    }
}

#[tokio::test]
async fn api_versions_v3_needs_a_client_software_name_and_version() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let named = |n: &'static str, v: &'static str| {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(n))
            .with_client_software_version(StrBytes::from_static_str(v))
    };
    for (req, ok) in [
        (named("", ""), false),
        (named("librdkafka", ""), false),
        (named("-lib", "1.0"), false),
        (named("lib rd", "1.0"), false),
        (named("lib.", "1.0"), false),
        (named("a", "2.12.0"), true),
        (named("apache-kafka-java", "4.1.1"), true),
    ] {
        let resp = raw.call(&req, 3).await;
        let want = if ok { 0 } else { code(ResponseError::InvalidRequest) };
        assert_eq!((resp.error_code, resp.api_keys.is_empty()), (want, !ok), "{req:?}");
    }
    // v0-v2 have no such fields.
    assert_eq!(raw.call(&ApiVersionsRequest::default(), 2).await.error_code, 0);
}

#[tokio::test]
async fn unsupported_api_versions_version_gets_error_35_in_v0_shape() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let f = raw.frame(&api_versions_req(), 4);
    // Rewrite the version field (bytes 6..8 after the length) to 9.
    let mut f = f.to_vec();
    f[6..8].copy_from_slice(&9i16.to_be_bytes());
    raw.send_bytes(&f).await;
    let mut resp = raw.read_frame().await.expect("answered");
    let _corr = ResponseHeader::decode_v0(&mut resp);
    let body = <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, code(ResponseError::UnsupportedVersion));
    assert_eq!(body.api_keys.len(), 1);
    assert_eq!(body.api_keys[0].max_version, 4);
    // The connection stays usable for the downgraded request.
    assert_eq!(raw.call(&api_versions_req(), 3).await.error_code, 0);
}

trait DecodeV0 {
    fn decode_v0(b: &mut Bytes) -> i32;
}
impl DecodeV0 for ResponseHeader {
    fn decode_v0(b: &mut Bytes) -> i32 {
        <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(b, 0)
            .unwrap()
            .correlation_id
    }
}

#[tokio::test]
async fn bad_frames_close_only_that_connection() {
    let b = TestBroker::start().await;
    let mut good = Raw::connect(b.addr).await;
    // Negative size.
    let mut r = Raw::connect(b.addr).await;
    r.send_bytes(&(-1i32).to_be_bytes()).await;
    assert!(r.is_closed().await);
    // Larger than socket.request.max.bytes.
    let mut r = Raw::connect(b.addr).await;
    r.send_bytes(&(200i32 << 20).to_be_bytes()).await;
    assert!(r.is_closed().await);
    // Unknown api key.
    let mut r = Raw::connect(b.addr).await;
    let mut f = BytesMut::new();
    f.put_i32(10);
    f.put_i16(999);
    f.put_i16(0);
    f.put_i32(1);
    f.put_i16(-1);
    r.send_bytes(&f).await;
    assert!(r.is_closed().await);
    // Unsupported version of a non-ApiVersions request.
    let mut r = Raw::connect(b.addr).await;
    let mut f = r.frame(&MetadataRequest::default(), 1).to_vec();
    f[6..8].copy_from_slice(&99i16.to_be_bytes());
    r.send_bytes(&f).await;
    assert!(r.is_closed().await);
    // Produce v2: advertised (as Kafka 4.0 does) but rejected.
    let mut r = Raw::connect(b.addr).await;
    let mut f = r
        .frame(&produce_req("x", 0, batch(1, 0, Compression::None), 1), 3)
        .to_vec();
    f[6..8].copy_from_slice(&2i16.to_be_bytes());
    r.send_bytes(&f).await;
    assert!(r.is_closed().await);
    // Truncated body: a Produce header followed by garbage.
    let mut r = Raw::connect(b.addr).await;
    let f = r.frame(&produce_req("x", 0, batch(1, 0, Compression::None), 1), 9);
    let cut = &f[4..f.len() - 20];
    let mut g = BytesMut::new();
    g.put_i32(cut.len() as i32);
    g.extend_from_slice(cut);
    r.send_bytes(&g).await;
    assert!(r.is_closed().await);
    // A huge array count in a tiny frame must not take the broker down.
    let mut r = Raw::connect(b.addr).await;
    let mut f = r.frame(&MetadataRequest::default(), 4).to_vec();
    let n = f.len();
    // Metadata v4 body: topics array (i32 count) then allow_auto_topic_creation.
    f[n - 5..n - 1].copy_from_slice(&i32::MAX.to_be_bytes());
    r.send_bytes(&f).await;
    assert!(r.is_closed().await);
    // The broker still serves the first connection.
    assert_eq!(good.call(&api_versions_req(), 3).await.error_code, 0);
}

#[tokio::test]
async fn produce_errors_per_partition() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "p", 1, &[("max.message.bytes", "200")]).await;
    // Unknown topic (Produce never auto-creates).
    assert_eq!(
        produce(&mut raw, "nope", 0, batch(1, now_ms(), Compression::None))
            .await
            .0,
        code(ResponseError::UnknownTopicOrPartition)
    );
    // Invalid topic name.
    assert_eq!(
        produce(&mut raw, "bad name", 0, batch(1, now_ms(), Compression::None))
            .await
            .0,
        code(ResponseError::InvalidTopicException)
    );
    // Unknown partition.
    assert_eq!(
        produce(&mut raw, "p", 7, batch(1, now_ms(), Compression::None)).await.0,
        code(ResponseError::UnknownTopicOrPartition)
    );
    // Corrupt CRC.
    let mut bad = batch(2, now_ms(), Compression::None).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    assert_eq!(
        produce(&mut raw, "p", 0, Bytes::from(bad)).await.0,
        code(ResponseError::CorruptMessage)
    );
    // Wrong magic.
    let mut m = batch(1, now_ms(), Compression::None).to_vec();
    m[16] = 1;
    assert_eq!(
        produce(&mut raw, "p", 0, Bytes::from(m)).await.0,
        code(ResponseError::InvalidRecord)
    );
    // Two batches in one partition's records.
    let mut two = batch(1, now_ms(), Compression::None).to_vec();
    two.extend_from_slice(&batch(1, now_ms(), Compression::None));
    assert_eq!(
        produce(&mut raw, "p", 0, Bytes::from(two)).await.0,
        code(ResponseError::InvalidRecord)
    );
    // Larger than max.message.bytes.
    assert_eq!(
        produce(&mut raw, "p", 0, batch(30, now_ms(), Compression::None))
            .await
            .0,
        code(ResponseError::MessageTooLarge)
    );
    // Timestamp too far in the future (default message.timestamp.after.max.ms = 1h).
    assert_eq!(
        produce(&mut raw, "p", 0, batch(1, now_ms() + 7_200_000, Compression::None))
            .await
            .0,
        code(ResponseError::InvalidTimestamp)
    );
    // Invalid acks.
    let resp = raw
        .call(&produce_req("p", 0, batch(1, now_ms(), Compression::None), 2), 9)
        .await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code,
        code(ResponseError::InvalidRequiredAcks)
    );
    // Nothing above was stored: the next good batch gets offset 0.
    assert_eq!(
        produce(&mut raw, "p", 0, batch(1, now_ms(), Compression::None)).await,
        (0, 0)
    );
}

#[tokio::test]
async fn acks_zero_gets_no_response_and_errors_close_the_connection() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "a0", 1, &[]).await;
    let f = raw.frame(&produce_req("a0", 0, batch(3, now_ms(), Compression::None), 0), 9);
    raw.send_bytes(&f).await;
    // The next response on the wire belongs to the next request.
    let resp = raw.call(&api_versions_req(), 3).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(
        produce(&mut raw, "a0", 0, batch(1, now_ms(), Compression::None)).await,
        (0, 3)
    );
    let f = raw.frame(&produce_req("missing", 0, batch(1, now_ms(), Compression::None), 0), 9);
    raw.send_bytes(&f).await;
    assert!(raw.is_closed().await);
}

#[tokio::test]
async fn long_poll_wakes_when_data_lands() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "lp", 1, &[]).await;
    let addr = b.addr;
    let started = Instant::now();
    let waiter = tokio::spawn(async move {
        let mut c = Raw::connect(addr).await;
        c.call(&fetch_req("lp", 0, 0, 15_000, 1), 12).await
    });
    // Produce only once the fetch is parked, so this exercises the wake-up, not an
    // immediate answer (bounded: the fetch parks within milliseconds).
    let p = b.broker().logs().partition("lp", 0).unwrap();
    for _ in 0..2000 {
        if p.waiting_fetches() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(p.waiting_fetches(), 1, "the fetch is parked");
    assert_eq!(
        produce(&mut raw, "lp", 0, batch(1, now_ms(), Compression::None))
            .await
            .0,
        0
    );
    let resp = tokio::time::timeout(TIMEOUT, waiter).await.unwrap().unwrap();
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(decode_records(p.records.as_ref().unwrap()).len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the append, not the deadline"
    );
}

#[tokio::test]
async fn long_poll_times_out_empty_after_max_wait() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "lp2", 1, &[]).await;
    let started = Instant::now();
    let resp = raw.call(&fetch_req("lp2", 0, 0, 300, 1), 11).await;
    assert!(started.elapsed() >= Duration::from_millis(290));
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 0);
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
}

#[tokio::test]
async fn fetch_offsets_limits_and_mid_batch() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "f", 2, &[]).await;
    for _ in 0..3 {
        produce(&mut raw, "f", 0, batch(10, now_ms(), Compression::Lz4)).await;
    }
    produce(&mut raw, "f", 1, batch(5, now_ms(), Compression::None)).await;
    // Mid-batch: offset 15 is served from the batch that starts at 10.
    let resp = raw.call(&fetch_req("f", 0, 15, 0, 1), 12).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (30, 30, 0)
    );
    let recs = decode_records(p.records.as_ref().unwrap());
    assert_eq!(recs.first().unwrap().0, 10);
    assert_eq!(recs.last().unwrap().0, 29);
    // Out of range.
    let resp = raw.call(&fetch_req("f", 0, 31, 0, 1), 12).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        code(ResponseError::OffsetOutOfRange)
    );
    // partition_max_bytes = 1: the first batch still comes back whole (KIP-74), only one.
    let mut req = fetch_req("f", 0, 0, 0, 1);
    req.topics[0].partitions[0].partition_max_bytes = 1;
    let resp = raw.call(&req, 12).await;
    let recs = decode_records(resp.responses[0].partitions[0].records.as_ref().unwrap());
    assert_eq!(recs.len(), 10);
    // Response max_bytes = 1 over two partitions: one batch total; the second partition
    // gets none because the first used the budget.
    let mut req = fetch_req("f", 0, 0, 0, 1);
    let mut p1 = req.topics[0].partitions[0].clone();
    p1.partition = 1;
    req.topics[0].partitions.push(p1);
    req.max_bytes = 1;
    let resp = raw.call(&req, 12).await;
    let parts = &resp.responses[0].partitions;
    assert_eq!(decode_records(parts[0].records.as_ref().unwrap()).len(), 10);
    assert!(parts[1].records.as_ref().is_none_or(|r| r.is_empty()));
    assert_eq!(parts[1].high_watermark, 5);
    // Unknown topic in a fetch.
    let resp = raw.call(&fetch_req("nope", 0, 0, 0, 1), 12).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        code(ResponseError::UnknownTopicOrPartition)
    );
    // Incremental fetch session that was never created.
    let mut req = fetch_req("f", 0, 0, 0, 1);
    req.session_id = 77;
    req.session_epoch = 3;
    assert_eq!(
        raw.call(&req, 12).await.error_code,
        code(ResponseError::FetchSessionIdNotFound)
    );
}

#[tokio::test]
async fn topic_ids_in_produce_v13_and_fetch_v13() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let id = create_topic(&mut raw, "ids", 1, &[]).await;
    assert!(!id.is_nil());
    let mut req = produce_req("", 0, batch(4, now_ms(), Compression::Zstd), -1);
    req.topic_data[0].topic_id = id;
    let resp = raw.call(&req, 13).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    let mut f = fetch_req("", 0, 0, 0, 1);
    f.topics[0].topic_id = id;
    let resp = raw.call(&f, 13).await;
    assert_eq!(resp.responses[0].topic_id, id);
    assert_eq!(
        decode_records(resp.responses[0].partitions[0].records.as_ref().unwrap()).len(),
        4
    );
    f.topics[0].topic_id = uuid::Uuid::from_u128(42);
    let resp = raw.call(&f, 13).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        code(ResponseError::UnknownTopicId)
    );
}

#[tokio::test]
async fn list_offsets_earliest_latest_max_and_by_time() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "lo", 1, &[]).await;
    let t0 = now_ms() - 100_000;
    produce(&mut raw, "lo", 0, batch(10, t0, Compression::Gzip)).await; // offsets 0-9, ts t0..t0+9
    produce(&mut raw, "lo", 0, batch(10, t0 + 1000, Compression::None)).await; // 10-19
    let ask = |ts: i64| {
        let mut p = list_offsets_request::ListOffsetsPartition::default();
        p.partition_index = 0;
        p.timestamp = ts;
        let mut t = list_offsets_request::ListOffsetsTopic::default();
        t.name = topic("lo");
        t.partitions = vec![p];
        let mut r = ListOffsetsRequest::default();
        r.replica_id = BrokerId(-1);
        r.topics = vec![t];
        r
    };
    let mut get = async |ts: i64| {
        let r = raw.call(&ask(ts), 9).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        (p.offset, p.timestamp)
    };
    assert_eq!(get(-2).await, (0, -1));
    assert_eq!(get(-1).await, (20, -1));
    assert_eq!(get(-3).await, (19, t0 + 1009));
    assert_eq!(get(t0 + 5).await, (5, t0 + 5));
    assert_eq!(get(t0 + 500).await, (10, t0 + 1000));
    assert_eq!(get(t0 + 1003).await, (13, t0 + 1003));
    assert_eq!(get(t0 + 99_999).await, (-1, -1));
}

#[tokio::test]
async fn metadata_auto_create_and_errors() {
    let b = TestBroker::start_with(&[("num.partitions", "4")]).await;
    let mut raw = Raw::connect(b.addr).await;
    let ask = |names: &[&str], allow: bool| {
        let mut r = MetadataRequest::default();
        r.topics = Some(
            names
                .iter()
                .map(|n| {
                    let mut t = metadata_request::MetadataRequestTopic::default();
                    t.name = Some(topic(n));
                    t
                })
                .collect(),
        );
        r.allow_auto_topic_creation = allow;
        r
    };
    let r = raw.call(&ask(&["auto"], false), 12).await;
    assert_eq!(r.topics[0].error_code, code(ResponseError::UnknownTopicOrPartition));
    let r = raw.call(&ask(&["auto", "bad name!"], true), 12).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].partitions.len(), 4);
    assert_eq!(r.topics[1].error_code, code(ResponseError::InvalidTopicException));
    let id = r.topics[0].topic_id;
    assert!(!id.is_nil());
    assert_eq!(r.brokers[0].host.as_str(), "127.0.0.1");
    assert_eq!(r.brokers[0].port, b.addr.port() as i32);
    assert_eq!(r.controller_id, r.brokers[0].node_id);
    assert!(r.cluster_id.is_some());
    // All topics (null list), every version from 0 decodes.
    for v in [0, 1, 4, 9, 12, 13] {
        let mut req = MetadataRequest::default();
        req.topics = if v == 0 { Some(vec![]) } else { None };
        let r = raw.call(&req, v).await;
        assert_eq!(r.topics.len(), 1, "v{v}");
    }
    // By topic id (v12).
    let mut req = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = None;
    t.topic_id = id;
    req.topics = Some(vec![t]);
    let r = raw.call(&req, 12).await;
    assert_eq!(r.topics[0].name.as_ref().unwrap().0.as_str(), "auto");
}

#[tokio::test]
async fn create_and_delete_topics_errors() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let req = |name: &str, parts: i32, rf: i16, cfg: &[(&str, &str)], validate_only: bool| {
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = topic(name);
        t.num_partitions = parts;
        t.replication_factor = rf;
        t.configs = cfg
            .iter()
            .map(|(k, v)| {
                let mut c = create_topics_request::CreatableTopicConfig::default();
                c.name = kafka_protocol::protocol::StrBytes::from_string(k.to_string());
                c.value = Some(kafka_protocol::protocol::StrBytes::from_string(v.to_string()));
                c
            })
            .collect();
        let mut r = CreateTopicsRequest::default();
        r.topics = vec![t];
        r.validate_only = validate_only;
        r
    };
    let mut create = async |name: &str, parts: i32, rf: i16, cfg: &[(&str, &str)], vo: bool| {
        let r = raw.call(&req(name, parts, rf, cfg, vo), 7).await;
        r.topics[0].clone()
    };
    assert_eq!(
        create("rf", 1, 3, &[], false).await.error_code,
        code(ResponseError::InvalidReplicationFactor)
    );
    assert_eq!(
        create("zero", 0, 1, &[], false).await.error_code,
        code(ResponseError::InvalidPartitions)
    );
    assert_eq!(
        create("bad/name", 1, 1, &[], false).await.error_code,
        code(ResponseError::InvalidTopicException)
    );
    assert_eq!(
        create("cfg", 1, 1, &[("retention.ms", "soon")], false).await.error_code,
        code(ResponseError::InvalidConfig)
    );
    assert_eq!(
        create("cfg", 1, 1, &[("no.such.config", "1")], false).await.error_code,
        code(ResponseError::InvalidConfig)
    );
    let v = create("vo", 2, -1, &[("retention.ms", "1234")], true).await;
    assert_eq!(v.error_code, 0);
    assert!(b.broker().logs().topic("vo").is_none(), "validate_only creates nothing");
    let ok = create("ok", -1, -1, &[("retention.ms", "1234")], false).await;
    assert_eq!((ok.error_code, ok.num_partitions, ok.replication_factor), (0, 1, 1));
    let cfgs = ok.configs.unwrap();
    let rm = cfgs.iter().find(|c| c.name.as_str() == "retention.ms").unwrap();
    assert_eq!(rm.value.as_ref().unwrap().as_str(), "1234");
    assert_eq!(rm.config_source, 1);
    assert_eq!(
        create("ok", 1, 1, &[], false).await.error_code,
        code(ResponseError::TopicAlreadyExists)
    );
    assert!(b.data_dir().join("ok-0").exists());

    // Delete by name (v5) and by id (v6).
    let mut d = DeleteTopicsRequest::default();
    d.topic_names = vec![topic("ok"), topic("ghost")];
    let r = raw.call(&d, 5).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[1].error_code, code(ResponseError::UnknownTopicOrPartition));
    assert!(!b.data_dir().join("ok-0").exists(), "data removed from disk");
    let id = create_topic(&mut raw, "byid", 2, &[]).await;
    let mut st = delete_topics_request::DeleteTopicState::default();
    st.topic_id = id;
    let mut st2 = delete_topics_request::DeleteTopicState::default();
    st2.topic_id = uuid::Uuid::from_u128(7);
    let mut d = DeleteTopicsRequest::default();
    d.topics = vec![st, st2];
    let r = raw.call(&d, 6).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "byid");
    assert_eq!(r.responses[1].error_code, code(ResponseError::UnknownTopicId));
    assert!(!b.data_dir().join("byid-1").exists());
}

#[tokio::test]
async fn log_append_time_topics_stamp_the_batch() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "lat", 1, &[("message.timestamp.type", "LogAppendTime")]).await;
    let before = now_ms();
    let resp = raw
        .call(&produce_req("lat", 0, batch(3, 1000, Compression::None), 1), 9)
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert!(p.log_append_time_ms >= before);
    let f = raw.call(&fetch_req("lat", 0, 0, 0, 1), 12).await;
    let bytes = f.responses[0].partitions[0].records.clone().unwrap();
    let attributes = i16::from_be_bytes([bytes[21], bytes[22]]);
    assert_ne!(attributes & 0x08, 0, "timestamp type is LogAppendTime");
    let max_ts = i64::from_be_bytes(bytes[35..43].try_into().unwrap());
    assert_eq!(max_ts, p.log_append_time_ms);
    let mut buf = bytes.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).unwrap();
    assert_eq!(sets[0].records.len(), 3, "CRC still valid after the rewrite");
}

#[tokio::test]
async fn advertised_listener_is_what_metadata_returns() {
    let b = TestBroker::start_with(&[("advertised.listeners", "PLAINTEXT://kafka.example.test:19092")]).await;
    let mut raw = Raw::connect(b.addr).await;
    let r = raw.call(&MetadataRequest::default(), 12).await;
    assert_eq!(r.brokers[0].host.as_str(), "kafka.example.test");
    assert_eq!(r.brokers[0].port, 19092);
}

#[tokio::test]
async fn broker_switches_min_insync_deletion_and_auto_create() {
    let b = TestBroker::start_with(&[("delete.topic.enable", "false"), ("auto.create.topics.enable", "false")]).await;
    let mut raw = Raw::connect(b.addr).await;
    // min.insync.replicas=2 on a single broker: Kafka 4 counts it at most the replica
    // count (`Partition.effectiveMinIsr`), so acks=-1 is accepted, as acks=1 is.
    create_topic(&mut raw, "isr", 1, &[("min.insync.replicas", "2")]).await;
    let r = raw
        .call(&produce_req("isr", 0, batch(1, now_ms(), Compression::None), -1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let r = raw
        .call(&produce_req("isr", 0, batch(1, now_ms(), Compression::None), 1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    // delete.topic.enable=false.
    let mut d = DeleteTopicsRequest::default();
    d.topic_names = vec![topic("isr")];
    let r = raw.call(&d, 5).await;
    assert_eq!(r.responses[0].error_code, code(ResponseError::TopicDeletionDisabled));
    assert!(b.broker().logs().topic("isr").is_some());
    // auto.create.topics.enable=false wins over the request's allow flag.
    let mut m = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(topic("never"));
    m.topics = Some(vec![t]);
    m.allow_auto_topic_creation = true;
    let r = raw.call(&m, 12).await;
    assert_eq!(r.topics[0].error_code, code(ResponseError::UnknownTopicOrPartition));
    assert!(b.broker().logs().topic("never").is_none());
}

#[tokio::test]
async fn group_requests_at_removed_versions_or_truncated_close_the_connection() {
    let b = TestBroker::start().await;
    let mut good = Raw::connect(b.addr).await;
    // OffsetCommit v0/v1 were removed in Kafka 4.0 (KIP-896): not advertised, connection
    // closed. (JoinGroup v0/v1, removed too, came back in 4.0.1 for old librdkafka: a v0
    // member, which has no rebalance timeout, joins with its session timeout as one.)
    for v in [0i16, 1] {
        let mut r = Raw::connect(b.addr).await;
        let mut f = r.frame(&OffsetCommitRequest::default(), 2).to_vec();
        f[6..8].copy_from_slice(&v.to_be_bytes());
        r.send_bytes(&f).await;
        assert!(r.is_closed().await, "OffsetCommit v{v}");
    }
    for v in [0i16, 1] {
        let mut r = Raw::connect(b.addr).await;
        let join = JoinGroupRequest::default()
            .with_group_id(GroupId(kafka_protocol::protocol::StrBytes::from_string(format!(
                "old{v}"
            ))))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(if v == 0 { -1 } else { 10_000 })
            .with_protocol_type(kafka_protocol::protocol::StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(kafka_protocol::protocol::StrBytes::from_static_str("range"))
                    .with_metadata(Bytes::from_static(b"m")),
            ]);
        let resp = r.call(&join, v).await;
        assert_eq!((resp.error_code, resp.generation_id), (0, 1), "JoinGroup v{v}");
        assert_eq!(resp.leader, resp.member_id);
    }
    // A SyncGroup whose assignment array claims more entries than the frame holds.
    let mut r = Raw::connect(b.addr).await;
    let mut req = SyncGroupRequest::default();
    req.group_id = GroupId(kafka_protocol::protocol::StrBytes::from_static_str("g"));
    let f = r.frame(&req, 3);
    let mut f = f.to_vec();
    let n = f.len();
    f[n - 4..].copy_from_slice(&0x7fff_ffffi32.to_be_bytes());
    r.send_bytes(&f).await;
    assert!(r.is_closed().await);
    // The other connection is unaffected and the coordinator answers.
    let mut fc = FindCoordinatorRequest::default();
    fc.key = kafka_protocol::protocol::StrBytes::from_static_str("g");
    assert_eq!(good.call(&fc, 3).await.error_code, 0);
}
