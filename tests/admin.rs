//! Admin APIs over TCP with the raw protocol: CreatePartitions, DescribeCluster, DeleteRecords,
//! DescribeLogDirs, ElectLeaders, List/AlterPartitionReassignments.

mod common;

use std::collections::BTreeMap;

use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn grow(name: &str, count: i32) -> CreatePartitionsTopic {
    let mut t = CreatePartitionsTopic::default();
    t.name = topic(name);
    t.count = count;
    t.assignments = None;
    t
}

fn request(topics: Vec<CreatePartitionsTopic>, validate_only: bool) -> CreatePartitionsRequest {
    let mut r = CreatePartitionsRequest::default();
    r.topics = topics;
    r.timeout_ms = 30_000;
    r.validate_only = validate_only;
    r
}

/// (error code, message) per topic name, in response order.
fn results(r: &CreatePartitionsResponse) -> Vec<(String, i16, Option<String>)> {
    r.results
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.error_code,
                t.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect()
}

async fn partition_count(raw: &mut Raw, name: &str) -> usize {
    let mut m = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(topic(name));
    m.topics = Some(vec![t]);
    let r = raw.call(&m, 12).await;
    r.topics[0].partitions.len()
}

#[tokio::test]
async fn create_partitions_grows_topics_as_kafka_checks_them() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "grow", 2, &[]).await;

    // validate_only checks and changes nothing.
    let r = raw.call(&request(vec![grow("grow", 4)], true), 3).await;
    assert_eq!(results(&r), vec![("grow".into(), 0, None)]);
    assert_eq!(partition_count(&mut raw, "grow").await, 2);

    let r = raw.call(&request(vec![grow("grow", 4)], false), 3).await;
    assert_eq!(results(&r), vec![("grow".into(), 0, None)]);
    assert_eq!(partition_count(&mut raw, "grow").await, 4);
    let (err, base) = produce(&mut raw, "grow", 3, batch(2, now_ms(), Compression::None)).await;
    assert_eq!((err, base), (0, 0), "a new partition takes writes from offset 0");

    // Not an increase.
    let r = raw
        .call(&request(vec![grow("grow", 4), grow("none", 9)], false), 3)
        .await;
    let invalid = ResponseError::InvalidPartitions.code();
    assert_eq!(
        results(&r),
        vec![
            ("grow".into(), invalid, Some("Topic already has 4 partition(s).".into())),
            ("none".into(), ResponseError::UnknownTopicOrPartition.code(), None),
        ]
    );
    let r = raw.call(&request(vec![grow("grow", 3)], false), 1).await;
    assert_eq!(
        results(&r),
        vec![(
            "grow".into(),
            invalid,
            Some("The topic grow currently has 4 partition(s); 3 would not be an increase.".into())
        )]
    );

    // Duplicates get one INVALID_REQUEST; the others are still handled.
    create_topic(&mut raw, "other", 1, &[]).await;
    let r = raw
        .call(
            &request(vec![grow("grow", 9), grow("other", 2), grow("grow", 10)], false),
            3,
        )
        .await;
    assert_eq!(
        results(&r),
        vec![
            (
                "grow".into(),
                ResponseError::InvalidRequest.code(),
                Some("Duplicate topic name.".into())
            ),
            ("other".into(), 0, None),
        ]
    );
    assert_eq!(partition_count(&mut raw, "grow").await, 4);

    // Manual assignments: one list per new partition, naming this broker only.
    let assign = |ids: &[i32]| {
        let mut a = CreatePartitionsAssignment::default();
        a.broker_ids = ids.iter().map(|i| BrokerId(*i)).collect();
        a
    };
    let bad = ResponseError::InvalidReplicaAssignment.code();
    for (lists, msg) in [
        (
            vec![assign(&[0])],
            "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.",
        ),
        (
            vec![assign(&[0]), assign(&[])],
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            vec![assign(&[0]), assign(&[7])],
            "The manual partition assignment includes broker 7, but no such broker is registered.",
        ),
        (
            vec![assign(&[0]), assign(&[0, 0])],
            "The manual partition assignment includes the broker 0 more than once.",
        ),
    ] {
        let mut t = grow("grow", 6);
        t.assignments = Some(lists);
        let r = raw.call(&request(vec![t], false), 3).await;
        assert_eq!(results(&r), vec![("grow".into(), bad, Some(msg.into()))]);
    }
    let mut t = grow("grow", 6);
    t.assignments = Some(vec![assign(&[0]), assign(&[0])]);
    let r = raw.call(&request(vec![t], false), 3).await;
    assert_eq!(results(&r), vec![("grow".into(), 0, None)]);

    // A deadline already passed, as Kafka's controller sees it.
    let mut req = request(vec![grow("grow", 8)], false);
    req.timeout_ms = 0;
    let r = raw.call(&req, 3).await;
    assert_eq!(
        results(&r),
        vec![("grow".into(), ResponseError::RequestTimedOut.code(), None)]
    );

    // The coordinators' topics keep their partition count (their keys hash onto it).
    let _ = raw
        .call(
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            3,
        )
        .await;
    let r = raw.call(&request(vec![grow("__consumer_offsets", 60)], false), 3).await;
    assert_eq!(r.results[0].error_code, invalid);

    // Durable: the grown topic and the new partitions' data survive a restart.
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(partition_count(&mut raw, "grow").await, 6);
    assert_eq!(partition_count(&mut raw, "other").await, 2);
    let (err, base) = produce(&mut raw, "grow", 3, batch(1, now_ms(), Compression::None)).await;
    assert_eq!((err, base), (0, 2));
}

