//! Three brokk processes as one cluster: topics are created, placed and deleted by the
//! active controller (forwarded from any broker), every broker hosts the partitions the
//! metadata image assigns it and answers Metadata from the image; a produce to a broker
//! that does not lead the partition gets NOT_LEADER_OR_FOLLOWER with the leader's
//! whereabouts (KIP-951); librdkafka produces to and consumes from the whole cluster with
//! a consumer group (one coordinator per group, the other brokers answer NOT_COORDINATOR);
//! a killed broker's partitions go offline (no leader, replication factor 1) and come back
//! with their data when it restarts; CreatePartitions (librdkafka's admin client) grows a
//! topic across the brokers, and AlterConfigs changes a topic's configs on all of them.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::Cluster;
use common::{Raw, batch, fetch_req, produce_req, topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, FetchResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, MetadataResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewPartitions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

/// Brokers heartbeat fast and are fenced 1.5 s after they go silent.
const FAST: [&str; 2] = ["broker.heartbeat.interval.ms=100", "broker.session.timeout.ms=1500"];

fn create(name: &str, partitions: i32, rf: i16) -> CreateTopicsRequest {
    let t = CreatableTopic::default()
        .with_name(topic(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf);
    CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(30_000)
}

/// partition -> leader of `name` in `m`.
fn leaders(m: &MetadataResponse, name: &str) -> BTreeMap<i32, i32> {
    m.topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.leader_id.0)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_places_topics_and_brokers_serve_what_they_lead() {
    let cluster = Cluster::start(&FAST);
    let all_live = |m: &MetadataResponse| m.brokers.len() == 3;
    cluster
        .await_metadata(1, Some(&[]), "three live brokers", all_live)
        .await;

    // Created through node 1 (forwarded to the active controller, wherever it is).
    let r: CreateTopicsResponse = Raw::connect(cluster.node(1).addr())
        .await
        .call(&create("orders", 6, -1), 7)
        .await;
    let t = &r.topics[0];
    assert_eq!(
        (t.error_code, t.num_partitions, t.replication_factor),
        (0, 6, 1),
        "{t:?}"
    );
    assert!(!t.topic_id.is_nil());
    // More replicas than brokers is refused as Kafka refuses it.
    let r: CreateTopicsResponse = Raw::connect(cluster.node(2).addr())
        .await
        .call(&create("quadruple", 1, 4), 7)
        .await;
    assert_eq!(r.topics[0].error_code, ResponseError::InvalidReplicationFactor.code());
    let r: CreateTopicsResponse = Raw::connect(cluster.node(3).addr())
        .await
        .call(&create("orders", 1, -1), 7)
        .await;
    assert_eq!(r.topics[0].error_code, ResponseError::TopicAlreadyExists.code());

    // Every broker describes the same placement from its image: leaders spread evenly.
    let m1 = cluster.metadata(1, Some(&["orders"])).await;
    let placed = leaders(&m1, "orders");
    assert_eq!(placed.len(), 6);
    for id in 2..=3 {
        let m = cluster
            .await_metadata(id, Some(&["orders"]), "the placement", |m| {
                leaders(m, "orders") == placed
            })
            .await;
        assert_eq!(m.topics[0].topic_id, t.topic_id);
    }
    for b in 1..=3 {
        assert_eq!(placed.values().filter(|l| **l == b).count(), 2, "leaders {placed:?}");
    }
    // Each broker hosts exactly the partitions it leads (created once it has applied the
    // image, which may be just after it answered from it).
    let start = std::time::Instant::now();
    for (p, leader) in &placed {
        let dir = cluster.dir(*leader).join(format!("orders-{p}"));
        while !dir.exists() {
            assert!(
                start.elapsed() < common::cluster::SETTLE,
                "{} never created",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for (p, leader) in &placed {
        for b in (1..=3).filter(|b| b != leader) {
            let dir = cluster.dir(b).join(format!("orders-{p}"));
            assert!(!dir.exists(), "{} on broker {b}, which does not lead it", dir.display());
        }
    }

    // The leader takes a produce; another broker sends the client to it (KIP-951).
    let (p, leader) = placed.iter().next().map(|(p, l)| (*p, *l)).unwrap();
    let other = (1..=3).find(|b| *b != leader).unwrap();
    let req = produce_req("orders", p, batch(3, common::now_ms(), Compression::None), -1);
    let r: ProduceResponse = Raw::connect(cluster.node(other).addr()).await.call(&req, 10).await;
    let pr = &r.responses[0].partition_responses[0];
    assert_eq!(pr.error_code, ResponseError::NotLeaderOrFollower.code());
    assert_eq!(pr.current_leader.leader_id.0, leader);
    assert_eq!(
        r.node_endpoints.iter().map(|n| n.node_id.0).collect::<Vec<_>>(),
        vec![leader]
    );
    assert_eq!(r.node_endpoints[0].port, cluster.node(leader).addr().port() as i32);
    // The leader opens its log once it has applied the image: until then it answers
    // NOT_LEADER_OR_FOLLOWER, which clients retry.
    let start = std::time::Instant::now();
    loop {
        let r: ProduceResponse = Raw::connect(cluster.node(leader).addr()).await.call(&req, 10).await;
        let code = r.responses[0].partition_responses[0].error_code;
        if code == 0 {
            break;
        }
        assert_eq!(code, ResponseError::NotLeaderOrFollower.code(), "{r:?}");
        assert!(
            start.elapsed() < common::cluster::SETTLE,
            "the leader never opened its log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let f: FetchResponse = Raw::connect(cluster.node(other).addr())
        .await
        .call(&fetch_req("orders", p, 0, 0, 1), 12)
        .await;
    assert_eq!(
        f.responses[0].partitions[0].error_code,
        ResponseError::NotLeaderOrFollower.code()
    );
    let f: FetchResponse = Raw::connect(cluster.node(leader).addr())
        .await
        .call(&fetch_req("orders", p, 0, 0, 1), 12)
        .await;
    assert_eq!(f.responses[0].partitions[0].high_watermark, 3);
    // So are the other leader-only requests (here OffsetForLeaderEpoch).
    let epochs = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic("orders"))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(p)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(0),
                ]),
        ]);
    for (id, expected) in [(other, ResponseError::NotLeaderOrFollower.code()), (leader, 0)] {
        let r: OffsetForLeaderEpochResponse = Raw::connect(cluster.node(id).addr()).await.call(&epochs, 4).await;
        assert_eq!(r.topics[0].partitions[0].error_code, expected, "broker {id}");
    }

    // One coordinator per group, named alike by every broker; the others refuse the
    // group's requests with NOT_COORDINATOR.
    let mut coordinators = vec![];
    for id in 1..=3 {
        let req = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_static_str("group-x")]);
        let r: FindCoordinatorResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 4).await;
        assert_eq!(r.coordinators[0].error_code, 0, "{r:?}");
        coordinators.push(r.coordinators[0].node_id.0);
    }
    coordinators.dedup();
    assert_eq!(
        coordinators.len(),
        1,
        "brokers disagree on the coordinator: {coordinators:?}"
    );
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("group-x")))
        .with_generation_id(1)
        .with_member_id(StrBytes::from_static_str("m"));
    for id in 1..=3 {
        let start = std::time::Instant::now();
        loop {
            let r: HeartbeatResponse = Raw::connect(cluster.node(id).addr()).await.call(&hb, 4).await;
            if id != coordinators[0] {
                assert_eq!(r.error_code, ResponseError::NotCoordinator.code(), "broker {id}");
                break;
            }
            // The coordinator takes its role once it has applied the topic's creation.
            if r.error_code != ResponseError::NotCoordinator.code() {
                break;
            }
            assert!(
                start.elapsed() < common::cluster::SETTLE,
                "the coordinator {id} never took the group"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Deleted through node 3: gone from every image and every broker's disk.
    let del = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_name(Some(topic("orders")))])
        .with_timeout_ms(30_000);
    let r: DeleteTopicsResponse = Raw::connect(cluster.node(3).addr()).await.call(&del, 6).await;
    assert_eq!(r.responses[0].error_code, 0, "{r:?}");
    assert_eq!(r.responses[0].topic_id, t.topic_id);
    for id in 1..=3 {
        let gone = |m: &MetadataResponse| m.topics[0].error_code == ResponseError::UnknownTopicOrPartition.code();
        cluster
            .await_metadata(id, Some(&["orders"]), "the topic deleted", gone)
            .await;
    }
    for b in 1..=3 {
        let start = std::time::Instant::now();
        while (0..6).any(|p| cluster.dir(b).join(format!("orders-{p}")).exists()) {
            assert!(
                start.elapsed() < common::cluster::SETTLE,
                "broker {b} kept the deleted topic's logs"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_uses_the_cluster_and_a_killed_brokers_partitions_come_back() {
    let mut cluster = Cluster::start(&FAST);
    cluster
        .await_metadata(1, Some(&[]), "three live brokers", |m| m.brokers.len() == 3)
        .await;
    let r: CreateTopicsResponse = Raw::connect(cluster.node(2).addr())
        .await
        .call(&create("events", 6, -1), 7)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    for id in 1..=3 {
        cluster
            .await_metadata(id, Some(&["events"]), "the topic", |m| {
                leaders(m, "events").values().all(|l| *l > 0)
            })
            .await;
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    const N: usize = 600;
    for i in 0..N {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        producer
            .send(
                FutureRecord::to("events").key(&key).payload(&value),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("message {i}: {e}"));
    }

    // Nodes 1 and 2 stay up: a restarted node 3 listens on a new port.
    let bootstrap = cluster.bootstrap();
    let consume_all = |group: &'static str| {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .create()
            .unwrap();
        consumer.subscribe(&["events"]).unwrap();
        async move { common::cluster::consume_distinct(&consumer, N, group).await }
    };
    let seen = consume_all("first").await;
    assert_eq!(seen.len(), N);

    // kill -9 of a broker: once its session expires, its partitions have no leader (their
    // one replica is gone) ...
    let before = leaders(&cluster.metadata(1, Some(&["events"])).await, "events");
    cluster.kill(3);
    let offline: Vec<i32> = before.iter().filter(|(_, l)| **l == 3).map(|(p, _)| *p).collect();
    assert!(!offline.is_empty());
    let m = cluster
        .await_metadata(1, Some(&["events"]), "broker 3's partitions offline", |m| {
            let now = leaders(m, "events");
            offline.iter().all(|p| now[p] == -1) && m.brokers.len() == 2
        })
        .await;
    for p in &m.topics[0].partitions {
        let expected = if offline.contains(&p.partition_index) {
            ResponseError::LeaderNotAvailable.code()
        } else {
            0
        };
        assert_eq!(p.error_code, expected, "partition {}", p.partition_index);
    }
    // ... and when it comes back it leads them again, with everything they held.
    cluster.restart(3);
    cluster
        .await_metadata(1, Some(&["events"]), "broker 3 leading again", |m| {
            leaders(m, "events") == before
        })
        .await;
    assert_eq!(consume_all("second").await, seen);

    // CreatePartitions through librdkafka's admin client: the controller places the new
    // partitions, every broker hosts its share, and they take records at once.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let r = admin
        .create_partitions([&NewPartitions::new("events", 8)], &opts)
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let r = admin
        .create_partitions([&NewPartitions::new("events", 4)], &opts)
        .await
        .unwrap();
    assert!(matches!(&r[0], Err((_, RDKafkaErrorCode::InvalidPartitions))), "{r:?}");
    for id in 1..=3 {
        cluster
            .await_metadata(id, Some(&["events"]), "eight partitions, all led", |m| {
                let l = leaders(m, "events");
                l.len() == 8 && l.values().all(|l| *l > 0)
            })
            .await;
    }
    // (A new producer: librdkafka's metadata of the topic is refreshed only every
    // topic.metadata.refresh.interval.ms, as against Kafka.)
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .unwrap();
    for p in [6, 7] {
        producer
            .send(
                FutureRecord::to("events")
                    .partition(p)
                    .key("k")
                    .payload(&format!("grown-{p}")),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("partition {p}: {e}"));
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "grown")
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in [6, 7] {
        assignment
            .add_partition_offset("events", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let grown = common::cluster::consume_distinct(&consumer, 2, "the new partitions").await;
    assert_eq!(grown, ["grown-6".to_string(), "grown-7".to_string()].into());

    // A topic config changed through one broker (AlterConfigs) is the controller's: every
    // broker describes it, and the leaders apply it (a batch over max.message.bytes is
    // refused).
    let change = AlterConfig::new(ResourceSpecifier::Topic("events")).set("max.message.bytes", "200");
    let r = admin.alter_configs([&change], &opts).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    for id in 1..=3 {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", cluster.node(id).addr().to_string())
            .create()
            .unwrap();
        let d = admin
            .describe_configs([&ResourceSpecifier::Topic("events")], &opts)
            .await
            .unwrap();
        let resource = d[0].as_ref().unwrap();
        let entry = resource.get("max.message.bytes").unwrap();
        assert_eq!(entry.value.as_deref(), Some("200"), "broker {id}");
    }
    let start = std::time::Instant::now();
    loop {
        let big = "x".repeat(1000);
        let sent = producer
            .send(
                FutureRecord::to("events").partition(0).key("k").payload(&big),
                Duration::from_secs(20),
            )
            .await;
        match sent {
            Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => break,
            other => assert!(
                start.elapsed() < common::cluster::SETTLE,
                "the leader never applied max.message.bytes: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (value, source) of broker config `key` as node `id` describes broker `id`.
async fn described(cluster: &Cluster, id: i32, key: &str) -> (Option<String>, i8) {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
    let req = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_string(id.to_string()))
            .with_configuration_keys(Some(vec![StrBytes::from_string(key.to_string())])),
    ]);
    let r: DescribeConfigsResponse = Raw::connect(cluster.node(id).addr()).await.call(&req, 4).await;
    let c = &r.results[0].configs[0];
    (c.value.as_ref().map(|v| v.to_string()), c.config_source)
}

/// IncrementalAlterConfigs SET (`Some`) or DELETE (`None`) of broker resource `name`
/// through node `through`; its error code.
async fn alter_broker(cluster: &Cluster, through: i32, name: &str, key: &str, value: Option<&str>) -> i16 {
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
    let c = AlterableConfig::default()
        .with_name(StrBytes::from_string(key.to_string()))
        .with_config_operation(if value.is_some() { 0 } else { 1 })
        .with_value(value.map(|v| StrBytes::from_string(v.to_string())));
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(vec![c]),
    ]);
    let r: IncrementalAlterConfigsResponse = Raw::connect(cluster.node(through).addr()).await.call(&req, 1).await;
    r.responses[0].error_code
}

/// Polls (every 50 ms, at most `SETTLE`) until node `id` describes `key` as `want`.
async fn await_described(cluster: &Cluster, id: i32, key: &str, want: (Option<&str>, i8)) {
    let start = std::time::Instant::now();
    loop {
        let (v, source) = described(cluster, id, key).await;
        if (v.as_deref(), source) == want {
            return;
        }
        assert!(
            start.elapsed() < common::cluster::SETTLE,
            "node {id} describes {key} as {v:?} (source {source}), not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_broker_configs_are_cluster_metadata_every_broker_follows() {
    // Kafka's config sources: 2 dynamic broker, 3 dynamic cluster default, 5 default.
    let mut cluster = Cluster::start(&FAST);
    cluster
        .await_metadata(1, Some(&[]), "three live brokers", |m| m.brokers.len() == 3)
        .await;
    // The cluster default, set through node 1, reaches every broker.
    assert_eq!(
        alter_broker(&cluster, 1, "", "log.retention.ms", Some("3600000")).await,
        0
    );
    for id in 1..=3 {
        await_described(&cluster, id, "log.retention.ms", (Some("3600000"), 3)).await;
    }
    // One broker's own config, through that broker, reaches it alone.
    assert_eq!(
        alter_broker(&cluster, 3, "3", "log.retention.bytes", Some("1048576")).await,
        0
    );
    await_described(&cluster, 3, "log.retention.bytes", (Some("1048576"), 2)).await;
    assert_eq!(
        described(&cluster, 2, "log.retention.bytes").await,
        (Some("-1".into()), 5)
    );
    // A restarted broker has them from the metadata log.
    cluster.kill(2);
    cluster.restart(2);
    await_described(&cluster, 2, "log.retention.ms", (Some("3600000"), 3)).await;
    // Removed through node 2, the default is gone everywhere.
    assert_eq!(alter_broker(&cluster, 2, "", "log.retention.ms", None).await, 0);
    for id in 1..=3 {
        await_described(&cluster, id, "log.retention.ms", (None, 5)).await;
    }
}
