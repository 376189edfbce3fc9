//! Produce, Fetch, ListOffsets, DeleteRecords and OffsetForLeaderEpoch on one topic, success
//! and error paths. Every batch is built once and sent to both brokers, so stored bytes,
//! offsets and timestamps can be compared exactly.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use super::common::{batch, fetch_req, produce_req, topic};
use super::normalise as n;
use super::pair::Pair;
use super::topics::{creatable, create, created};

const TS0: i64 = 1_700_000_000_000;

pub(super) fn list_offsets(name: &str, partitions: &[(i32, i64)], isolation: i8) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![
            ListOffsetsTopic::default().with_name(topic(name)).with_partitions(
                partitions
                    .iter()
                    .map(|(p, ts)| {
                        ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_timestamp(*ts)
                            .with_current_leader_epoch(-1)
                    })
                    .collect(),
            ),
        ])
}

pub(super) fn delete_records(name: &str, partition: i32, offset: i64) -> DeleteRecordsRequest {
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic(name))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ]),
        ])
}

pub(super) fn epochs(name: &str, partition: i32, epoch: i32, current: i32) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic(name))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_leader_epoch(epoch)
                        .with_current_leader_epoch(current),
                ]),
        ])
}

/// A copy of `b` with one byte of its last record flipped and the CRC left as it was.
fn bad_crc(b: &Bytes) -> Bytes {
    let mut v = b.to_vec();
    let last = v.len() - 1;
    v[last] ^= 0x55;
    Bytes::from(v)
}

pub async fn produce_fetch_offsets(p: &mut Pair) {
    let t = p.topic("r");
    created(p, &t, 2).await;
    let first = batch(3, TS0, Compression::None);
    let second = batch(2, TS0 + 100, Compression::Gzip);
    for (what, req, v) in [
        ("Produce", produce_req(&t, 0, first.clone(), -1), 9),
        ("Produce of a gzip batch", produce_req(&t, 0, second.clone(), -1), 9),
        ("Produce at v3", produce_req(&t, 1, first.clone(), 1), 3),
        (
            "Produce to an unknown partition",
            produce_req(&t, 7, first.clone(), -1),
            9,
        ),
        (
            "Produce to an unknown topic",
            produce_req(&p.topic("nope"), 0, first.clone(), -1),
            9,
        ),
        ("Produce with a bad CRC", produce_req(&t, 0, bad_crc(&first), -1), 9),
        ("Produce of no batch", produce_req(&t, 0, Bytes::new(), -1), 9),
        ("Produce with acks=2", produce_req(&t, 0, first.clone(), 2), 9),
    ] {
        p.same(what, &req, v, n::produce).await;
    }
    // min.insync.replicas above the replication factor: Kafka 4 counts it at most the
    // replica count (`Partition.effectiveMinIsr`), so acks=all is accepted.
    let strict = p.topic("strict");
    p.same(
        "CreateTopics with min.insync.replicas=2",
        &super::topics::create(
            vec![super::topics::creatable(
                &strict,
                1,
                1,
                &[("min.insync.replicas", Some("2"))],
            )],
            false,
        ),
        7,
        n::create_topics,
    )
    .await;
    p.await_leaders(&[&strict]).await;
    p.same(
        "Produce acks=all with min.insync.replicas above the replication factor",
        &produce_req(&strict, 0, first.clone(), -1),
        9,
        n::produce,
    )
    .await;
    for (what, req, v) in [
        ("Fetch from 0", fetch_req(&t, 0, 0, 0, 0), 12),
        ("Fetch from the middle of a batch", fetch_req(&t, 0, 1, 0, 0), 12),
        ("Fetch from the log end", fetch_req(&t, 0, 5, 0, 0), 12),
        ("Fetch past the log end", fetch_req(&t, 0, 100, 0, 0), 12),
        ("Fetch below the log start", fetch_req(&t, 0, -5, 0, 0), 12),
        ("Fetch of an unknown partition", fetch_req(&t, 9, 0, 0, 0), 12),
        ("Fetch of an unknown topic", fetch_req(&p.topic("nope"), 0, 0, 0, 0), 12),
        ("Fetch at v4", fetch_req(&t, 1, 0, 0, 0), 4),
        (
            "Fetch read_committed",
            fetch_req(&t, 0, 0, 0, 0).with_isolation_level(1),
            12,
        ),
    ] {
        p.same(what, &req, v, n::fetch).await;
    }
    for (what, req, v) in [
        (
            "ListOffsets earliest, latest, max timestamp",
            list_offsets(&t, &[(0, -2), (1, -1)], 0),
            7,
        ),
        ("ListOffsets max timestamp", list_offsets(&t, &[(0, -3)], 0), 7),
        ("ListOffsets by timestamp", list_offsets(&t, &[(0, TS0 + 1)], 0), 7),
        (
            "ListOffsets by a timestamp in the second batch",
            list_offsets(&t, &[(0, TS0 + 50)], 0),
            7,
        ),
        (
            "ListOffsets by a timestamp past the end",
            list_offsets(&t, &[(0, TS0 + 10_000)], 0),
            7,
        ),
        (
            "ListOffsets of an unknown partition",
            list_offsets(&t, &[(5, -1)], 0),
            7,
        ),
        (
            "ListOffsets of an unknown topic",
            list_offsets(&p.topic("nope"), &[(0, -1)], 0),
            7,
        ),
        ("ListOffsets at v1", list_offsets(&t, &[(0, -1)], 0), 1),
        ("ListOffsets earliest local", list_offsets(&t, &[(0, -4)], 0), 8),
        ("ListOffsets read_committed latest", list_offsets(&t, &[(0, -1)], 1), 10),
    ] {
        p.same(what, &req, v, n::list_offsets).await;
    }
    // The special timestamps below the versions that brought them: max timestamp (-3) v7,
    // earliest local (-4) v8, latest tiered (-5) v9; also for an unknown partition.
    for v in [1, 4, 6, 7, 8, 9] {
        for ts in [-3, -4, -5] {
            p.same(
                "ListOffsets of a special timestamp",
                &list_offsets(&t, &[(0, ts)], 0),
                v,
                n::list_offsets,
            )
            .await;
        }
        p.same(
            "ListOffsets of a special timestamp, unknown partition",
            &list_offsets(&t, &[(7, -3)], 0),
            v,
            n::list_offsets,
        )
        .await;
    }
    for (what, req, v) in [
        ("OffsetForLeaderEpoch of epoch 0", epochs(&t, 0, 0, -1), 4),
        ("OffsetForLeaderEpoch of a later epoch", epochs(&t, 0, 3, -1), 4),
        (
            "OffsetForLeaderEpoch with a newer current epoch",
            epochs(&t, 0, 0, 7),
            4,
        ),
        ("OffsetForLeaderEpoch of an unknown partition", epochs(&t, 4, 0, -1), 4),
    ] {
        p.same(what, &req, v, n::offset_for_leader_epoch).await;
    }
    for (what, req, v) in [
        ("DeleteRecords inside a batch", delete_records(&t, 0, 1), 2),
        ("DeleteRecords below the log start", delete_records(&t, 0, 0), 2),
        ("DeleteRecords past the high watermark", delete_records(&t, 0, 50), 2),
        ("DeleteRecords to the high watermark (-1)", delete_records(&t, 1, -1), 2),
        ("DeleteRecords of an unknown partition", delete_records(&t, 3, 0), 2),
    ] {
        p.same(what, &req, v, n::delete_records).await;
    }
    p.same(
        "ListOffsets earliest after DeleteRecords",
        &list_offsets(&t, &[(0, -2), (1, -2)], 0),
        7,
        n::list_offsets,
    )
    .await;
    p.same(
        "Fetch below the new log start",
        &fetch_req(&t, 0, 0, 0, 0),
        12,
        n::fetch,
    )
    .await;
}