#[tokio::test]
async fn describe_cluster_answers_as_a_one_broker_cluster() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    for v in 0..=2 {
        let mut req = DescribeClusterRequest::default();
        req.endpoint_type = 1;
        let r = raw.call(&req, v).await;
        assert_eq!(r.error_code, 0, "v{v}");
        assert_eq!(r.cluster_id.as_str(), b.broker().cluster_id(), "v{v}");
        assert_eq!(r.controller_id, BrokerId(b.broker().node_id()));
        assert_eq!(r.brokers.len(), 1);
        assert_eq!(r.brokers[0].broker_id, BrokerId(b.broker().node_id()));
        assert_eq!(r.brokers[0].port, i32::from(b.addr.port()));
        assert_eq!(r.cluster_authorized_operations, i32::MIN, "not requested");
        req.include_cluster_authorized_operations = true;
        assert_eq!(
            raw.call(&req, v).await.cluster_authorized_operations,
            8096,
            "Kafka without an authorizer"
        );
    }
    // Controller endpoints are not served on the broker listener; unknown types are refused.
    let mut req = DescribeClusterRequest::default();
    req.endpoint_type = 2;
    let r = raw.call(&req, 1).await;
    assert_eq!(r.error_code, ResponseError::MismatchedEndpointType.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
    );
    assert!(r.brokers.is_empty() && r.cluster_id.is_empty() && r.controller_id == BrokerId(-1));
    req.endpoint_type = 9;
    let r = raw.call(&req, 2).await;
    assert_eq!(r.error_code, ResponseError::UnsupportedEndpointType.code());
    assert_eq!(r.error_message.as_deref(), Some("Unsupported endpoint type 9"));
}

async fn earliest(raw: &mut Raw, name: &str) -> i64 {
    let mut p = list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -2;
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = topic(name);
    t.partitions = vec![p];
    let mut r = ListOffsetsRequest::default();
    r.replica_id = BrokerId(-1);
    r.topics = vec![t];
    raw.call(&r, 7).await.topics[0].partitions[0].offset
}

async fn delete_records(raw: &mut Raw, name: &str, offsets: &[(i32, i64)]) -> Vec<(i32, i64, i16)> {
    let mut t = delete_records_request::DeleteRecordsTopic::default();
    t.name = topic(name);
    t.partitions = offsets
        .iter()
        .map(|(p, o)| {
            let mut d = delete_records_request::DeleteRecordsPartition::default();
            d.partition_index = *p;
            d.offset = *o;
            d
        })
        .collect();
    let mut r = DeleteRecordsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 30_000;
    let resp = raw.call(&r, 2).await;
    resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.low_watermark, p.error_code))
        .collect()
}

