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

use common::cluster::{Cluster, SETTLE, consume_distinct};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const SETTINGS: [&str; 4] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=3000",
    "replica.lag.time.max.ms=2000",
    "offsets.topic.num.partitions=3",
];
const TOPIC: &str = "rolling";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::start(&SETTINGS);
    cluster
        .create_replicated_with(TOPIC, 3, &[("min.insync.replicas", "2")])
        .await;
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
    // How many sends were acknowledged so far, for the restarts to wait on.
    let (acks_tx, mut acks) = tokio::sync::watch::channel(0usize);
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
                acks_tx.send_replace(acked.len());
                i += 10;
            }
            acked
        })
    };

    // Each broker in turn: a controlled shutdown, a restart, back in every ISR, with sends
    // acknowledged while it is down and after it is back.
    let mut more_acks = async |what: &str| {
        let from = *acks.borrow_and_update();
        tokio::time::timeout(SETTLE, acks.wait_for(|n| *n >= from + 50))
            .await
            .unwrap_or_else(|_| panic!("no 50 more sends acknowledged within {SETTLE:?} {what}"))
            .expect("the load runs");
    };
    more_acks("before the restarts").await;
    for id in 1..=3 {
        let status = cluster.terminate(id);
        assert!(status.success(), "node {id} exited with {status}");
        more_acks(&format!("while node {id} is down")).await;
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
        more_acks(&format!("after node {id} is back")).await;
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