/// Requests that name topics by id (Fetch v13+, Metadata v10+ by id): each broker gets its own
/// topic id.
pub async fn by_topic_id(p: &mut Pair) {
    let t = p.topic("ids");
    let (k, b) = p
        .same_each(
            "CreateTopics",
            |_| create(vec![creatable(&t, 1, 1, &[])], false),
            7,
            n::create_topics,
        )
        .await;
    let ids = [k.topics[0].topic_id, b.topics[0].topic_id];
    let id = |kafka: bool| ids[usize::from(!kafka)];
    p.await_leaders(&[&t]).await;
    p.same(
        "Produce",
        &produce_req(&t, 0, batch(3, TS0, Compression::None), -1),
        9,
        n::produce,
    )
    .await;
    let fetch_by_id = |kf: bool, offset: i64| {
        let mut r = fetch_req(&t, 0, offset, 0, 0);
        r.topics[0].topic_id = id(kf);
        r.topics[0].topic = Default::default();
        r
    };
    for v in [13, 16, 17] {
        p.same_each("Fetch by topic id", |kf| fetch_by_id(kf, 0), v, n::fetch)
            .await;
        p.same_each("Fetch by topic id past the end", |kf| fetch_by_id(kf, 50), v, n::fetch)
            .await;
    }
    let unknown = |_: bool| {
        let mut r = fetch_req(&t, 0, 0, 0, 0);
        r.topics[0].topic_id = uuid::Uuid::from_u128(7);
        r.topics[0].topic = Default::default();
        r
    };
    p.same_each("Fetch of an unknown topic id", unknown, 13, n::fetch).await;
    let md = |kf: bool| {
        MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default()
                .with_topic_id(id(kf))
                .with_name(None),
        ]))
    };
    p.same_each("Metadata by topic id", md, 12, n::metadata).await;
    let md_unknown = |_: bool| {
        MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default()
                .with_topic_id(uuid::Uuid::from_u128(7))
                .with_name(None),
        ]))
    };
    p.same_each("Metadata of an unknown topic id", md_unknown, 12, n::metadata)
        .await;
    // The Java client names a topic by id with an empty name, not a null one; an id beside
    // names makes Kafka ignore the names; v10-11 carry the field but may not use it.
    let md_topic = |name: Option<&str>, id: uuid::Uuid| {
        metadata_request::MetadataRequestTopic::default()
            .with_topic_id(id)
            .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
    };
    let zero = uuid::Uuid::nil();
    for v in [10, 11, 12, 13] {
        let empty_name = |kf: bool| MetadataRequest::default().with_topics(Some(vec![md_topic(Some(""), id(kf))]));
        p.same_each("Metadata by topic id, empty name", empty_name, v, n::metadata)
            .await;
        let mixed = |kf: bool| {
            MetadataRequest::default().with_topics(Some(vec![
                md_topic(Some(&t), zero),
                md_topic(Some(""), id(kf)),
                md_topic(Some("absent-name"), zero),
                md_topic(None, uuid::Uuid::from_u128(7)),
            ]))
        };
        p.same_each("Metadata by names and ids", mixed, v, n::metadata).await;
        let empty = |_: bool| MetadataRequest::default().with_topics(Some(vec![md_topic(Some(""), zero)]));
        p.same_each("Metadata of an empty name", empty, v, n::metadata).await;
        let null = |_: bool| MetadataRequest::default().with_topics(Some(vec![md_topic(None, zero)]));
        p.same_each("Metadata of a null name without an id", null, v, n::metadata)
            .await;
    }
}