#[tokio::test]
async fn delete_records_moves_the_log_start_durably() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    // Small segments: 10 batches of 3 records span several.
    create_topic(&mut raw, "dr", 1, &[("segment.bytes", "200")]).await;
    for _ in 0..10 {
        let (err, _) = produce(&mut raw, "dr", 0, batch(3, now_ms(), Compression::None)).await;
        assert_eq!(err, 0);
    }
    let logs = |b: &TestBroker| {
        std::fs::read_dir(b.data_dir().join("dr-0"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
            .count()
    };
    let segments_before = logs(&b);
    assert!(segments_before > 3, "{segments_before} segments");

    // Inside a batch: the start moves there; the segments wholly below go at once.
    assert_eq!(delete_records(&mut raw, "dr", &[(0, 7)]).await, vec![(0, 7, 0)]);
    assert!(logs(&b) < segments_before, "segments below the new start are removed");
    assert_eq!(earliest(&mut raw, "dr").await, 7);
    let r = raw.call(&fetch_req("dr", 0, 6, 0, 1), 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (-1, -1, -1)
    );
    let r = raw.call(&fetch_req("dr", 0, 7, 0, 1), 12).await;
    let got = decode_records(r.responses[0].partitions[0].records.as_ref().unwrap());
    assert!(got.iter().any(|(o, ..)| *o == 7), "reads from the new start");
    assert_eq!(r.responses[0].partitions[0].log_start_offset, 7);
    // Durable before the answer: Kafka's checkpoint file already holds it.
    let cp = std::fs::read_to_string(b.data_dir().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(cp, "0\n1\ndr 0 7\n");

    // Below the start: nothing changes; past the high watermark: out of range; unknown
    // partitions and internal topics are refused; -1 is the high watermark.
    assert_eq!(delete_records(&mut raw, "dr", &[(0, 5)]).await, vec![(0, 7, 0)]);
    let oor = ResponseError::OffsetOutOfRange.code();
    assert_eq!(delete_records(&mut raw, "dr", &[(0, 31)]).await, vec![(0, -1, oor)]);
    assert_eq!(delete_records(&mut raw, "dr", &[(0, -2)]).await, vec![(0, -1, oor)]);
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(delete_records(&mut raw, "dr", &[(3, 1)]).await, vec![(3, -1, unknown)]);
    let _ = raw
        .call(
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            3,
        )
        .await;
    let internal = delete_records(&mut raw, "__consumer_offsets", &[(0, 0)]).await;
    assert_eq!(internal, vec![(0, -1, ResponseError::InvalidTopicException.code())]);

    // Survives a restart (the start lies inside the first remaining segment).
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(earliest(&mut raw, "dr").await, 7);
    assert_eq!(delete_records(&mut raw, "dr", &[(0, -1)]).await, vec![(0, 30, 0)]);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(earliest(&mut raw, "dr").await, 30);
    let (err, base) = produce(&mut raw, "dr", 0, batch(1, now_ms(), Compression::None)).await;
    assert_eq!((err, base), (0, 30), "offsets carry on");
}

#[tokio::test]
async fn describe_log_dirs_reports_the_data_dir_and_real_sizes() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "ld", 2, &[]).await;
    let records = batch(5, now_ms(), Compression::None);
    let (err, _) = produce(&mut raw, "ld", 0, records.clone()).await;
    assert_eq!(err, 0);
    let dir = std::path::absolute(b.data_dir()).unwrap();

    let mut req = DescribeLogDirsRequest::default();
    req.topics = None;
    let r = raw.call(&req, 4).await;
    assert_eq!(r.error_code, 0);
    let [d] = &r.results[..] else {
        panic!("one log dir: {r:?}")
    };
    assert_eq!(d.log_dir.as_str(), dir.to_str().unwrap());
    assert!(
        d.total_bytes > 0 && (0..=d.total_bytes).contains(&d.usable_bytes),
        "{d:?}"
    );
    let t = d
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == "ld")
        .expect("topic listed");
    let sizes: Vec<(i32, i64)> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.partition_size))
        .collect();
    assert_eq!(sizes, vec![(0, records.len() as i64), (1, 0)]);
    assert!(t.partitions.iter().all(|p| p.offset_lag == 0 && !p.is_future_key));

    // Listed partitions only; what this broker does not host is left out. v1 has no space.
    let mut wanted = describe_log_dirs_request::DescribableLogDirTopic::default();
    wanted.topic = topic("ld");
    wanted.partitions = vec![1, 7];
    let mut absent = describe_log_dirs_request::DescribableLogDirTopic::default();
    absent.topic = topic("nope");
    absent.partitions = vec![0];
    req.topics = Some(vec![wanted, absent]);
    let r = raw.call(&req, 1).await;
    let d = &r.results[0];
    assert_eq!(d.topics.len(), 1);
    assert_eq!(d.topics[0].name.0.as_str(), "ld");
    let listed: Vec<i32> = d.topics[0].partitions.iter().map(|p| p.partition_index).collect();
    assert_eq!(listed, vec![1]);
}

