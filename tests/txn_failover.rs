//! Transactions in a three-broker cluster, across a `kill -9` of their coordinator.
//!
//! `__transaction_state` is created by the first FindCoordinator through the controller
//! (three replicas, `min.insync.replicas` = `transaction.state.log.min.isr`); a
//! transactional id's coordinator is the leader of its partition, and markers go to the
//! partitions' leaders (WriteTxnMarkers between brokers); a write to a partition whose
//! leader is not the coordinator is verified with the coordinator (AddPartitionsToTxn v4).
//! librdkafka's transactional producer commits, aborts, commits offsets with a
//! transaction, and, its coordinator killed in the middle of a transaction, commits that
//! transaction through the coordinator that takes over. A read_committed consumer sees
//! exactly the committed records.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Raw;
use common::cluster::{Cluster, SETTLE};
use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const SETTINGS: [&str; 5] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=1500",
    "replica.lag.time.max.ms=2000",
    "offsets.topic.num.partitions=3",
    "transaction.state.log.num.partitions=3",
];

const TXN_ID: &str = "failover-tx";
const TOPIC: &str = "ledger";
const TIMEOUT: Duration = Duration::from_secs(30);

/// FindCoordinator (v3) for the transactional id, asked of node `id`.
async fn coordinator(cluster: &Cluster, id: i32) -> Result<i32, i16> {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str(TXN_ID))
        .with_key_type(1);
    let r: FindCoordinatorResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 3).await;
    match r.error_code {
        0 => Ok(r.node_id.0),
        e => Err(e),
    }
}

/// Sends `n` records with values `{tag}-{i}`, keyed to spread over the partitions, and
/// waits until librdkafka has them acknowledged.
fn send(p: &ThreadedProducer<DefaultProducerContext>, tag: &str, n: usize) -> Vec<String> {
    let values: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        p.send(BaseRecord::to(TOPIC).key(&key).payload(v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(TIMEOUT).unwrap();
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_complete_through_a_killed_coordinator() {
    let mut cluster = Cluster::start(&SETTINGS);
    cluster.create_replicated(TOPIC, 3).await;
    // The first lookup creates __transaction_state.
    let _ = coordinator(&cluster, 1).await;
    cluster.await_in_sync(1, &["__transaction_state", TOPIC]).await;
    let m = cluster.metadata(1, Some(&[TOPIC])).await;
    let leaders: BTreeSet<i32> = m.topics[0].partitions.iter().map(|p| p.leader_id.0).collect();
    assert_eq!(leaders.len(), 3, "the partitions' leaders are spread: {leaders:?}");

    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("transactional.id", TXN_ID)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    let mut committed = vec![];

    // Markers to all three leaders, two of them another broker than the coordinator.
    p.begin_transaction().unwrap();
    committed.extend(send(&p, "first", 30));
    p.commit_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "aborted", 30);
    p.abort_transaction(TIMEOUT).unwrap();

    // Offsets committed with a transaction, to the group's coordinator.
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "eos")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset(TOPIC, 0, Offset::Offset(7)).unwrap();
    p.begin_transaction().unwrap();
    committed.extend(send(&p, "with-offsets", 30));
    p.send_offsets_to_transaction(&offsets, &group.group_metadata().unwrap(), TIMEOUT)
        .unwrap();
    p.commit_transaction(TIMEOUT).unwrap();

    // kill -9 of the coordinator with a transaction open: the new coordinator loads it
    // and the producer commits it there.
    let old = coordinator(&cluster, 1).await.expect("a coordinator");
    p.begin_transaction().unwrap();
    committed.extend(send(&p, "across-the-kill", 30));
    cluster.kill(old);
    p.commit_transaction(TIMEOUT).unwrap();
    let observer = (1..=3).find(|id| *id != old).unwrap();
    let new = coordinator(&cluster, observer).await.expect("a new coordinator");
    assert_ne!(new, old);
    p.begin_transaction().unwrap();
    committed.extend(send(&p, "after", 30));
    p.commit_transaction(TIMEOUT).unwrap();
    drop(p);

    // Exactly the committed records, once each.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for i in 0..3 {
        assignment.add_partition_offset(TOPIC, i, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let seen = common::cluster::consume_distinct(&consumer, committed.len(), "read_committed").await;
    let expected: BTreeSet<String> = committed.into_iter().collect();
    assert_eq!(seen, expected);

    // The transactional offset commit is the group's.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(TOPIC, 0);
    let start = Instant::now();
    loop {
        match group.committed_offsets(tpl.clone(), TIMEOUT) {
            Ok(c) if c.elements()[0].offset() == Offset::Offset(7) => break,
            other => assert!(start.elapsed() < SETTLE, "the group's offset: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
