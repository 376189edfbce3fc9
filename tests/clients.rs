//! A real third-party client (the `rdkafka` crate, librdkafka 2.12) against an in-process
//! brokk: produce/consume round trips with every codec, headers and timestamps, offset
//! lookups, watermarks, metadata, and topic administration.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn producer(bootstrap: &str, compression: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // librdkafka wants a group.id even for assign(); no group APIs are used.
        .set("group.id", "brokk-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer")
}

/// Consumes from the beginning of `partitions` until `n` messages arrived (bounded).
fn consume(c: &BaseConsumer, topic: &str, partitions: i32, n: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(n);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            out.push(m.expect("message").detach());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_every_codec_with_keys_headers_timestamps() {
    let b = TestBroker::start_with(&[("num.partitions", "3")]).await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("rt-{codec}");
        let p = producer(&b.bootstrap(), codec);
        let ts0 = now_ms() - 10_000;
        let mut expected: HashMap<(i32, i64), (String, String, i64)> = HashMap::new();
        let mut futures = vec![];
        for i in 0..600 {
            let key = format!("k{i}");
            let value = format!("{codec}-value-{i}-{}", "x".repeat(i % 50));
            let headers = OwnedHeaders::new().insert(Header {
                key: "idx",
                value: Some(&i.to_string()),
            });
            let rec = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .timestamp(ts0 + i as i64)
                .headers(headers);
            let fut = p.send_result(rec).map_err(|(e, _)| e).expect("queued");
            futures.push((key.clone(), value.clone(), ts0 + i as i64, fut));
        }
        for (k, v, ts, f) in futures {
            let d = f.await.expect("not cancelled").expect("delivered");
            expected.insert((d.partition, d.offset), (k, v, ts));
        }
        let c = consumer(&b.bootstrap());
        let got = consume(&c, &topic, 3, expected.len());
        assert_eq!(got.len(), 600, "{codec}: all messages back");
        let mut last: HashMap<i32, i64> = HashMap::new();
        for m in &got {
            let (k, v, ts) = expected.get(&(m.partition(), m.offset())).expect("known offset");
            assert_eq!(m.key().unwrap(), k.as_bytes());
            assert_eq!(m.payload().unwrap(), v.as_bytes(), "{codec}: byte-identical value");
            assert_eq!(m.timestamp().to_millis(), Some(*ts));
            let h = m.headers().expect("headers").get(0);
            assert_eq!(h.key, "idx");
            let prev = last.insert(m.partition(), m.offset());
            assert!(prev.is_none_or(|p| p < m.offset()), "in order per partition");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_offsets_for_times_and_metadata() {
    let b = TestBroker::start().await;
    let p = producer(&b.bootstrap(), "none");
    let t0 = now_ms() - 50_000;
    for i in 0..20i64 {
        p.send(
            FutureRecord::<str, str>::to("times")
                .payload("v")
                .timestamp(t0 + i * 1000),
            Duration::from_secs(20),
        )
        .await
        .expect("delivered");
    }
    let c = consumer(&b.bootstrap());
    let (lo, hi) = c.fetch_watermarks("times", 0, TIMEOUT).unwrap();
    assert_eq!((lo, hi), (0, 20));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(t0 + 7_500))
        .unwrap();
    let found = c.offsets_for_times(tpl, TIMEOUT).unwrap();
    assert_eq!(found.find_partition("times", 0).unwrap().offset(), Offset::Offset(8));
    let md = c.fetch_metadata(Some("times"), TIMEOUT).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 1);
    assert_eq!(md.brokers()[0].port() as u16, b.addr.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_client_creates_and_deletes_topics() {
    let b = TestBroker::start().await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .expect("admin");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let t = NewTopic::new("adm", 5, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let res = admin.create_topics([&t], &opts).await.unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    let bad = NewTopic::new("adm-rf", 1, TopicReplication::Fixed(3));
    let res = admin.create_topics([&bad], &opts).await.unwrap();
    assert!(
        matches!(
            &res[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::InvalidReplicationFactor))
        ),
        "{res:?}"
    );
    assert_eq!(b.broker().logs().topic("adm").unwrap().partitions.len(), 5);
    let res = admin.delete_topics(&["adm"], &opts).await.unwrap();
    assert!(res[0].is_ok());
    assert!(b.broker().logs().topic("adm").is_none());
    assert!(!b.data_dir().join("adm-0").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_against_a_closed_port_fails() {
    // Guard against tests that would pass with no broker at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("message.timeout.ms", "1500")
        .create()
        .unwrap();
    let r = p
        .send(FutureRecord::<str, str>::to("x").payload("v"), Duration::from_secs(5))
        .await;
    assert!(r.is_err());
    let _ = p.flush(Duration::from_millis(100));
}
