//! Consumer groups through a real client (the `rdkafka` crate, librdkafka 2.12): a queue
//! (one group sharing partitions) and pub/sub (two groups each getting everything), and
//! committed offsets with metadata resuming exactly after a broker restart.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "false")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer")
}

async fn produce_keyed(bootstrap: &str, topic: &str, n: usize) {
    let p = producer(bootstrap);
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let key = format!("key-{i}");
            let value = format!("value-{i}");
            let p = p.clone();
            let topic = topic.to_string();
            async move {
                p.send(
                    FutureRecord::to(&topic).key(&key).payload(&value),
                    Duration::from_secs(20),
                )
                .await
                .map(|_| ())
            }
        })
        .collect();
    for f in futures {
        f.await.expect("delivered");
    }
}

/// Polls `c` until its group has consumed `total` messages (`count` is shared by the
/// group's members), recording (partition, offset) of every message.
fn drain(c: BaseConsumer, count: Arc<AtomicUsize>, total: usize) -> Vec<(i32, i64)> {
    let mut got = vec![];
    let deadline = Instant::now() + TIMEOUT * 2;
    while count.load(Ordering::Acquire) < total && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(50)) {
            let m = m.expect("message");
            got.push((m.partition(), m.offset()));
            count.fetch_add(1, Ordering::AcqRel);
        }
    }
    c.unsubscribe();
    got
}

/// Polls every consumer (each on the calling thread in turn) until all have an assignment
/// and together own `partitions` partitions.
fn wait_assigned(cs: &[BaseConsumer], partitions: usize) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        for c in cs {
            let _ = c.poll(Duration::from_millis(50)).map(|m| m.expect("no error"));
        }
        let counts: Vec<usize> = cs
            .iter()
            .map(|c| c.assignment().map(|a| a.count()).unwrap_or(0))
            .collect();
        if counts.iter().all(|n| *n > 0) && counts.iter().sum::<usize>() == partitions {
            return;
        }
        assert!(Instant::now() < deadline, "assignment never settled: {counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_shares_partitions_and_two_groups_each_get_everything() {
    let b = TestBroker::start_with(&[("num.partitions", "4")]).await;
    let bs = b.bootstrap();
    // Create the topic (4 partitions) before anyone subscribes.
    produce_keyed(&bs, "events", 4).await;
    let queue: Vec<BaseConsumer> = (0..2).map(|_| group_consumer(&bs, "queue")).collect();
    let other = vec![group_consumer(&bs, "audit")];
    for c in queue.iter().chain(&other) {
        c.subscribe(&["events"]).unwrap();
    }
    wait_assigned(&queue, 4);
    wait_assigned(&other, 4);
    // Each queue member owns two partitions.
    for c in &queue {
        assert_eq!(c.assignment().unwrap().count(), 2);
    }
    produce_keyed(&bs, "events", 400).await;
    let total = 404;
    let queue_count = Arc::new(AtomicUsize::new(0));
    let audit_count = Arc::new(AtomicUsize::new(0));
    let counters = [queue_count.clone(), queue_count, audit_count];
    let handles: Vec<_> = queue
        .into_iter()
        .chain(other)
        .zip(counters)
        .map(|(c, count)| std::thread::spawn(move || drain(c, count, total)))
        .collect();
    let results: Vec<Vec<(i32, i64)>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (q1, q2, audit) = (&results[0], &results[1], &results[2]);
    let s1: HashSet<_> = q1.iter().copied().collect();
    let s2: HashSet<_> = q2.iter().copied().collect();
    assert!(s1.is_disjoint(&s2), "a message went to two members of one group");
    assert_eq!(s1.len() + s2.len(), total, "the queue group got every message once");
    assert_eq!(q1.len() + q2.len(), total, "no duplicates inside the group");
    let sa: HashSet<_> = audit.iter().copied().collect();
    assert_eq!(sa.len(), total, "the second group got every message too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_and_metadata_resume_after_a_restart() {
    let mut b = TestBroker::start_with(&[("num.partitions", "1")]).await;
    produce_keyed(&b.bootstrap(), "resume", 200).await;
    {
        let c = group_consumer(&b.bootstrap(), "resumer");
        c.subscribe(&["resume"]).unwrap();
        let mut seen = 0;
        let deadline = Instant::now() + TIMEOUT;
        while seen < 120 && Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                m.expect("message");
                seen += 1;
            }
        }
        assert_eq!(seen, 120);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("resume", 0, Offset::Offset(120)).unwrap();
        tpl.find_partition("resume", 0).unwrap().set_metadata("checkpoint-7");
        c.commit(&tpl, CommitMode::Sync).expect("commit");
        let committed = c.committed(Duration::from_secs(10)).expect("committed");
        let e = committed.find_partition("resume", 0).unwrap();
        assert_eq!((e.offset(), e.metadata()), (Offset::Offset(120), "checkpoint-7"));
        c.unsubscribe();
    }
    b.restart().await;
    let c = group_consumer(&b.bootstrap(), "resumer");
    c.subscribe(&["resume"]).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let first = loop {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            break m.expect("message").offset();
        }
        assert!(Instant::now() < deadline, "nothing consumed after the restart");
    };
    assert_eq!(first, 120, "resumes exactly after the commit");
    let committed = c.committed(Duration::from_secs(10)).expect("committed");
    let e = committed.find_partition("resume", 0).unwrap();
    assert_eq!(e.metadata(), "checkpoint-7");
}
