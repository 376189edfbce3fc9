//! Several named listeners, as Kafka's docker-compose setups name them
//! (`listeners=INTERNAL://...,EXTERNAL://...` with `listener.security.protocol.map` and
//! `inter.broker.listener.name`): a client is told the brokers' endpoints of the listener it
//! connected to (Metadata, FindCoordinator, DescribeCluster), librdkafka works through
//! either, and in a cluster the brokers replicate through the inter-broker listener while
//! clients use another.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::cluster::{SETTLE, consume_distinct};
use common::ports::reserved_port;
use common::process::BrokkProcess;
use common::{Raw, TestBroker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const MAP: &str = "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT";

/// The brokers Metadata lists through `addr`: (id, port).
async fn listed(addr: SocketAddr) -> BTreeSet<(i32, i32)> {
    let m: MetadataResponse = Raw::connect(addr).await.call(&MetadataRequest::default(), 12).await;
    m.brokers.iter().map(|b| (b.node_id.0, b.port)).collect()
}

async fn produce_and_consume(bootstrap: &str, topic: &str, n: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    for i in 0..n {
        let v = format!("v-{i}");
        producer
            .send(FutureRecord::to(topic).key(&v).payload(&v), Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("message {i}: {e}"));
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("g-{topic}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    assert_eq!(consume_distinct(&consumer, n, topic).await.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_told_the_endpoints_of_the_listener_it_connected_to() {
    let (internal, external) = (reserved_port(), reserved_port());
    let listeners = format!("INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}");
    let b = TestBroker::start_with(&[
        ("listeners", &listeners),
        ("listener.security.protocol.map", MAP),
        ("inter.broker.listener.name", "INTERNAL"),
    ])
    .await;
    // The inter-broker listener is the one `local_addr` names.
    assert_eq!(b.addr.port(), internal);
    let ext: SocketAddr = format!("127.0.0.1:{external}").parse().unwrap();
    assert_eq!(listed(b.addr).await, [(0, internal as i32)].into());
    assert_eq!(listed(ext).await, [(0, external as i32)].into());
    let r: DescribeClusterResponse = Raw::connect(ext)
        .await
        .call(&DescribeClusterRequest::default(), 1)
        .await;
    assert_eq!(r.brokers[0].port, external as i32);
    let find = FindCoordinatorRequest::default().with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
    let r: FindCoordinatorResponse = Raw::connect(ext).await.call(&find, 4).await;
    assert_eq!(
        (r.coordinators[0].error_code, r.coordinators[0].port),
        (0, external as i32)
    );
    // librdkafka bootstrapped from either listener stays on it.
    produce_and_consume(&ext.to_string(), "through-external", 50).await;
    produce_and_consume(&b.bootstrap(), "through-internal", 50).await;
}

#[test]
fn listeners_kafka_refuses_are_refused_at_start() {
    // A listener without a security protocol, and an inter-broker listener that is not one.
    for (overrides, why) in [
        (
            vec!["listeners=INTERNAL://127.0.0.1:0"],
            "No security protocol defined for listener INTERNAL",
        ),
        (
            vec![
                "listeners=INTERNAL://127.0.0.1:0",
                "listener.security.protocol.map=INTERNAL:PLAINTEXT",
            ],
            "inter.broker.listener.name must be a listener name",
        ),
        (vec!["listeners=SSL://127.0.0.1:0"], "brokk serves PLAINTEXT only"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = BrokkProcess::refused(dir.path(), &overrides);
        assert!(log.contains(why), "{overrides:?}: {log}");
    }
}

fn start_node(dir: &Path, id: usize, voters: &str, ports: (u16, u16, u16)) -> BrokkProcess {
    let (internal, external, controller) = ports;
    let o = [
        "process.roles=broker,controller".to_string(),
        format!("node.id={id}"),
        "controller.listener.names=CONTROLLER".to_string(),
        format!(
            "listeners=INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external},CONTROLLER://127.0.0.1:{controller}"
        ),
        format!("listener.security.protocol.map={MAP}"),
        "inter.broker.listener.name=INTERNAL".to_string(),
        format!("controller.quorum.voters={voters}"),
        "controller.quorum.election.timeout.ms=500".to_string(),
        "broker.heartbeat.interval.ms=100".to_string(),
    ];
    BrokkProcess::start_named(dir, &o.iter().map(String::as_str).collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_replicate_through_the_inter_broker_listener_and_clients_use_another() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (controllers, voters) = common::cluster::controller_ports();
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|i| (reserved_port(), reserved_port(), controllers[i]))
        .collect();
    let _nodes: Vec<BrokkProcess> = (0..3)
        .map(|i| start_node(dirs[i].path(), i + 1, &voters, ports[i]))
        .collect();
    let external: Vec<SocketAddr> = ports
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.1).parse().unwrap())
        .collect();
    let want_external: BTreeSet<(i32, i32)> = (0..3).map(|i| (i as i32 + 1, ports[i].1 as i32)).collect();
    let want_internal: BTreeSet<(i32, i32)> = (0..3).map(|i| (i as i32 + 1, ports[i].0 as i32)).collect();
    let start = std::time::Instant::now();
    while listed(external[0]).await != want_external {
        assert!(start.elapsed() < SETTLE, "three brokers with their EXTERNAL endpoints");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let internal: SocketAddr = format!("127.0.0.1:{}", ports[1].0).parse().unwrap();
    assert_eq!(listed(internal).await, want_internal);

    let t = CreatableTopic::default()
        .with_name(common::topic("replicated"))
        .with_num_partitions(3)
        .with_replication_factor(3);
    let req = CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(30_000);
    let r: CreateTopicsResponse = Raw::connect(external[2]).await.call(&req, 7).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    // Followers fetch from their leaders' INTERNAL endpoints: every partition is in sync.
    let start = std::time::Instant::now();
    loop {
        let mut req = MetadataRequest::default();
        let mut topic = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default();
        topic.name = Some(common::topic("replicated"));
        req.topics = Some(vec![topic]);
        let m: MetadataResponse = Raw::connect(external[0]).await.call(&req, 12).await;
        let synced = m.topics.first().is_some_and(|t| {
            t.partitions.len() == 3 && t.partitions.iter().all(|p| p.isr_nodes.len() == 3 && p.leader_id.0 > 0)
        });
        if synced {
            break;
        }
        assert!(start.elapsed() < SETTLE, "every partition in sync: {m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bootstrap = external.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    produce_and_consume(&bootstrap, "replicated", 200).await;
}
