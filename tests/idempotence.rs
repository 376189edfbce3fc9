//! Idempotent produce over TCP: InitProducerId, duplicates answered with the original
//! offsets, sequence gaps and stale epochs refused, and the producer state surviving a
//! restart (from the snapshot, and rebuilt from the log when the snapshot is gone).

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;

/// A batch of `n` records from producer `pid`/`epoch` starting at sequence `seq`.
fn idem_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    producer_batch(pid, epoch, seq, n, false)
}

async fn init_producer_id(raw: &mut Raw) -> (i64, i16) {
    let mut r = InitProducerIdRequest::default();
    r.transactional_id = None;
    r.transaction_timeout_ms = -1;
    let resp = raw.call(&r, 4).await;
    assert_eq!(resp.error_code, 0);
    (resp.producer_id.0, resp.producer_epoch)
}

async fn log_end(raw: &mut Raw, t: &str) -> i64 {
    let mut p = list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -1;
    let mut lt = list_offsets_request::ListOffsetsTopic::default();
    lt.name = topic(t);
    lt.partitions = vec![p];
    let mut r = ListOffsetsRequest::default();
    r.replica_id = BrokerId(-1);
    r.topics = vec![lt];
    raw.call(&r, 7).await.topics[0].partitions[0].offset
}

#[tokio::test]
async fn duplicates_gaps_epochs_and_restarts() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "idem", 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut raw).await;
    assert_eq!(epoch, 0);
    let (pid2, _) = init_producer_id(&mut raw).await;
    assert_ne!(
        pid, pid2,
        "every InitProducerId without a transactional id gets a new id"
    );

    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 0, 3)).await, (0, 0));
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 3, 2)).await, (0, 3));
    // A retry of an appended batch: success with its original offset, nothing appended.
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 0, 3)).await, (0, 0));
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 3, 2)).await, (0, 3));
    assert_eq!(log_end(&mut raw, "idem").await, 5);
    // A gap, and an older epoch.
    let (err, _) = produce(&mut raw, "idem", 0, idem_batch(pid, 0, 9, 1)).await;
    assert_eq!(err, ResponseError::OutOfOrderSequenceNumber.code());
    let (err, _) = produce(&mut raw, "idem", 0, idem_batch(pid, -1, 5, 1)).await;
    assert_eq!(err, ResponseError::InvalidProducerEpoch.code());

    // Clean restart: the state comes back from the snapshot.
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 3, 2)).await, (0, 3));
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 5, 1)).await, (0, 5));
    // Without snapshots the state is rebuilt from the log.
    b.stop().await;
    let pdir = b.data_dir().join("idem-0");
    for e in std::fs::read_dir(&pdir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".snapshot") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 5, 1)).await, (0, 5));
    let (err, _) = produce(&mut raw, "idem", 0, idem_batch(pid, 0, 7, 1)).await;
    assert_eq!(err, ResponseError::OutOfOrderSequenceNumber.code());
    assert_eq!(produce(&mut raw, "idem", 0, idem_batch(pid, 0, 6, 1)).await, (0, 6));
    // Producer ids are never reused after a restart.
    let (pid3, _) = init_producer_id(&mut raw).await;
    assert!(pid3 > pid2);
    // DescribeProducers shows the producer's epoch and last sequence.
    let mut dp = DescribeProducersRequest::default();
    let mut tr = describe_producers_request::TopicRequest::default();
    tr.name = topic("idem");
    tr.partition_indexes = vec![0, 5];
    dp.topics = vec![tr];
    let d = raw.call(&dp, 0).await;
    let parts = &d.topics[0].partitions;
    assert_eq!(parts[0].error_code, 0);
    let me = parts[0]
        .active_producers
        .iter()
        .find(|x| x.producer_id.0 == pid)
        .expect("tracked");
    assert_eq!(
        (me.producer_epoch, me.last_sequence, me.current_txn_start_offset),
        (0, 6, -1)
    );
    assert_eq!(parts[1].error_code, ResponseError::UnknownTopicOrPartition.code());
    // A transactional batch cannot be written outside a transaction.
    let mut t = idem_batch(pid3, 0, 0, 1).to_vec();
    t[22] |= 0x10;
    let crc = crc32c::crc32c(&t[21..]);
    t[17..21].copy_from_slice(&crc.to_be_bytes());
    let (err, _) = produce(&mut raw, "idem", 0, Bytes::from(t.clone())).await;
    assert_eq!(
        err,
        ResponseError::TransactionalIdAuthorizationFailed.code(),
        "no transactional_id in the request"
    );
    let mut req = produce_req("idem", 0, Bytes::from(t), -1);
    req.transactional_id = Some(TransactionalId(kafka_protocol::protocol::StrBytes::from_static_str(
        "t",
    )));
    let r = raw.call(&req, 9).await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidProducerIdMapping.code(),
        "the producer id belongs to no transactional id"
    );
}
