//! Replication across three brokk processes: a topic with replication factor 3 keeps its
//! ISR at three while every follower fetches; librdkafka's idempotent acks=all producer
//! loses nothing and duplicates nothing when the leader of a partition is killed
//! mid-stream (the controller moves leadership to an in-sync follower and shrinks the
//! ISR); `min.insync.replicas` above the ISR's size gets NOT_ENOUGH_REPLICAS; the killed
//! broker, restarted, truncates what it held beyond the new leaders' logs, catches up and
//! rejoins every ISR, its logs then byte for byte its leaders'; ElectLeaders gives it its
//! preferred leaderships back.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{Cluster, SETTLE};
use common::{Raw, batch, produce_req, topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, ElectLeadersRequest, ElectLeadersResponse, MetadataResponse,
    ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Brokers fenced 1.5 s after they go silent; followers out of sync after 2 s.
const SETTINGS: [&str; 3] = [
    "broker.heartbeat.interval.ms=100",
    "broker.session.timeout.ms=1500",
    "replica.lag.time.max.ms=2000",
];

fn create(name: &str, partitions: i32, min_isr: &str) -> CreateTopicsRequest {
    let t = CreatableTopic::default()
        .with_name(topic(name))
        .with_num_partitions(partitions)
        .with_replication_factor(3)
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_string(min_isr.to_string()))),
        ]);
    CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(30_000)
}

