//! Leader epochs over TCP (KIP-101/320): +2 per broker start, stamped on appended batches,
//! kept in each partition's `leader-epoch-checkpoint`, and answered by Metadata, ListOffsets,
//! OffsetForLeaderEpoch and Fetch's epoch checks as Kafka answers them.

mod common;

use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

fn checkpoint(b: &TestBroker, t: &str) -> String {
    std::fs::read_to_string(b.data_dir().join(format!("{t}-0")).join("leader-epoch-checkpoint")).unwrap()
}

async fn metadata_epoch(raw: &mut Raw, t: &str) -> i32 {
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic(t))),
    ]);
    let r = raw.call(&req, 12).await;
    r.topics[0].partitions[0].leader_epoch
}

/// OffsetForLeaderEpoch v4: (error, epoch, end offset).
async fn end_of(raw: &mut Raw, t: &str, current: i32, epoch: i32) -> (i16, i32, i64) {
    let p = OffsetForLeaderPartition::default()
        .with_partition(0)
        .with_current_leader_epoch(current)
        .with_leader_epoch(epoch);
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![
        OffsetForLeaderTopic::default()
            .with_topic(topic(t))
            .with_partitions(vec![p]),
    ];
    let r = raw.call(&req, 4).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// ListOffsets v8: (error, offset, leader epoch).
async fn list(raw: &mut Raw, t: &str, timestamp: i64, current: i32) -> (i16, i64, i32) {
    let p = list_offsets_request::ListOffsetsPartition::default()
        .with_partition_index(0)
        .with_timestamp(timestamp)
        .with_current_leader_epoch(current);
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic(t))
            .with_partitions(vec![p]),
    ];
    let r = raw.call(&req, 8).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.leader_epoch)
}

/// Fetch at `version` (v13+ names the topic by its id) with the epoch fields set.
async fn fetch(raw: &mut Raw, t: &str, offset: i64, current: i32, last_fetched: i32, version: i16) -> FetchResponse {
    let mut req = fetch_req(t, 0, offset, 0, 0);
    if version >= 13 {
        let mut m = MetadataRequest::default();
        m.topics = Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic(t))),
        ]);
        req.topics[0].topic_id = raw.call(&m, 12).await.topics[0].topic_id;
    }
    req.topics[0].partitions[0].current_leader_epoch = current;
    req.topics[0].partitions[0].last_fetched_epoch = last_fetched;
    raw.call(&req, version).await
}

/// The partitionLeaderEpoch of every batch from offset 0, and the batches' base offsets.
async fn stamped_epochs(raw: &mut Raw, t: &str) -> Vec<(i64, i32)> {
    let r = fetch(raw, t, 0, -1, -1, 12).await;
    let records = r.responses[0].partitions[0].records.clone().unwrap();
    brokk::log::record::batch::iter_batches(&records)
        .map(|(_, h)| (h.base_offset(), h.partition_leader_epoch()))
        .collect()
}