#[tokio::test]
async fn elections_and_reassignments_are_never_needed_on_one_broker() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "el", 2, &[]).await;
    let node = b.broker().node_id();
    let tps = |topic_: &str, parts: &[i32]| {
        let mut t = elect_leaders_request::TopicPartitions::default();
        t.topic = topic(topic_);
        t.partitions = parts.to_vec();
        t
    };
    let results = |r: &ElectLeadersResponse| -> Vec<(String, i32, i16, Option<String>)> {
        r.replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result.iter().map(|p| {
                    (
                        t.topic.0.to_string(),
                        p.partition_id,
                        p.error_code,
                        p.error_message.as_ref().map(|m| m.to_string()),
                    )
                })
            })
            .collect()
    };
    for kind in [0, 1] {
        let mut req = ElectLeadersRequest::default();
        req.election_type = kind;
        req.topic_partitions = Some(vec![tps("el", &[0, 5]), tps("nope", &[0])]);
        let r = raw.call(&req, 2).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(
            results(&r),
            vec![
                (
                    "el".into(),
                    0,
                    ResponseError::ElectionNotNeeded.code(),
                    Some("Leader election not needed for topic partition.".into())
                ),
                ("el".into(), 5, 3, Some("No such partition as el-5".into())),
                ("nope".into(), 0, 3, Some("No such topic as nope".into())),
            ]
        );
        // All partitions: the not-needed ones are left out, each topic listed.
        req.topic_partitions = None;
        let r = raw.call(&req, 2).await;
        assert!(r.replica_election_results.iter().any(|t| t.topic.0.as_str() == "el"));
        assert!(results(&r).is_empty());
    }
    let mut req = ElectLeadersRequest::default();
    req.election_type = 7;
    req.topic_partitions = Some(vec![tps("el", &[0])]);
    let r = raw.call(&req, 1).await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    assert_eq!(
        results(&r),
        vec![("el".into(), 0, 42, Some("Unknown election type 7".into()))]
    );

    // Nothing is ever reassigning.
    let mut list = ListPartitionReassignmentsRequest::default();
    list.topics = None;
    let r = raw.call(&list, 0).await;
    assert_eq!((r.error_code, r.topics.len()), (0, 0));

    let target = |p: i32, replicas: Option<Vec<i32>>| {
        let mut rp = alter_partition_reassignments_request::ReassignablePartition::default();
        rp.partition_index = p;
        rp.replicas = replicas.map(|v| v.into_iter().map(BrokerId).collect());
        rp
    };
    let mut t = alter_partition_reassignments_request::ReassignableTopic::default();
    t.name = topic("el");
    t.partitions = vec![
        target(0, Some(vec![node])),
        target(1, None),
        target(0, Some(vec![])),
        target(0, Some(vec![node, node])),
        target(0, Some(vec![node, 9])),
        target(4, Some(vec![node])),
    ];
    let mut u = alter_partition_reassignments_request::ReassignableTopic::default();
    u.name = topic("nope");
    u.partitions = vec![target(0, Some(vec![node]))];
    let mut req = AlterPartitionReassignmentsRequest::default();
    req.topics = vec![t, u];
    req.timeout_ms = 30_000;
    let r = raw.call(&req, 0).await;
    let got: Vec<(i32, i16, Option<String>)> = r
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    p.partition_index,
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                )
            })
        })
        .collect();
    let bad = ResponseError::InvalidReplicaAssignment.code();
    assert_eq!(
        got,
        vec![
            (0, 0, None),
            (1, ResponseError::NoReassignmentInProgress.code(), None),
            (
                0,
                bad,
                Some("The manual partition assignment includes an empty replica list.".into())
            ),
            (
                0,
                bad,
                Some(format!(
                    "The manual partition assignment includes the broker {node} more than once."
                ))
            ),
            (
                0,
                bad,
                Some("The manual partition assignment includes broker 9, but no such broker is registered.".into())
            ),
            (4, 3, Some("Unable to find partition el:4.".into())),
            (0, 3, Some("Unable to find a topic named nope.".into())),
        ]
    );
}

