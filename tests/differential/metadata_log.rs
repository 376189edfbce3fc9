//! brokk reads the reference Kafka's own metadata log: the records of
//! `<log.dirs>/__cluster_metadata-0` (and `bootstrap.checkpoint`), decoded by
//! `brokk::metadata` and applied to its image, give the topics, partitions, leaders, ISR,
//! leader epochs, topic configs, brokers and finalized features that Kafka itself answers
//! with (Metadata, DescribeConfigs, DescribeCluster, ApiVersions). Each comparison is a
//! pair in the count; Kafka's records are written before its answers (a record is
//! committed, then applied), so the log read after an answer holds it.

use brokk::metadata::image::TOPIC_RESOURCE;
use brokk::metadata::log_reader::{read_file, read_log_dir};
use brokk::metadata::log_writer::{snapshot_file_name, write_snapshot};
use brokk::metadata::{MetadataImage, MetadataRecord};
use kafka_protocol::messages::*;

use super::admin::{create_partitions, describe_configs, incremental};
use super::pair::Pair;
use super::reference;
use super::topics::{creatable, create, metadata};

/// The image of everything in the reference Kafka's metadata log now.
fn kafka_image() -> MetadataImage {
    let dir = reference::kafka().expect("reference Kafka").log_dir();
    let mut image = MetadataImage::default();
    for r in read_log_dir(&dir.join("__cluster_metadata-0")).expect("Kafka's metadata log reads") {
        image
            .apply(r.record)
            .unwrap_or_else(|e| panic!("Kafka's record at offset {} applies: {e}", r.offset));
    }
    image
}

/// (name, id, [(partition, leader, leader epoch, replicas, isr)]) as Metadata v12 gives it.
type TopicShape = (String, String, Vec<(i32, i32, i32, Vec<i32>, Vec<i32>)>);

fn from_metadata(r: &MetadataResponse) -> Vec<TopicShape> {
    let mut v: Vec<TopicShape> = r
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .map(|t| {
            let mut parts: Vec<_> = t
                .partitions
                .iter()
                .map(|p| {
                    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
                    (
                        p.partition_index,
                        p.leader_id.0,
                        p.leader_epoch,
                        ids(&p.replica_nodes),
                        ids(&p.isr_nodes),
                    )
                })
                .collect();
            parts.sort();
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.topic_id.to_string(),
                parts,
            )
        })
        .collect();
    v.sort();
    v
}

fn from_image(image: &MetadataImage, names: &[&str]) -> Vec<TopicShape> {
    let mut v: Vec<TopicShape> = names
        .iter()
        .filter_map(|n| image.topic(n))
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|(i, p)| (*i, p.leader, p.leader_epoch, p.replicas.clone(), p.isr.clone()))
                .collect();
            (t.name.clone(), t.id.to_string(), parts)
        })
        .collect();
    v.sort();
    v
}