#[tokio::test]
async fn epochs_move_by_two_per_start_and_are_answered_from_the_cache() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "le", 1, &[]).await;
    assert_eq!(metadata_epoch(&mut raw, "le").await, 0);
    assert_eq!(
        checkpoint(&b, "le"),
        "0\n1\n0 0\n",
        "a new partition leads at epoch 0 from offset 0"
    );
    let t0 = now_ms() - 60_000;
    assert_eq!(
        produce(&mut raw, "le", 0, batch(5, t0, Compression::None)).await,
        (0, 0)
    );

    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(metadata_epoch(&mut raw, "le").await, 2);
    assert_eq!(checkpoint(&b, "le"), "0\n2\n0 0\n2 5\n");
    assert_eq!(
        produce(&mut raw, "le", 0, batch(3, now_ms(), Compression::None)).await,
        (0, 5)
    );
    assert_eq!(stamped_epochs(&mut raw, "le").await, vec![(0, 0), (5, 2)]);

    // OffsetForLeaderEpoch: LeaderEpochFileCache.endOffsetFor, after the current epoch check.
    for (current, epoch, want) in [
        (2, 0, (0, 0, 5)),
        (-1, 1, (0, 0, 5)),
        (2, 2, (0, 2, 8)),
        (-1, 3, (0, -1, -1)),
        (-1, -1, (0, -1, -1)),
        (0, 0, (ResponseError::FencedLeaderEpoch.code(), -1, -1)),
        (4, 0, (ResponseError::UnknownLeaderEpoch.code(), -1, -1)),
    ] {
        assert_eq!(
            end_of(&mut raw, "le", current, epoch).await,
            want,
            "current {current} epoch {epoch}"
        );
    }

    // ListOffsets: latest carries the current epoch, the rest their offset's epoch.
    assert_eq!(list(&mut raw, "le", -2, 2).await, (0, 0, 0));
    assert_eq!(list(&mut raw, "le", -1, -1).await, (0, 8, 2));
    assert_eq!(list(&mut raw, "le", t0, -1).await, (0, 0, 0));
    assert_eq!(list(&mut raw, "le", -3, -1).await, (0, 7, 2));
    assert_eq!(list(&mut raw, "le", now_ms() + 60_000, -1).await, (0, -1, -1));
    assert_eq!(
        list(&mut raw, "le", -1, 0).await,
        (ResponseError::FencedLeaderEpoch.code(), -1, -1)
    );
    assert_eq!(
        list(&mut raw, "le", -1, 3).await,
        (ResponseError::UnknownLeaderEpoch.code(), -1, -1)
    );

    // Fetch: an old current epoch is fenced (v16+ says where the leader is), a newer one unknown.
    let r = fetch(&mut raw, "le", 0, 0, -1, 12).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::FencedLeaderEpoch.code()
    );
    let r = fetch(&mut raw, "le", 0, 0, -1, 16).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, ResponseError::FencedLeaderEpoch.code());
    assert_eq!((p.current_leader.leader_id.0, p.current_leader.leader_epoch), (0, 2));
    assert_eq!(r.node_endpoints.len(), 1);
    assert_eq!(r.node_endpoints[0].port, b.addr.port() as i32);
    let r = fetch(&mut raw, "le", 0, 3, -1, 16).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::UnknownLeaderEpoch.code()
    );
    assert!(r.node_endpoints.is_empty());

    // Fetch v12+ with the last fetched epoch: Kafka's diverging-epoch check.
    let r = fetch(&mut raw, "le", 5, 2, 0, 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(
        (p.error_code, p.diverging_epoch.epoch),
        (0, -1),
        "epoch 0 ended at 5: no divergence"
    );
    assert_eq!(decode_records(p.records.as_ref().unwrap()).len(), 3);
    let r = fetch(&mut raw, "le", 7, 2, 0, 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.diverging_epoch.epoch, p.diverging_epoch.end_offset), (0, 5));
    assert_eq!((p.error_code, p.high_watermark), (0, 8));
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
    let r = fetch(&mut raw, "le", 5, 2, 1, 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(
        (p.diverging_epoch.epoch, p.diverging_epoch.end_offset),
        (0, 5),
        "an epoch this log never had"
    );
    let r = fetch(&mut raw, "le", 5, -1, 7, 12).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );

    // A start without appends replaces the empty epoch; DeleteRecords trims the front.
    b.restart().await;
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(metadata_epoch(&mut raw, "le").await, 6);
    assert_eq!(checkpoint(&b, "le"), "0\n3\n0 0\n2 5\n6 8\n");
    let mut req = DeleteRecordsRequest::default();
    req.topics = vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(topic("le"))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(6),
            ]),
    ];
    req.timeout_ms = 5000;
    assert_eq!(raw.call(&req, 2).await.topics[0].partitions[0].error_code, 0);
    assert_eq!(checkpoint(&b, "le"), "0\n2\n2 6\n6 8\n");
    assert_eq!(list(&mut raw, "le", -2, 6).await, (0, 6, 2));
    assert_eq!(
        end_of(&mut raw, "le", 6, 0).await,
        (0, 0, 6),
        "below every entry: the first start"
    );
    b.stop().await;
}

