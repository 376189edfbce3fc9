//! Leader epochs through a real client (the `rdkafka` crate, librdkafka 2.12): a consumer
//! that outlives broker restarts validates its position with OffsetForLeaderEpoch (KIP-320),
//! and detects a log truncated by a crash.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Keeps librdkafka's log lines (its `fetch` debug context tells of epoch validation, `topic`
/// of offset resets).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl ClientContext for Logs {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, line: &str) {
        self.0.lock().unwrap().push(format!("{fac} {line}"));
    }
}
impl ConsumerContext for Logs {}

impl Logs {
    fn find(&self, needle: &str) -> Option<String> {
        self.0.lock().unwrap().iter().find(|l| l.contains(needle)).cloned()
    }
}

fn consumer(bootstrap: &str, topic: &str, reset: &str) -> (BaseConsumer<Logs>, Logs) {
    let logs = Logs::default();
    let c: BaseConsumer<Logs> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "epochs-dummy")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", reset)
        .set("fetch.wait.max.ms", "100")
        .set("debug", "fetch,topic")
        .set_log_level(RDKafkaLogLevel::Debug)
        .create_with_context(logs.clone())
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    (c, logs)
}

async fn produce(bootstrap: &str, topic: &str, values: &[String]) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    for v in values {
        p.send(
            FutureRecord::<(), _>::to(topic).partition(0).payload(v),
            Duration::from_secs(20),
        )
        .await
        .expect("delivered");
    }
}

/// The next `n` messages: (offset, value). Panics on a consumer error.
fn receive(c: &BaseConsumer<Logs>, n: usize) -> Vec<(i64, String)> {
    let mut got = vec![];
    let deadline = Instant::now() + TIMEOUT;
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} messages: {got:?}", got.len());
        if let Some(m) = c.poll(Duration::from_millis(50)) {
            let m = match m {
                Err(e) if transient(&e) => continue,
                m => m.expect("message"),
            };
            got.push((m.offset(), String::from_utf8_lossy(m.payload().unwrap()).into_owned()));
        }
    }
    got
}

/// The connection errors librdkafka reports while the broker restarts.
fn transient(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
    )
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_validates_its_position_after_a_restart() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "e1", 1, &[]).await;
    produce(&b.bootstrap(), "e1", &values("a", 10)).await;
    let (c, logs) = consumer(&b.bootstrap(), "e1", "earliest");
    let got = receive(&c, 10);
    assert_eq!(got.last(), Some(&(9, "a9".to_string())));

    b.restart().await;
    produce(&b.bootstrap(), "e1", &values("b", 10)).await;
    let got = receive(&c, 10);
    let want: Vec<(i64, String)> = (0..10).map(|i| (10 + i, format!("b{i}"))).collect();
    assert_eq!(got, want, "the next messages, once each");
    let line = logs
        .find("offset and epoch validation succeeded")
        .expect("librdkafka validated its position with OffsetForLeaderEpoch");
    assert!(line.contains("broker end offset 10 (offset leader epoch 0)"), "{line}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_detects_a_log_truncated_by_a_crash() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "e2", 1, &[]).await;
    produce(&b.bootstrap(), "e2", &values("a", 5)).await;
    b.stop().await;
    let log = b.data_dir().join("e2-0").join("00000000000000000000.log");
    let epoch0_bytes = std::fs::metadata(&log).unwrap().len();
    b.restart().await;
    produce(&b.bootstrap(), "e2", &values("b", 3)).await;
    let (c, logs) = consumer(&b.bootstrap(), "e2", "error");
    assert_eq!(receive(&c, 8).len(), 8);

    // A crash loses the epoch-2 messages (as a power loss loses unflushed data).
    b.crash_and_damage("e2", |log| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(log)
            .unwrap()
            .set_len(epoch0_bytes)
            .unwrap()
    })
    .await;
    let deadline = Instant::now() + TIMEOUT;
    let err = loop {
        assert!(Instant::now() < deadline, "no truncation reported");
        match c.poll(Duration::from_millis(50)) {
            None => {}
            Some(Ok(m)) => panic!("a message at offset {} from the lost tail", m.offset()),
            Some(Err(e)) if transient(&e) => {}
            Some(Err(e)) => break e,
        }
    };
    assert!(
        matches!(err, KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset)),
        "{err:?}"
    );
    // The reason goes with the error event (which the crate reduces to its code) and to the
    // `topic` debug context, whose lines may be served by a later poll.
    let line = loop {
        if let Some(line) = logs.find("truncation detected") {
            break line;
        }
        assert!(Instant::now() < deadline, "librdkafka never logged the reset's reason");
        c.poll(Duration::from_millis(50));
    };
    assert!(
        line.contains("Partition log truncation detected at offset 8 (leader epoch 2): broker end offset is 5"),
        "{line}"
    );
    b.stop().await;
}
