//! Log compaction through a real client (the `rdkafka` crate): a compacted topic created
//! and configured with AdminClient, keyed produce, keyless produce refused, a cleaning
//! round, consumers reading the latest value of every key at its original offset,
//! DescribeConfigs/AlterConfigs through librdkafka, and DeleteRecords refused by policy.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "compacted";

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin")
}

/// (offset, key, value) of every record up to offset `last`, from the beginning.
fn consume_to(bootstrap: &str, last: i64) -> Vec<(i64, String, String)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "compaction-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = vec![];
    let deadline = std::time::Instant::now() + TIMEOUT;
    while out.last().is_none_or(|(o, _, _)| *o < last) && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            // Strict: a fetch that met only the empty batch headers the cleaner keeps used to
            // look to librdkafka like one too small for a record (MSG_SIZE_TOO_LARGE).
            let m = m.unwrap_or_else(|e| panic!("consumer error after {:?}: {e:?}", out.last()));
            let s = |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
            out.push((m.offset(), s(m.key()), s(m.payload())));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_keeps_the_latest_value_of_every_key() {
    // The background cleaner is off: the test runs the round itself, when it wants it.
    let b = TestBroker::start_with(&[("log.cleaner.enable", "false")]).await;
    let bootstrap = b.bootstrap();
    let adm = admin(&bootstrap);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1000");
    let r = adm.create_topics([&topic], &opts).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    // librdkafka's AlterConfigs (the legacy API: the whole set) adds the dirty ratio.
    let alter = AlterConfig::new(ResourceSpecifier::Topic(TOPIC))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1000")
        .set("min.cleanable.dirty.ratio", "0.01");
    let r = adm.alter_configs([&alter], &opts).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let described = adm
        .describe_configs([&ResourceSpecifier::Topic(TOPIC)], &opts)
        .await
        .unwrap();
    let d = described[0].as_ref().unwrap();
    let entry = |k: &str| d.get(k).and_then(|e| e.value.clone());
    assert_eq!(entry("cleanup.policy").as_deref(), Some("compact"));
    assert_eq!(entry("min.cleanable.dirty.ratio").as_deref(), Some("0.01"));

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    let mut latest = HashMap::new();
    let mut last = 0;
    for i in 0..200 {
        let key = format!("k{}", i % 10);
        let value = format!("v{i}");
        let offset = producer
            .send(
                FutureRecord::to(TOPIC).key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap()
            .offset;
        latest.insert(key, (offset, value));
        last = offset;
    }
    let err = producer
        .send(
            FutureRecord::<(), _>::to(TOPIC).payload("no key"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.0, KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord)),
        "{err:?}"
    );
    let before = consume_to(&bootstrap, last);
    assert_eq!(before.len(), 200);

    let broker = b.broker().clone();
    let cleaned = tokio::task::spawn_blocking(move || {
        let p = broker.logs().partition(TOPIC, 0).unwrap();
        p.flush(p.log_end_offset()).unwrap();
        broker.cleaner().clean_dirtiest(now_ms())
    })
    .await
    .unwrap();
    assert!(cleaned);
    let dirty_from = b.broker().cleaner().checkpoint(TOPIC, 0).unwrap();
    assert!(dirty_from > 150, "the round reached the active segment: {dirty_from}");

    let after = consume_to(&bootstrap, last);
    assert!(
        after.len() < before.len() / 2,
        "{} of {} records left",
        after.len(),
        before.len()
    );
    assert!(after.windows(2).all(|w| w[0].0 < w[1].0), "offsets only increase");
    for (offset, key, value) in &after {
        let original = before.iter().find(|r| r.0 == *offset).unwrap();
        assert_eq!(
            (key, value),
            (&original.1, &original.2),
            "offset {offset} keeps its record"
        );
    }
    let below: Vec<_> = after.iter().filter(|r| r.0 < dirty_from).collect();
    let mut keys: Vec<_> = below.iter().map(|r| r.1.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), below.len(), "each key once in the cleaned part");
    for (key, (offset, value)) in &latest {
        assert!(
            after.contains(&(*offset, key.clone(), value.clone())),
            "{key}'s latest value stays"
        );
    }

    // DeleteRecords on a compact-only topic: POLICY_VIOLATION.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(5)).unwrap();
    let r = adm.delete_records(&tpl, &opts).await.unwrap();
    let e = r.elements()[0].error();
    assert!(
        matches!(e, Err(KafkaError::OffsetFetch(RDKafkaErrorCode::PolicyViolation)))
            || format!("{e:?}").contains("PolicyViolation"),
        "{e:?}"
    );
}