#[tokio::test]
async fn a_lost_tail_shows_as_an_epoch_that_ends_early_and_a_lost_checkpoint_is_rebuilt() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "lt", 1, &[]).await;
    produce(&mut raw, "lt", 0, batch(5, now_ms(), Compression::None)).await;
    let log = b.data_dir().join("lt-0").join("00000000000000000000.log");
    b.stop().await;
    let epoch0_len = std::fs::metadata(&log).unwrap().len();
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    produce(&mut raw, "lt", 0, batch(3, now_ms(), Compression::None)).await;

    // A crash that loses the epoch-2 batch: the log ends at 5 again.
    b.crash_and_damage("lt", |log| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(log)
            .unwrap()
            .set_len(epoch0_len)
            .unwrap()
    })
    .await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(checkpoint(&b, "lt"), "0\n2\n0 0\n4 5\n");
    // A consumer that read offset 7 under epoch 2 learns the epoch ended at 5 (truncation).
    assert_eq!(end_of(&mut raw, "lt", 4, 2).await, (0, 0, 5));

    // Without its checkpoint, a partition's epochs come back from its batches, and it leads
    // at twice the broker's start count (this is start 4), above any epoch it had.
    produce(&mut raw, "lt", 0, batch(2, now_ms(), Compression::None)).await;
    b.stop().await;
    std::fs::remove_file(b.data_dir().join("lt-0").join("leader-epoch-checkpoint")).unwrap();
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(checkpoint(&b, "lt"), "0\n3\n0 0\n4 5\n8 7\n");
    assert_eq!(metadata_epoch(&mut raw, "lt").await, 8);

    // A torn checkpoint of a partition idle for several starts never takes its epoch back.
    create_topic(&mut raw, "idle", 1, &[]).await;
    produce(&mut raw, "idle", 0, batch(1, now_ms(), Compression::None)).await;
    b.restart().await;
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(metadata_epoch(&mut raw, "idle").await, 4);
    b.stop().await;
    std::fs::write(b.data_dir().join("idle-0").join("leader-epoch-checkpoint"), "").unwrap();
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(metadata_epoch(&mut raw, "idle").await, 14, "start 7: 2 x 7");
    assert_eq!(checkpoint(&b, "idle"), "0\n2\n0 0\n14 1\n");
    b.stop().await;
}

#[tokio::test]
async fn new_partitions_lead_at_epoch_zero_and_every_view_agrees() {
    use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "np", 1, &[]).await;
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let mut req = CreatePartitionsRequest::default();
    req.topics = vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic("np"))
            .with_count(2)
            .with_assignments(None),
    ];
    req.timeout_ms = 5000;
    assert_eq!(raw.call(&req, 3).await.results[0].error_code, 0);
    assert_eq!(
        std::fs::read_to_string(b.data_dir().join("np-1").join("leader-epoch-checkpoint")).unwrap(),
        "0\n1\n0 0\n"
    );
    let mut m = MetadataRequest::default();
    m.topics = Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic("np"))),
    ]);
    let r = raw.call(&m, 12).await;
    let epochs: Vec<i32> = r.topics[0].partitions.iter().map(|p| p.leader_epoch).collect();
    assert_eq!(epochs, vec![2, 0]);
    let mut d = DescribeTopicPartitionsRequest::default();
    d.topics = vec![TopicRequest::default().with_name(topic("np"))];
    d.response_partition_limit = 10;
    let r = raw.call(&d, 0).await;
    let epochs: Vec<i32> = r.topics[0].partitions.iter().map(|p| p.leader_epoch).collect();
    assert_eq!(epochs, vec![2, 0]);
    // Fetch: any negative current epoch means none (Kafka's optionalEpoch).
    let r = fetch(&mut raw, "np", 0, -2, -1, 12).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    b.stop().await;
}

#[tokio::test]
async fn an_older_checkpoint_that_survived_a_crash_is_completed_from_the_batches() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "old", 1, &[]).await;
    produce(&mut raw, "old", 0, batch(5, now_ms(), Compression::None)).await;
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    produce(&mut raw, "old", 0, batch(3, now_ms(), Compression::None)).await;
    b.stop().await;
    // The last start's rewrite was lost: the checkpoint is the one from the topic's creation.
    std::fs::write(
        b.data_dir().join("old-0").join("leader-epoch-checkpoint"),
        "0\n1\n0 0\n",
    )
    .unwrap();
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(checkpoint(&b, "old"), "0\n3\n0 0\n2 5\n4 8\n");
    assert_eq!(end_of(&mut raw, "old", 4, 2).await, (0, 2, 8));
    b.stop().await;
}