/// (partition, leader, isr) of `name` in `m`.
fn partitions(m: &MetadataResponse, name: &str) -> Vec<(i32, i32, BTreeSet<i32>)> {
    m.topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    p.partition_index,
                    p.leader_id.0,
                    p.isr_nodes.iter().map(|b| b.0).collect(),
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_survives_a_killed_leader_and_the_broker_rejoins_the_isr() {
    let mut cluster = Cluster::start(&SETTINGS);
    cluster
        .await_metadata(1, Some(&[]), "three live brokers", |m| m.brokers.len() == 3)
        .await;
    let mut raw = Raw::connect(cluster.node(1).addr()).await;
    for (name, count, min_isr) in [("replicated", 3, "2"), ("strict", 1, "3")] {
        let r: CreateTopicsResponse = raw.call(&create(name, count, min_isr), 7).await;
        assert_eq!(r.topics[0].error_code, 0, "{name}: {:?}", r.topics[0].error_message);
        assert_eq!(r.topics[0].replication_factor, 3);
    }
    let all = BTreeSet::from([1, 2, 3]);
    for id in 1..=3 {
        cluster
            .await_metadata(id, Some(&["replicated", "strict"]), "three in-sync replicas", |m| {
                ["replicated", "strict"].iter().all(|t| {
                    let ps = partitions(m, t);
                    !ps.is_empty() && ps.iter().all(|(_, l, isr)| *l > 0 && *isr == all)
                })
            })
            .await;
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    const N: usize = 400;
    let send = |i: usize| {
        let producer = producer.clone();
        async move {
            let (key, value) = (format!("key-{i}"), format!("value-{i}"));
            producer
                .send(
                    FutureRecord::to("replicated").key(&key).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("message {i}: {e}"));
        }
    };
    for i in 0..N / 2 {
        send(i).await;
    }

    // kill -9 of partition 0's leader, with messages in flight.
    let before = cluster.metadata(1, Some(&["replicated"])).await;
    let victim = partitions(&before, "replicated")[0].1;
    let observer = (1..=3).find(|id| *id != victim).unwrap();
    let in_flight: Vec<_> = (N / 2..N / 2 + 50).map(|i| tokio::spawn(send(i))).collect();
    cluster.kill(victim);
    for f in in_flight {
        f.await.unwrap();
    }
    for i in N / 2 + 50..N {
        send(i).await;
    }
    drop(producer);
    let survivors: BTreeSet<i32> = all.iter().copied().filter(|b| *b != victim).collect();
    let m = cluster
        .await_metadata(
            observer,
            Some(&["replicated", "strict"]),
            "the victim out of every ISR",
            |m| {
                ["replicated", "strict"].iter().all(|t| {
                    partitions(m, t)
                        .iter()
                        .all(|(_, l, isr)| *l > 0 && *l != victim && *isr == survivors)
                })
            },
        )
        .await;

    // min.insync.replicas=3 with two in sync: refused before the append.
    let strict_leader = partitions(&m, "strict")[0].1;
    let resp: ProduceResponse = Raw::connect(cluster.node(strict_leader).addr())
        .await
        .call(
            &produce_req("strict", 0, batch(1, common::now_ms(), Compression::None), -1),
            9,
        )
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, ResponseError::NotEnoughReplicas.code(), "{p:?}");
    // acks=1 does not need the ISR.
    let resp: ProduceResponse = Raw::connect(cluster.node(strict_leader).addr())
        .await
        .call(
            &produce_req("strict", 0, batch(1, common::now_ms(), Compression::None), 1),
            9,
        )
        .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);

    // Every acknowledged message, once.
    // Partitions assigned, not a group: the group coordinator does not move with
    // `__consumer_offsets` yet, and the killed broker may be the one a group names.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "never-joined")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in 0..3 {
        assignment
            .add_partition_offset("replicated", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let seen = common::cluster::consume_distinct(&consumer, N, "after the kill").await;
    assert_eq!(seen.len(), N);
    drop(consumer);

    // The victim comes back, fetches what it missed and rejoins every ISR.
    cluster.restart(victim);
    cluster
        .await_metadata(
            observer,
            Some(&["replicated", "strict"]),
            "the victim back in every ISR",
            |m| {
                ["replicated", "strict"]
                    .iter()
                    .all(|t| partitions(m, t).iter().all(|(_, _, isr)| *isr == all))
            },
        )
        .await;
    // The victim led partition 0 as its preferred replica; another broker leads it now.
    // ElectLeaders (preferred, every partition) gives the victim its leaderships back, and
    // answers only for what it changed; a partition asked for by name that its preferred
    // replica leads needs no election.
    let m = cluster.metadata(observer, Some(&["replicated"])).await;
    assert_ne!(partitions(&m, "replicated")[0].1, victim);
    let r: ElectLeadersResponse = Raw::connect(cluster.node(observer).addr())
        .await
        .call(
            &ElectLeadersRequest::default()
                .with_election_type(0)
                .with_topic_partitions(None)
                .with_timeout_ms(30_000),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let changed: Vec<(String, i32, i16)> = r
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(|p| (t.topic.0.to_string(), p.partition_id, p.error_code))
        })
        .collect();
    assert!(changed.contains(&("replicated".to_string(), 0, 0)), "{changed:?}");
    // (Internal topics' partitions may still be catching up on the victim.)
    assert!(
        changed
            .iter()
            .filter(|(t, _, _)| t == "replicated" || t == "strict")
            .all(|(_, _, e)| *e == 0),
        "{changed:?}"
    );
    let m = cluster
        .await_metadata(observer, Some(&["replicated", "strict"]), "preferred leaders", |m| {
            m.topics.iter().all(|t| {
                t.partitions
                    .iter()
                    .all(|p| Some(&p.leader_id) == p.replica_nodes.first())
            })
        })
        .await;
    assert_eq!(partitions(&m, "replicated")[0].1, victim);
    let again = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(topic("replicated"))
                .with_partitions(vec![0]),
        ]))
        .with_timeout_ms(30_000);
    let r: ElectLeadersResponse = Raw::connect(cluster.node(victim).addr()).await.call(&again, 2).await;
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        ResponseError::ElectionNotNeeded.code()
    );

    // Nothing is produced any more: every replica's log ends up the same bytes, the
    // divergent tail the victim may have written before the kill cut away.
    // The first segment's batches (the file is preallocated: its length says nothing).
    let log = |id: i32, p: i32| {
        use std::io::Read;
        let path = cluster
            .dir(id)
            .join(format!("replicated-{p}"))
            .join("00000000000000000000.log");
        let mut b = vec![];
        if let Ok(f) = std::fs::File::open(&path) {
            f.take(4 << 20).read_to_end(&mut b).unwrap();
        }
        let mut end = 0;
        while end + 12 <= b.len() {
            let len = i32::from_be_bytes(b[end + 8..end + 12].try_into().unwrap());
            if len <= 0 || end + 12 + len as usize > b.len() {
                break;
            }
            end += 12 + len as usize;
        }
        b.truncate(end);
        b
    };
    let start = std::time::Instant::now();
    for p in 0..3 {
        loop {
            let leader_log = log(1, p);
            if !leader_log.is_empty() && (2..=3).all(|id| log(id, p) == leader_log) {
                break;
            }
            assert!(start.elapsed() < SETTLE, "partition {p}: the replicas' logs differ");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