#[tokio::test]
async fn describe_topic_partitions_pages_with_a_cursor() {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "dtp-a", 3, &[]).await;
    create_topic(&mut raw, "dtp-b", 2, &[]).await;
    let req = |names: &[&str], limit: i32, cursor: Option<(&str, i32)>| {
        let mut r = DescribeTopicPartitionsRequest::default();
        r.topics = names
            .iter()
            .map(|n| TopicRequest::default().with_name(topic(n)))
            .collect();
        r.response_partition_limit = limit;
        r.cursor = cursor.map(|(t, p)| Cursor::default().with_topic_name(topic(t)).with_partition_index(p));
        r
    };
    let page = |r: &DescribeTopicPartitionsResponse| -> Vec<(String, i16, Vec<i32>)> {
        r.topics
            .iter()
            .map(|t| {
                let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
                (
                    name,
                    t.error_code,
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect()
    };
    // Two partitions per page: a's 0-1, then a's 2 and b's 0, then b's 1.
    let r = raw.call(&req(&["dtp-b", "dtp-a", "zz-missing"], 2, None), 0).await;
    assert_eq!(page(&r), vec![("dtp-a".into(), 0, vec![0, 1])]);
    let c = r.next_cursor.unwrap();
    assert_eq!((c.topic_name.0.as_str(), c.partition_index), ("dtp-a", 2));
    let r = raw
        .call(&req(&["dtp-b", "dtp-a", "zz-missing"], 2, Some(("dtp-a", 2))), 0)
        .await;
    assert_eq!(
        page(&r),
        vec![("dtp-a".into(), 0, vec![2]), ("dtp-b".into(), 0, vec![0])]
    );
    let r = raw
        .call(&req(&["dtp-b", "dtp-a", "zz-missing"], 2, Some(("dtp-b", 1))), 0)
        .await;
    assert_eq!(
        page(&r),
        vec![
            ("dtp-b".into(), 0, vec![1]),
            (
                "zz-missing".into(),
                ResponseError::UnknownTopicOrPartition.code(),
                vec![]
            )
        ]
    );
    assert!(r.next_cursor.is_none());
    let t = &r.topics[0];
    assert_eq!(t.topic_authorized_operations, 3576);
    assert_eq!(t.partitions[0].eligible_leader_replicas, Some(vec![]));
    // All topics (the internal ones are listed when they exist), and a cursor topic not asked for.
    let r = raw.call(&req(&[], 100, None), 0).await;
    assert!(page(&r).iter().any(|t| t.0 == "dtp-b" && t.2.len() == 2));
    let r = raw.call(&req(&["dtp-a"], 100, Some(("dtp-b", 0))), 0).await;
    assert_eq!(
        page(&r),
        vec![("dtp-a".into(), ResponseError::InvalidRequest.code(), vec![])]
    );
    b.stop().await;
}

#[tokio::test]
async fn alter_replica_log_dirs_offset_for_leader_epoch_and_list_config_resources() {
    use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "epochs", 1, &[]).await;
    let (err, _) = produce(&mut raw, "epochs", 0, batch(5, now_ms(), Compression::None)).await;
    assert_eq!(err, 0);

    // AlterReplicaLogDirs: the one log dir, by its absolute path.
    let dir = std::path::absolute(b.data_dir()).unwrap().display().to_string();
    let mut req = AlterReplicaLogDirsRequest::default();
    for (path, topic_name, p) in [
        (dir.as_str(), "epochs", 0),
        (dir.as_str(), "nope", 0),
        ("/elsewhere", "epochs", 1),
    ] {
        let t = AlterReplicaLogDirTopic::default()
            .with_name(topic(topic_name))
            .with_partitions(vec![p]);
        req.dirs.push(
            AlterReplicaLogDir::default()
                .with_path(StrBytes::from_string(path.into()))
                .with_topics(vec![t]),
        );
    }
    let r = raw.call(&req, 2).await;
    let mut codes: Vec<(String, i32, i16)> = r
        .results
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.topic_name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("epochs".into(), 0, 0),
            ("epochs".into(), 1, ResponseError::LogDirNotFound.code()),
            ("nope".into(), 0, ResponseError::UnknownTopicOrPartition.code())
        ]
    );

    // OffsetForLeaderEpoch: epoch 0 ends at the log end; others as Kafka's epoch cache.
    let ask = |current: i32, epoch: i32| {
        let p = OffsetForLeaderPartition::default()
            .with_partition(0)
            .with_current_leader_epoch(current)
            .with_leader_epoch(epoch);
        let mut r = OffsetForLeaderEpochRequest::default();
        r.replica_id = BrokerId(-1);
        r.topics = vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic("epochs"))
                .with_partitions(vec![p]),
        ];
        r
    };
    for (current, epoch, want) in [
        (-1, 0, (0, 0, 5)),
        (0, 0, (0, 0, 5)),
        (-1, 3, (0, -1, -1)),
        (-1, -1, (0, -1, -1)),
        (5, 0, (ResponseError::UnknownLeaderEpoch.code(), -1, -1)),
    ] {
        let r = raw.call(&ask(current, epoch), 4).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.leader_epoch, p.end_offset),
            want,
            "current {current} epoch {epoch}"
        );
    }

    // ListConfigResources v1: this broker's logger and broker resources, then every topic.
    let r = raw.call(&ListConfigResourcesRequest::default(), 1).await;
    let listed: Vec<(String, i8)> = r
        .config_resources
        .iter()
        .map(|c| (c.resource_name.to_string(), c.resource_type))
        .collect();
    assert_eq!(listed[..2], [("0".to_string(), 8), ("0".to_string(), 4)]);
    assert!(listed.contains(&("epochs".to_string(), 2)));
    let r = raw
        .call(&ListConfigResourcesRequest::default().with_resource_types(vec![64]), 1)
        .await;
    assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
    b.stop().await;
}

