//! rskafka 0.6 (influxdata's pure-Rust client, its own protocol code) against an in-process
//! brokk: every codec, headers and timestamps read back, earliest/latest offsets, topic
//! creation and deletion through the controller client, DeleteRecords. rskafka has no
//! consumer groups, no offsets by timestamp, no idempotent or transactional producer and
//! no config or partition administration (see compat/rskafka/FINDINGS.md).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::partition::{Compression, OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

/// rskafka's builder retries a closed port forever: bound it.
async fn client(b: &TestBroker) -> Client {
    tokio::time::timeout(TIMEOUT, ClientBuilder::new(vec![b.bootstrap()]).build())
        .await
        .expect("connects in time")
        .expect("client")
}

async fn create(c: &Client, topic: &str, partitions: i32) {
    c.controller_client()
        .unwrap()
        .create_topic(topic, partitions, 1, 5000)
        .await
        .unwrap();
}

fn record(i: usize, codec: &str) -> Record {
    Record {
        key: Some(format!("k{i}").into_bytes()),
        value: Some(format!("{codec}-{i}").repeat(10).into_bytes()),
        headers: BTreeMap::from([("h".to_string(), i.to_string().into_bytes())]),
        timestamp: Utc.timestamp_millis_opt(1_700_000_000_000 + i as i64).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_with_headers_and_timestamps() {
    let b = TestBroker::start().await;
    let c = client(&b).await;
    for (name, codec) in [
        ("none", Compression::NoCompression),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let topic = format!("rsk-{name}");
        create(&c, &topic, 1).await;
        let p = c
            .partition_client(&topic, 0, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        let mut offsets = vec![];
        for chunk in 0..5 {
            let batch: Vec<Record> = (chunk * 100..(chunk + 1) * 100).map(|i| record(i, name)).collect();
            offsets.extend(p.produce(batch, codec).await.unwrap());
        }
        assert_eq!(offsets, (0..500).collect::<Vec<i64>>(), "{name}");
        let mut got = vec![];
        while got.len() < 500 {
            let (records, hw) = p.fetch_records(got.len() as i64, 1..1_000_000, 1000).await.unwrap();
            assert_eq!(hw, 500);
            assert!(!records.is_empty(), "{name}: progress");
            got.extend(records);
        }
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.record, record(i, name), "{name}: record {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_topics_and_delete_records() {
    let b = TestBroker::start().await;
    let c = client(&b).await;
    create(&c, "rsk-admin", 2).await;
    let topics = c.list_topics().await.unwrap();
    let t = topics.iter().find(|t| t.name == "rsk-admin").unwrap();
    assert_eq!(t.partitions.len(), 2);
    let p = c
        .partition_client("rsk-admin", 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    p.produce((0..10).map(|i| record(i, "d")).collect(), Compression::NoCompression)
        .await
        .unwrap();
    assert_eq!(p.get_offset(OffsetAt::Earliest).await.unwrap(), 0);
    assert_eq!(p.get_offset(OffsetAt::Latest).await.unwrap(), 10);
    p.delete_records(4, 5000).await.unwrap();
    assert_eq!(p.get_offset(OffsetAt::Earliest).await.unwrap(), 4);
    let (records, _) = p.fetch_records(4, 1..1_000_000, 100).await.unwrap();
    assert_eq!(records[0].offset, 4);
    c.controller_client()
        .unwrap()
        .delete_topic("rsk-admin", 5000)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while c.list_topics().await.unwrap().iter().any(|t| t.name == "rsk-admin") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!c.list_topics().await.unwrap().iter().any(|t| t.name == "rsk-admin"));
}
