//! The rdkafka crate (librdkafka 2.12.1) for what the other client tests leave out: the
//! idempotent producer, transactions with offsets, CreatePartitions, and the group list.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin")
}

async fn create(bootstrap: &str, topic: &str, partitions: i32) {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let r = admin(bootstrap)
        .create_topics([&NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &opts)
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
}

/// Values of partition 0 of `topic` from the beginning until `n` arrived (bounded).
fn read(bootstrap: &str, topic: &str, n: usize, isolation: &str) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "client-txn-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = vec![];
    let deadline = std::time::Instant::now() + TIMEOUT;
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_writes_each_record_once_in_order() {
    let b = TestBroker::start().await;
    let bootstrap = b.bootstrap();
    create(&bootstrap, "idem", 1).await;
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for i in 0..2000 {
        p.send(BaseRecord::<(), _>::to("idem").payload(&format!("i{i}")).partition(0))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(TIMEOUT).unwrap();
    let got = read(&bootstrap, "idem", 2000, "read_uncommitted");
    assert_eq!(got, (0..2000).map(|i| format!("i{i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_abort_and_carry_offsets() {
    let b = TestBroker::start().await;
    let bootstrap = b.bootstrap();
    create(&bootstrap, "txn-out", 1).await;
    create(&bootstrap, "txn-in", 1).await;
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", "rdkafka-tx")
        .create()
        .unwrap();
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    p.send(BaseRecord::<(), _>::to("txn-out").payload("committed-1"))
        .map_err(|(e, _)| e)
        .unwrap();
    p.commit_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    p.send(BaseRecord::<(), _>::to("txn-out").payload("aborted"))
        .map_err(|(e, _)| e)
        .unwrap();
    // Written first: abort_transaction purges what librdkafka has not sent yet.
    p.flush(TIMEOUT).unwrap();
    p.abort_transaction(TIMEOUT).unwrap();
    // A consume-transform-produce step: the group's offset commits with the transaction.
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "rdkafka-txn-group")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("txn-in", 0, Offset::Offset(5)).unwrap();
    p.begin_transaction().unwrap();
    p.send(BaseRecord::<(), _>::to("txn-out").payload("committed-2"))
        .map_err(|(e, _)| e)
        .unwrap();
    p.send_offsets_to_transaction(&offsets, &group.group_metadata().unwrap(), TIMEOUT)
        .unwrap();
    p.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(
        read(&bootstrap, "txn-out", 2, "read_committed"),
        vec!["committed-1", "committed-2"]
    );
    assert_eq!(
        read(&bootstrap, "txn-out", 3, "read_uncommitted"),
        vec!["committed-1", "aborted", "committed-2"]
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("txn-in", 0);
    let committed = group.committed_offsets(tpl, TIMEOUT).unwrap();
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_and_the_group_list() {
    let b = TestBroker::start().await;
    let bootstrap = b.bootstrap();
    create(&bootstrap, "grow", 1).await;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let r = admin(&bootstrap)
        .create_partitions([&NewPartitions::new("grow", 3)], &opts)
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "listed-group")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&["grow"]).unwrap();
    let md = c.fetch_metadata(Some("grow"), TIMEOUT).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 3);
    // Poll until the member has its assignment (bounded), then list and describe the group.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while c.assignment().unwrap().count() < 3 && std::time::Instant::now() < deadline {
        c.poll(Duration::from_millis(100));
    }
    assert_eq!(c.assignment().unwrap().count(), 3);
    let groups = c.fetch_group_list(Some("listed-group"), TIMEOUT).unwrap();
    let g = &groups.groups()[0];
    assert_eq!((g.name(), g.state(), g.members().len()), ("listed-group", "Stable", 1));
}