pub async fn kafka_metadata_log(p: &mut Pair) {
    let (a, b, gone) = (p.topic("a"), p.topic("b"), p.topic("gone"));
    let created = p
        .kafka
        .call(
            &create(
                vec![
                    creatable(
                        &a,
                        3,
                        1,
                        &[("retention.ms", Some("3600000")), ("cleanup.policy", Some("compact"))],
                    ),
                    creatable(&b, 1, 1, &[]),
                    creatable(&gone, 2, 1, &[]),
                ],
                false,
            ),
            7,
        )
        .await;
    assert!(
        created.topics.len() == 3 && created.topics.iter().all(|t| t.error_code == 0),
        "{created:?}"
    );
    p.await_leaders(&[&a, &b, &gone]).await;
    let grown = p.kafka.call(&create_partitions(&b, 3), 3).await;
    assert!(
        grown.results.len() == 1 && grown.results[0].error_code == 0,
        "{grown:?}"
    );
    // DELETE (1) one of a's configs, SET (0) another.
    let altered = p
        .kafka
        .call(
            &incremental(
                2,
                &a,
                &[("retention.ms", 1, None), ("segment.ms", 0, Some("600000"))],
                false,
            ),
            1,
        )
        .await;
    assert!(
        altered.responses.len() == 1 && altered.responses[0].error_code == 0,
        "{altered:?}"
    );
    let deleted = p
        .kafka
        .call(
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![super::common::topic(&gone)])
                .with_timeout_ms(10_000),
            5,
        )
        .await;
    assert!(
        deleted.responses.len() == 1 && deleted.responses.iter().all(|r| r.error_code == 0),
        "{deleted:?}"
    );
    p.await_leaders(&[&a, &b]).await;
    // The broker applies the controller's records on its own schedule; no client event
    // says when a deleted topic is gone from its answers: poll, bounded.
    for i in 0.. {
        let md = p.kafka.call(&metadata(&[&gone], false), 12).await;
        if md.topics.iter().all(|t| t.error_code == 3) {
            break;
        }
        assert!(i < 400, "Kafka still lists {gone} 10 s after deleting it");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    // Topics, ids, partitions, leaders, leader epochs, replicas and ISR.
    let md = p.kafka.call(&metadata(&[&a, &b, &gone], false), 12).await;
    let image = kafka_image();
    p.check(
        "topics from Kafka's metadata log",
        &from_metadata(&md),
        &from_image(&image, &[&a, &b, &gone]),
    );

    // The topic's configs set explicitly (source TOPIC_CONFIG, 1).
    let dc = p.kafka.call(&describe_configs(2, &a, None, false), 4).await;
    let mut overrides: Vec<(String, String)> = dc.results[0]
        .configs
        .iter()
        .filter(|c| c.config_source == 1)
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    overrides.sort();
    let in_image: Vec<(String, String)> = image
        .configs
        .get(&(TOPIC_RESOURCE, a.clone()))
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    p.check("topic configs from Kafka's metadata log", &overrides, &in_image);

    // Brokers: id, host, port, rack of the broker listener, and not fenced.
    let cluster = p.kafka.call(&DescribeClusterRequest::default(), 1).await;
    let brokers: Vec<(i32, String, i32, Option<String>)> = cluster
        .brokers
        .iter()
        .map(|b| {
            (
                b.broker_id.0,
                b.host.to_string(),
                b.port,
                b.rack.as_ref().map(|r| r.to_string()),
            )
        })
        .collect();
    let registered: Vec<(i32, String, i32, Option<String>)> = image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let e = b.endpoint("PLAINTEXT")?;
            Some((b.id, e.host.clone(), i32::from(e.port), b.rack.clone()))
        })
        .collect();
    p.check("brokers from Kafka's metadata log", &brokers, &registered);

    // Finalized features, as ApiVersions v3 lists them, from the log and from
    // bootstrap.checkpoint (what `kafka-storage format` wrote).
    let av = p
        .kafka
        .call(
            &ApiVersionsRequest::default()
                .with_client_software_name(super::topics::s("brokk-differential"))
                .with_client_software_version(super::topics::s("1")),
            3,
        )
        .await;
    let mut finalized: Vec<(String, i16)> = av
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect();
    finalized.sort();
    let features: Vec<(String, i16)> = image.features.iter().map(|(k, v)| (k.clone(), *v)).collect();
    p.check("finalized features from Kafka's metadata log", &finalized, &features);
    let dir = reference::kafka().expect("reference Kafka").log_dir();
    let mut bootstrap = MetadataImage::default();
    for r in read_file(&dir.join("bootstrap.checkpoint")).expect("bootstrap.checkpoint reads") {
        assert!(matches!(r.record, MetadataRecord::FeatureLevel(_)), "{r:?}");
        bootstrap.apply(r.record).expect("applies");
    }
    p.check(
        "finalized features from bootstrap.checkpoint",
        &image.features,
        &bootstrap.features,
    );
}

