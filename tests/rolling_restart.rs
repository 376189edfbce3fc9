//! A rolling restart of a three-node brokk cluster under load: each broker in turn gets
//! SIGTERM (a controlled shutdown: the controller moves its leaderships away before it
//! exits), is started again on its data, catches up and rejoins every ISR, while
//! librdkafka's idempotent acks=all producer keeps writing. Every send is acknowledged (the
//! clients see only retriable errors, which librdkafka retries), and a consumer group then
//! reads every acknowledged record exactly once.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Raw;
use common::cluster::{Cluster, consume_distinct};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const SETTINGS: [&str; 4] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=1500",
    "replica.lag.time.max.ms=2000",
    "offsets.topic.num.partitions=3",
];
const TOPIC: &str = "rolling";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::start(&SETTINGS);
    cluster
        .await_metadata(1, Some(&[]), "three live brokers", |m| m.brokers.len() == 3)
        .await;
    let t = CreatableTopic::default()
        .with_name(common::topic(TOPIC))
        .with_num_partitions(3)
        .with_replication_factor(3)
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2"))),
        ]);
    let r: CreateTopicsResponse = Raw::connect(cluster.node(1).addr())
        .await
        .call(
            &CreateTopicsRequest::default()
                .with_topics(vec![t])
                .with_timeout_ms(30_000),
            7,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    for id in 1..=3 {
        cluster.await_in_sync(id, &[TOPIC]).await;
    }

    // The load: sends one after another, a few in flight, until told to stop.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .set("linger.ms", "2")
        .create()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (producer, stop) = (producer.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = BTreeSet::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Acquire) {
                let mut batch = tokio::task::JoinSet::new();
                for n in i..i + 10 {
                    let producer = producer.clone();
                    batch.spawn(async move {
                        let value = format!("value-{n}");
                        producer
                            .send(
                                FutureRecord::to(TOPIC).key(&value).payload(&value),
                                Duration::from_secs(60),
                            )
                            .await
                            .map(|_| value)
                            .map_err(|(e, _)| format!("message {n}: {e}"))
                    });
                }
                while let Some(r) = batch.join_next().await {
                    acked.insert(r.unwrap().expect("every send is acknowledged"));
                }
                i += 10;
            }
            acked
        })
    };

    // Each broker in turn: a controlled shutdown, a restart, back in every ISR.
    for id in 1..=3 {
        let status = cluster.terminate(id);
        assert!(status.success(), "node {id} exited with {status}");
        let other = if id == 1 { 2 } else { 1 };
        cluster
            .await_metadata(other, Some(&[TOPIC]), "leaderships moved off the stopped node", |m| {
                m.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .all(|p| p.leader_id.0 > 0 && p.leader_id.0 != id)
            })
            .await;
        cluster.restart(id);
        cluster.await_in_sync(other, &[TOPIC]).await;
    }
    stop.store(true, Ordering::Release);
    let acked = load.await.unwrap();
    assert!(
        acked.len() >= 30,
        "the load ran throughout: {} acknowledged",
        acked.len()
    );
    eprintln!(
        "rolling restart: {} records acknowledged, all read back once",
        acked.len()
    );

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "rolling-check")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let seen = consume_distinct(&consumer, acked.len(), "the consumer after the rolling restart").await;
    assert_eq!(seen, acked, "exactly the acknowledged records");
}