#[tokio::test]
async fn describe_quorum_reports_this_broker_as_the_single_voter() {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let mut b = TestBroker::start().await;
    let ask = |name: &str, partition: i32| {
        let t = TopicData::default()
            .with_topic_name(topic(name))
            .with_partitions(vec![PartitionData::default().with_partition_index(partition)]);
        DescribeQuorumRequest::default().with_topics(vec![t])
    };
    let state = |r: &DescribeQuorumResponse| {
        let p = &r.topics[0].partitions[0];
        (
            p.error_code,
            p.leader_id.0,
            p.leader_epoch,
            p.high_watermark,
            p.current_voters.len(),
        )
    };
    let mut raw = Raw::connect(b.addr).await;
    let r = raw.call(&ask("__cluster_metadata", 0), 2).await;
    let (code, leader, epoch, hw, voters) = state(&r);
    assert_eq!((code, leader, voters), (0, 0, 1));
    assert_eq!(r.nodes[0].listeners[0].port, b.addr.port());
    create_topic(&mut raw, "q", 1, &[]).await;
    let r = raw.call(&ask("__cluster_metadata", 0), 2).await;
    assert_eq!(state(&r).3, hw + 1, "a topic creation is one metadata change");
    let r = raw.call(&ask("other", 0), 2).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    // A restart is a new election of the single voter: the epoch moves, the offset stays.
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let r = raw.call(&ask("__cluster_metadata", 0), 2).await;
    assert_eq!((state(&r).2, state(&r).3), (epoch + 1, hw + 1));
    b.stop().await;
}

