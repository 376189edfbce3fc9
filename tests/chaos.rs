//! A Jepsen-style check of a three-node brokk cluster under random faults: `kill -9`,
//! SIGTERM (controlled shutdown) and network isolation of a random node (each node in its
//! own network namespace; isolated from the other nodes and the clients alike — a leader
//! cut off from the other nodes only, still answering clients, is `network_partition.rs`'s
//! case: the clients then learn of the new leader only from other nodes' metadata, as with
//! Kafka), one at a time, each undone (restart, heal) once the load has made
//! progress through it and before the next, while librdkafka's idempotent acks=all
//! producer writes numbered records to a topic with replication factor 3 and
//! `min.insync.replicas=2`. Then every partition is read from the start and checked:
//! - no acknowledged record is lost, and nothing else is in the log;
//! - no record is there twice (idempotence);
//! - each partition holds its records in the order they were sent;
//! - the offset each acknowledgement named holds that very record (offsets never reused).
//!
//! The short form (CI) injects 6 faults; `BROKK_CHAOS_FAULTS=50` is the long form, and
//! `BROKK_CHAOS_SEED` replays a run (the seed is printed). Needs network namespaces, as
//! `tests/network_partition.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::net_cluster::{NetCluster, SETTLE};
use common::netns::Netns;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;
const ALL: [i32; 3] = [1, 2, 3];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Terminate,
    Cut,
}

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// Waits (bounded) until some running node shows every partition led, with all three
/// replicas in sync.
async fn await_healthy(c: &NetCluster) {
    let node = ALL.into_iter().find(|i| c.is_running(*i)).expect("a running node");
    let all = BTreeSet::from(ALL);
    c.await_partitions(node, TOPIC, "every partition led and fully in sync", |ps| {
        ps.len() == PARTITIONS as usize && ps.iter().all(|(l, _, isr)| *l > 0 && *isr == all)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kills_stops_and_network_cuts_lose_duplicate_and_reorder_nothing() {
    let Some(net) = Netns::create(3) else {
        return;
    };
    let faults = env_u64("BROKK_CHAOS_FAULTS").unwrap_or(6);
    let seed = env_u64("BROKK_CHAOS_SEED").unwrap_or_else(|| fastrand::u64(..));
    eprintln!("chaos: {faults} faults, BROKK_CHAOS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut cluster = NetCluster::start(
        net,
        &[
            "broker.heartbeat.interval.ms=100",
            "broker.session.timeout.ms=1500",
            "replica.lag.time.max.ms=2000",
        ],
    );
    cluster.create_replicated(TOPIC, PARTITIONS, "2").await;
    await_healthy(&cluster).await;

    // The load: record n goes to partition n % 3; its acknowledgement's offset is kept.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "120000")
        // Requests to an isolated node are given up after 5 s, not librdkafka's 30 s (its
        // packets are dropped: no connection reset tells the client).
        .set("request.timeout.ms", "5000")
        .set("socket.timeout.ms", "5000")
        .set("linger.ms", "2")
        .create()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (acks_tx, mut acks) = tokio::sync::watch::channel(0usize);
    let load = {
        let (producer, stop) = (producer.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked: BTreeMap<u64, (i32, i64)> = BTreeMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                // Enqueued in order (the producer keeps each partition's order from here),
                // then awaited together.
                let mut batch = vec![];
                for seq in n..n + 10 {
                    let value = seq.to_string();
                    let record = FutureRecord::to(TOPIC)
                        .partition((seq % PARTITIONS as u64) as i32)
                        .key(&value)
                        .payload(&value);
                    let delivery = producer
                        .send_result(record)
                        .unwrap_or_else(|(e, _)| panic!("record {seq} not enqueued: {e}"));
                    batch.push((seq, delivery));
                }
                for (seq, delivery) in batch {
                    let d = delivery
                        .await
                        .expect("the producer lives")
                        .unwrap_or_else(|(e, _)| panic!("record {seq} not acknowledged: {e}"));
                    acked.insert(seq, (d.partition, d.offset));
                }
                acks_tx.send_replace(acked.len());
                n += 10;
            }
            acked
        })
    };
    let mut more_acks = async |what: String| {
        let from = *acks.borrow_and_update();
        tokio::time::timeout(2 * SETTLE, acks.wait_for(|n| *n >= from + 30))
            .await
            .unwrap_or_else(|_| panic!("no 30 more records acknowledged within {:?} {what}", 2 * SETTLE))
            .expect("the load runs");
    };
    more_acks("before the faults".into()).await;

    let mut injected: BTreeMap<Fault, usize> = BTreeMap::new();
    for k in 0..faults {
        let fault = [Fault::Kill, Fault::Terminate, Fault::Cut][rng.usize(..3)];
        let node = ALL[rng.usize(..3)];
        eprintln!("chaos: fault {k}: {fault:?} of node {node}");
        match fault {
            Fault::Kill => cluster.kill(node),
            Fault::Terminate => {
                let status = cluster.terminate(node);
                assert!(status.success(), "node {node} exited with {status}");
            }
            Fault::Cut => cluster.net.isolate(node as usize),
        }
        more_acks(format!("during fault {k} ({fault:?} of node {node})")).await;
        match fault {
            Fault::Kill | Fault::Terminate => cluster.restart(node),
            Fault::Cut => cluster.net.rejoin(node as usize),
        }
        await_healthy(&cluster).await;
        *injected.entry(fault).or_default() += 1;
    }
    more_acks("after the faults".into()).await;
    stop.store(true, Ordering::Release);
    let acked = load.await.unwrap();

    // Read every partition from its start to its end.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "chaos-check")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut ends = BTreeMap::new();
    for p in 0..PARTITIONS {
        // A new client's first metadata may miss the topic (Local: Unknown partition): asked
        // again, bounded.
        let start = std::time::Instant::now();
        let (low, high) = loop {
            match consumer.fetch_watermarks(TOPIC, p, Duration::from_secs(10)) {
                Ok(w) => break w,
                Err(e) => assert!(start.elapsed() < SETTLE, "watermarks of partition {p}: {e}"),
            }
        };
        assert_eq!(low, 0, "partition {p} starts at 0");
        ends.insert(p, high);
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let total: i64 = ends.values().sum();
    let mut log: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    let mut read = 0i64;
    let start = std::time::Instant::now();
    while read < total {
        assert!(
            start.elapsed() < SETTLE,
            "read {read} of {total} records within {SETTLE:?}"
        );
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            // A node's old connection, say: librdkafka carries on.
            Err(e) => {
                eprintln!("chaos: consumer: {e}");
                continue;
            }
        };
        let seq: u64 = std::str::from_utf8(m.payload().unwrap_or_default())
            .unwrap()
            .parse()
            .unwrap();
        log.entry(m.partition()).or_default().push((m.offset(), seq));
        read += 1;
    }

    // The checks.
    let mut seen = BTreeSet::new();
    for (p, records) in &log {
        let mut last: Option<(i64, u64)> = None;
        for (offset, seq) in records {
            assert!(seen.insert(*seq), "record {seq} is in the log twice");
            assert_eq!(*seq % PARTITIONS as u64, *p as u64, "record {seq} in partition {p}");
            if let Some((o, s)) = last {
                assert!(*offset > o, "partition {p}: offset {offset} after {o}");
                assert!(*seq > s, "partition {p}: record {seq} after {s} (order)");
            }
            last = Some((*offset, *seq));
        }
    }
    let logged: BTreeMap<(i32, i64), u64> = log
        .iter()
        .flat_map(|(p, rs)| rs.iter().map(move |(o, s)| ((*p, *o), *s)))
        .collect();
    for (seq, at) in &acked {
        assert_eq!(logged.get(at), Some(seq), "record {seq} acknowledged at {at:?}");
    }
    assert_eq!(
        seen.len(),
        acked.len(),
        "the log holds exactly the acknowledged records"
    );
    eprintln!(
        "chaos: {faults} faults {injected:?}; {} records acknowledged, all in the log once, in order, at their offsets",
        acked.len()
    );
}