/// A snapshot brokk writes of the image it read from Kafka's log is read by Kafka's own
/// `kafka-dump-log --cluster-metadata-decoder` (DumpLogSegments): every record, in order,
/// as the JSON Kafka's decoder prints for its record type.
pub async fn snapshot_read_by_kafka(p: &mut Pair) {
    let image = kafka_image();
    let records = image.records();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(snapshot_file_name(records.len() as i64, 1));
    write_snapshot(&file, &records, 1, 1_700_000_000_000).expect("snapshot written");
    let home = reference::home().expect("reference Kafka");
    let out = std::process::Command::new(home.join("bin/kafka-run-class.sh"))
        .args(["kafka.tools.DumpLogSegments", "--cluster-metadata-decoder", "--files"])
        .arg(&file)
        .output()
        .expect("kafka-run-class.sh runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "DumpLogSegments failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each record's line: `| offset: N ... payload: {"type":"TOPIC_RECORD",...}`; the control
    // records print their own names (SnapshotHeader, SnapshotFooter).
    let decoded: Vec<String> = text
        .lines()
        .filter_map(|l| l.split("payload: {\"type\":\"").nth(1))
        .filter_map(|t| t.split('"').next())
        .map(str::to_string)
        .collect();
    let written: Vec<String> = records.iter().map(|r| kafka_type_name(r).to_string()).collect();
    p.check("record types Kafka decodes from brokk's snapshot", &decoded, &written);
    let framed = ["SnapshotHeader", "SnapshotFooter"].map(|c| text.lines().filter(|l| l.contains(c)).count());
    p.check("snapshot header and footer Kafka finds", &framed, &[1, 1]);
}

/// Kafka's `MetadataRecordType` name of a record, as DumpLogSegments prints it.
fn kafka_type_name(r: &MetadataRecord) -> &'static str {
    match r {
        MetadataRecord::RegisterBroker(_) => "REGISTER_BROKER_RECORD",
        MetadataRecord::UnregisterBroker(_) => "UNREGISTER_BROKER_RECORD",
        MetadataRecord::Topic(_) => "TOPIC_RECORD",
        MetadataRecord::Partition(_) => "PARTITION_RECORD",
        MetadataRecord::Config(_) => "CONFIG_RECORD",
        MetadataRecord::PartitionChange(_) => "PARTITION_CHANGE_RECORD",
        MetadataRecord::FenceBroker(_) => "FENCE_BROKER_RECORD",
        MetadataRecord::UnfenceBroker(_) => "UNFENCE_BROKER_RECORD",
        MetadataRecord::RemoveTopic(_) => "REMOVE_TOPIC_RECORD",
        MetadataRecord::FeatureLevel(_) => "FEATURE_LEVEL_RECORD",
        MetadataRecord::ProducerIds(_) => "PRODUCER_IDS_RECORD",
        MetadataRecord::BrokerRegistrationChange(_) => "BROKER_REGISTRATION_CHANGE_RECORD",
        MetadataRecord::NoOp(_) => "NO_OP_RECORD",
        MetadataRecord::BeginTransaction(_) => "BEGIN_TRANSACTION_RECORD",
        MetadataRecord::EndTransaction(_) => "END_TRANSACTION_RECORD",
        MetadataRecord::AbortTransaction(_) => "ABORT_TRANSACTION_RECORD",
        MetadataRecord::RegisterController(_) => "REGISTER_CONTROLLER_RECORD",
        MetadataRecord::ClearElr(_) => "CLEAR_ELR_RECORD",
        MetadataRecord::Other { api_key, .. } => match api_key {
            10 => "DELEGATION_TOKEN_RECORD",
            11 => "USER_SCRAM_CREDENTIAL_RECORD",
            14 => "CLIENT_QUOTA_RECORD",
            18 => "ACCESS_CONTROL_ENTRY_RECORD",
            19 => "REMOVE_ACCESS_CONTROL_ENTRY_RECORD",
            21 => "ZK_MIGRATION_STATE_RECORD",
            22 => "REMOVE_USER_SCRAM_CREDENTIAL_RECORD",
            26 => "REMOVE_DELEGATION_TOKEN_RECORD",
            _ => "UNKNOWN",
        },
    }
}