#[tokio::test]
async fn client_quotas_are_validated_stored_and_described() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let entry = |entity: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]| {
        EntryData::default()
            .with_entity(
                entity
                    .iter()
                    .map(|(t, n)| EntityData::default().with_entity_type(s(t)).with_entity_name(n.map(s)))
                    .collect(),
            )
            .with_ops(
                ops.iter()
                    .map(|(k, v, r)| OpData::default().with_key(s(k)).with_value(*v).with_remove(*r))
                    .collect(),
            )
    };
    let mut req = AlterClientQuotasRequest::default();
    req.entries = vec![
        entry(&[("user", Some("alice"))], &[("producer_byte_rate", 1024.0, false)]),
        entry(
            &[("user", None), ("client-id", Some("app"))],
            &[("request_percentage", 50.0, false)],
        ),
        entry(&[("user", Some("bob"))], &[("producer_byte_rate", 1.5, false)]),
        entry(
            &[("ip", Some("10.0.0.1")), ("user", Some("x"))],
            &[("connection_creation_rate", 3.0, false)],
        ),
        entry(
            &[("user", Some("carol"))],
            &[("consumer_byte_rate", 1.0, false), ("consumer_byte_rate", 2.0, false)],
        ),
    ];
    let r = raw.call(&req, 1).await;
    let got: BTreeMap<String, (i16, Option<String>)> = r
        .entries
        .iter()
        .map(|e| {
            let name = e
                .entity
                .iter()
                .map(|c| format!("{}={:?}", c.entity_type, c.entity_name.as_ref().map(|n| n.to_string())))
                .collect::<Vec<_>>()
                .join(",");
            (name, (e.error_code, e.error_message.as_ref().map(|m| m.to_string())))
        })
        .collect();
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(got["user=Some(\"alice\")"], (0, None));
    assert_eq!(got["client-id=Some(\"app\"),user=None"], (0, None));
    assert_eq!(
        got["user=Some(\"bob\")"],
        (invalid, Some("producer_byte_rate cannot be a fractional value.".into()))
    );
    assert_eq!(
        got["ip=Some(\"10.0.0.1\"),user=Some(\"x\")"].1.as_deref(),
        Some("Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId")
    );
    assert_eq!(
        got["user=Some(\"carol\")"],
        (
            invalid,
            Some("Ignoring duplicate entity ClientQuotaEntity(entries={user=carol})".into())
        )
    );

    let describe = |components: Vec<ComponentData>, strict: bool| {
        let mut d = DescribeClientQuotasRequest::default();
        d.components = components;
        d.strict = strict;
        d
    };
    let comp = |t: &str, m: i8, name: Option<&str>| {
        let mut c = ComponentData::default().with_entity_type(s(t)).with_match_type(m);
        c._match = name.map(s);
        c
    };
    // Every user entity (SPECIFIED matches the default too), then exactly alice, then strict.
    let r = raw.call(&describe(vec![comp("user", 2, None)], false), 1).await;
    assert_eq!(r.entries.as_ref().unwrap().len(), 2);
    let r = raw
        .call(&describe(vec![comp("user", 0, Some("alice"))], false), 1)
        .await;
    let e = &r.entries.unwrap()[0];
    assert_eq!(
        (e.values[0].key.as_str(), e.values[0].value),
        ("producer_byte_rate", 1024.0)
    );
    let r = raw.call(&describe(vec![comp("user", 1, None)], true), 1).await;
    assert!(
        r.entries.unwrap().is_empty(),
        "strict: the default user alone has no quota"
    );
    let r = raw.call(&describe(vec![comp("group", 2, None)], false), 1).await;
    assert_eq!(
        (r.error_code, r.error_message.as_deref()),
        (
            ResponseError::UnsupportedVersion.code(),
            Some("Unsupported entity type group")
        )
    );
    // Stored across a restart; removal.
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let r = raw.call(&describe(vec![], false), 1).await;
    assert_eq!(r.entries.unwrap().len(), 2);
    let mut req = AlterClientQuotasRequest::default();
    req.entries = vec![entry(&[("user", Some("alice"))], &[("producer_byte_rate", 0.0, true)])];
    assert_eq!(raw.call(&req, 1).await.entries[0].error_code, 0);
    let r = raw
        .call(&describe(vec![comp("user", 0, Some("alice"))], false), 1)
        .await;
    assert!(r.entries.unwrap().is_empty());
    b.stop().await;
}

#[tokio::test]
async fn a_single_broker_has_no_other_registration_to_remove() {
    use kafka_protocol::messages::{BrokerId, UnregisterBrokerRequest, UnregisterBrokerResponse};
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let node = b.broker().node_id();
    let r: UnregisterBrokerResponse = raw
        .call(
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(node + 7)),
            0,
        )
        .await;
    let message = format!("Broker ID {} is not currently registered", node + 7);
    assert_eq!(
        (r.error_code, r.error_message.as_deref()),
        (102, Some(message.as_str()))
    );
    // Its own registration is the cluster's only broker: refused.
    let r: UnregisterBrokerResponse = raw
        .call(&UnregisterBrokerRequest::default().with_broker_id(BrokerId(node)), 0)
        .await;
    assert_eq!(r.error_code, 42, "{r:?}");
}
