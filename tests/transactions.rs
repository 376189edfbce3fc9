//! Transactions over TCP with the raw protocol: the coordinator's error codes per version,
//! partition verification on produce, markers and the last stable offset, transactional
//! offset commits (UNSTABLE_OFFSET_COMMIT until the commit), fencing by a new producer and
//! by the timeout, Describe/ListTransactions, and everything surviving a restart.

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

/// A transactional batch of `n` records from producer `pid`/`epoch` at sequence `seq`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    producer_batch(pid, epoch, seq, n, true)
}

async fn init(raw: &mut Raw, id: &str, timeout_ms: i32, expected: (i64, i16), v: i16) -> InitProducerIdResponse {
    let mut r = InitProducerIdRequest::default();
    r.transactional_id = Some(TransactionalId(s(id)));
    r.transaction_timeout_ms = timeout_ms;
    r.producer_id = ProducerId(expected.0);
    r.producer_epoch = expected.1;
    raw.call(&r, v).await
}

async fn init_ok(raw: &mut Raw, id: &str) -> (i64, i16) {
    let r = init(raw, id, 60_000, (-1, -1), 4).await;
    assert_eq!(r.error_code, 0, "InitProducerId {id}");
    (r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn v0-v3; the code of each partition in request order.
async fn add_partitions(raw: &mut Raw, id: &str, pid: i64, epoch: i16, tps: &[(&str, i32)], v: i16) -> Vec<i16> {
    let mut r = AddPartitionsToTxnRequest::default();
    r.v3_and_below_transactional_id = TransactionalId(s(id));
    r.v3_and_below_producer_id = ProducerId(pid);
    r.v3_and_below_producer_epoch = epoch;
    for (t, p) in tps {
        let mut at = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
        at.name = topic(t);
        at.partitions = vec![*p];
        r.v3_and_below_topics.push(at);
    }
    let resp = raw.call(&r, v).await;
    resp.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

async fn end_txn(raw: &mut Raw, id: &str, pid: i64, epoch: i16, commit: bool, v: i16) -> i16 {
    let mut r = EndTxnRequest::default();
    r.transactional_id = TransactionalId(s(id));
    r.producer_id = ProducerId(pid);
    r.producer_epoch = epoch;
    r.committed = commit;
    raw.call(&r, v).await.error_code
}

async fn add_offsets(raw: &mut Raw, id: &str, pid: i64, epoch: i16, group: &str) -> i16 {
    let mut r = AddOffsetsToTxnRequest::default();
    r.transactional_id = TransactionalId(s(id));
    r.producer_id = ProducerId(pid);
    r.producer_epoch = epoch;
    r.group_id = GroupId(s(group));
    raw.call(&r, 3).await.error_code
}

#[allow(clippy::too_many_arguments)]
async fn txn_offset_commit(
    raw: &mut Raw,
    id: &str,
    pid: i64,
    epoch: i16,
    group: &str,
    t: &str,
    p: i32,
    offset: i64,
    v: i16,
) -> i16 {
    let mut part = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default();
    part.partition_index = p;
    part.committed_offset = offset;
    part.committed_metadata = Some(s("txn"));
    let mut tt = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default();
    tt.name = topic(t);
    tt.partitions = vec![part];
    let mut r = TxnOffsetCommitRequest::default();
    r.transactional_id = TransactionalId(s(id));
    r.group_id = GroupId(s(group));
    r.producer_id = ProducerId(pid);
    r.producer_epoch = epoch;
    r.generation_id = -1;
    r.topics = vec![tt];
    raw.call(&r, v).await.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 of one partition: (offset, partition error).
async fn committed(raw: &mut Raw, group: &str, t: &str, p: i32, require_stable: bool) -> (i64, i16) {
    let mut ot = offset_fetch_request::OffsetFetchRequestTopic::default();
    ot.name = topic(t);
    ot.partition_indexes = vec![p];
    let mut r = OffsetFetchRequest::default();
    r.group_id = GroupId(s(group));
    r.topics = Some(vec![ot]);
    r.require_stable = require_stable;
    let resp = raw.call(&r, 7).await;
    let part = &resp.topics[0].partitions[0];
    (part.committed_offset, part.error_code)
}

/// What a read_committed (or uncommitted) fetch from `offset` sees.
struct Seen {
    high_watermark: i64,
    last_stable: i64,
    aborted: Vec<(i64, i64)>,
    offsets: Vec<i64>,
}

async fn fetch(raw: &mut Raw, t: &str, p: i32, offset: i64, read_committed: bool) -> Seen {
    let mut r = fetch_req(t, p, offset, 0, 0);
    r.isolation_level = i8::from(read_committed);
    let resp = raw.call(&r, 11).await;
    let part = &resp.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    let aborted: Vec<(i64, i64)> = part
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    // What a consumer delivers: no control records, and (read_committed) no records of a
    // transaction listed as aborted at or before them.
    let mut offsets = vec![];
    if let Some(b) = &part.records {
        let mut buf = b.clone();
        for set in kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).expect("decode") {
            for r in set.records {
                let dropped = r.transactional
                    && read_committed
                    && aborted
                        .iter()
                        .any(|(pid, first)| *pid == r.producer_id && *first <= r.offset);
                if !r.control && !dropped {
                    offsets.push(r.offset);
                }
            }
        }
    }
    Seen {
        high_watermark: part.high_watermark,
        last_stable: part.last_stable_offset,
        aborted,
        offsets,
    }
}

async fn describe(raw: &mut Raw, id: &str) -> describe_transactions_response::TransactionState {
    let mut r = DescribeTransactionsRequest::default();
    r.transactional_ids = vec![TransactionalId(s(id))];
    raw.call(&r, 0).await.transaction_states.remove(0)
}

fn txn_produce_req(id: &str, t: &str, p: i32, records: Bytes) -> ProduceRequest {
    let mut r = produce_req(t, p, records, -1);
    r.transactional_id = Some(TransactionalId(s(id)));
    r
}

/// Produces transactional records: the partition's (error, base offset).
async fn txn_produce(raw: &mut Raw, id: &str, t: &str, p: i32, records: Bytes, v: i16) -> (i16, i64) {
    let resp = raw.call(&txn_produce_req(id, t, p, records), v).await;
    let part = &resp.responses[0].partition_responses[0];
    (part.error_code, part.base_offset)
}

#[tokio::test]
async fn coordinator_error_codes_and_find_coordinator() {
    let b = TestBroker::start_with(&[("transaction.max.timeout.ms", "100000")]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "t", 2, &[]).await;

    for v in [1, 3] {
        let mut r = FindCoordinatorRequest::default();
        r.key = s("tx");
        r.key_type = 1;
        let resp = raw.call(&r, v).await;
        assert_eq!((resp.error_code, resp.node_id.0), (0, 0), "v{v}");
    }
    let mut r = FindCoordinatorRequest::default();
    r.key_type = 1;
    r.coordinator_keys = vec![s("a"), s("b")];
    let resp = raw.call(&r, 4).await;
    assert!(resp.coordinators.iter().all(|c| c.error_code == 0 && c.node_id.0 == 0));

    // InitProducerId: "" is invalid, the timeout must be in (0, transaction.max.timeout.ms].
    assert_eq!(
        init(&mut raw, "", 1000, (-1, -1), 4).await.error_code,
        code(ResponseError::InvalidRequest)
    );
    for bad in [0, -5, 100_001] {
        let r = init(&mut raw, "tx", bad, (-1, -1), 4).await;
        assert_eq!(r.error_code, code(ResponseError::InvalidTransactionTimeout), "{bad}");
        assert_eq!((r.producer_id.0, r.producer_epoch), (-1, -1));
    }
    let (pid, e0) = init_ok(&mut raw, "tx").await;
    assert_eq!(e0, 0);
    let (pid_again, e1) = init_ok(&mut raw, "tx").await;
    assert_eq!((pid_again, e1), (pid, 1), "same id, epoch bumped");
    // KIP-360: the current epoch bumps; the previous one is a retry of that bump; an older
    // one is fenced (INVALID_PRODUCER_EPOCH before v4).
    let r = init(&mut raw, "tx", 60_000, (pid, 1), 4).await;
    assert_eq!((r.error_code, r.producer_epoch), (0, 2));
    let r = init(&mut raw, "tx", 60_000, (pid, 1), 4).await;
    assert_eq!(
        (r.error_code, r.producer_epoch),
        (0, 2),
        "retry answered with the same epoch"
    );
    assert_eq!(
        init(&mut raw, "tx", 60_000, (pid, 0), 4).await.error_code,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(
        init(&mut raw, "tx", 60_000, (pid, 0), 3).await.error_code,
        code(ResponseError::InvalidProducerEpoch)
    );
    let epoch = 2;

    // AddPartitionsToTxn: a bad partition fails the others with OPERATION_NOT_ATTEMPTED;
    // internal topics need AddOffsetsToTxn.
    let codes = add_partitions(&mut raw, "tx", pid, epoch, &[("t", 0), ("t", 9), ("nope", 0)], 3).await;
    assert_eq!(
        codes,
        vec![
            code(ResponseError::OperationNotAttempted),
            code(ResponseError::UnknownTopicOrPartition),
            code(ResponseError::UnknownTopicOrPartition)
        ]
    );
    let codes = add_partitions(&mut raw, "tx", pid, epoch, &[("__consumer_offsets", 0), ("t", 0)], 3).await;
    assert_eq!(
        codes,
        vec![
            code(ResponseError::TopicAuthorizationFailed),
            code(ResponseError::OperationNotAttempted)
        ]
    );
    assert_eq!(
        add_partitions(&mut raw, "nobody", pid, epoch, &[("t", 0)], 3).await,
        vec![code(ResponseError::InvalidProducerIdMapping)]
    );
    assert_eq!(
        add_partitions(&mut raw, "tx", pid + 1, epoch, &[("t", 0)], 3).await,
        vec![code(ResponseError::InvalidProducerIdMapping)]
    );
    assert_eq!(
        add_partitions(&mut raw, "tx", pid, 1, &[("t", 0)], 3).await,
        vec![code(ResponseError::ProducerFenced)]
    );
    assert_eq!(
        add_partitions(&mut raw, "tx", pid, 1, &[("t", 0)], 1).await,
        vec![code(ResponseError::InvalidProducerEpoch)]
    );
    // EndTxn with nothing begun is INVALID_TXN_STATE.
    assert_eq!(
        end_txn(&mut raw, "tx", pid, epoch, true, 3).await,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        add_partitions(&mut raw, "tx", pid, epoch, &[("t", 0)], 3).await,
        vec![0]
    );

    // Produce verification: partition 1 was not added.
    let (err, _) = txn_produce(&mut raw, "tx", "t", 1, txn_batch(pid, epoch, 0, 1), 9).await;
    assert_eq!(err, code(ResponseError::InvalidTxnState));
    let (err, _) = txn_produce(&mut raw, "tx", "t", 1, txn_batch(pid, epoch, 0, 1), 11).await;
    assert_eq!(err, code(ResponseError::TransactionAbortable), "v11");
    let (err, _) = txn_produce(&mut raw, "tx", "t", 0, txn_batch(pid, 1, 0, 1), 9).await;
    assert_eq!(err, code(ResponseError::InvalidProducerEpoch), "stale epoch");
    assert_eq!(
        txn_produce(&mut raw, "tx", "t", 0, txn_batch(pid, epoch, 0, 2), 9).await,
        (0, 0)
    );

    // AddPartitionsToTxn v4 verify_only reports without adding.
    let mut r = AddPartitionsToTxnRequest::default();
    let mut tx = add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default();
    tx.transactional_id = TransactionalId(s("tx"));
    tx.producer_id = ProducerId(pid);
    tx.producer_epoch = epoch;
    tx.verify_only = true;
    let mut at = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
    at.name = topic("t");
    at.partitions = vec![0, 1];
    tx.topics = vec![at];
    r.transactions = vec![tx];
    let resp = raw.call(&r, 4).await;
    let codes: Vec<i16> = resp.results_by_transaction[0].topic_results[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, vec![0, code(ResponseError::TransactionAbortable)]);
    let d = describe(&mut raw, "tx").await;
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!(d.topics.len(), 1);
    assert_eq!(d.topics[0].partitions, vec![0], "verification added nothing");

    // EndTxn: a stale epoch is fenced (INVALID_PRODUCER_EPOCH before v2); commit; a retry
    // succeeds; an abort of the committed transaction is INVALID_TXN_STATE.
    assert_eq!(
        end_txn(&mut raw, "tx", pid, 1, true, 3).await,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(
        end_txn(&mut raw, "tx", pid, 1, true, 1).await,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(end_txn(&mut raw, "tx", pid, epoch, true, 3).await, 0);
    assert_eq!(end_txn(&mut raw, "tx", pid, epoch, true, 3).await, 0, "retry");
    assert_eq!(
        end_txn(&mut raw, "tx", pid, epoch, false, 3).await,
        code(ResponseError::InvalidTxnState)
    );
    let d = describe(&mut raw, "tx").await;
    assert_eq!((d.error_code, d.transaction_state.as_str()), (0, "CompleteCommit"));
    assert_eq!(
        (d.producer_id.0, d.producer_epoch, d.transaction_timeout_ms),
        (pid, epoch, 60_000)
    );
    // A produce to a partition of a finished transaction is refused.
    let (err, _) = txn_produce(&mut raw, "tx", "t", 0, txn_batch(pid, epoch, 2, 1), 9).await;
    assert_eq!(err, code(ResponseError::InvalidTxnState));
    let d = describe(&mut raw, "missing").await;
    assert_eq!(d.error_code, code(ResponseError::TransactionalIdNotFound));
}

#[tokio::test]
async fn markers_lso_offsets_fencing_and_restart() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "t", 1, &[]).await;
    let (pid, epoch) = init_ok(&mut raw, "a").await;

    // A plain commit first, then a transaction that commits offset 7 and is aborted.
    let mut ocp = offset_commit_request::OffsetCommitRequestPartition::default();
    ocp.partition_index = 0;
    ocp.committed_offset = 1;
    let mut oct = offset_commit_request::OffsetCommitRequestTopic::default();
    oct.name = topic("t");
    oct.partitions = vec![ocp];
    let mut oc = OffsetCommitRequest::default();
    oc.group_id = GroupId(s("g"));
    oc.generation_id_or_member_epoch = -1;
    oc.topics = vec![oct];
    assert_eq!(raw.call(&oc, 8).await.topics[0].partitions[0].error_code, 0);

    assert_eq!(add_partitions(&mut raw, "a", pid, epoch, &[("t", 0)], 3).await, vec![0]);
    assert_eq!(
        txn_produce(&mut raw, "a", "t", 0, txn_batch(pid, epoch, 0, 3), 9).await,
        (0, 0)
    );
    // Without AddOffsetsToTxn the commit is refused.
    assert_eq!(
        txn_offset_commit(&mut raw, "a", pid, epoch, "g", "t", 0, 7, 3).await,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        txn_offset_commit(&mut raw, "a", pid, epoch, "g", "t", 0, 7, 4).await,
        code(ResponseError::TransactionAbortable)
    );
    assert_eq!(add_offsets(&mut raw, "a", pid, epoch, "g").await, 0);
    assert_eq!(
        txn_offset_commit(&mut raw, "a", pid, epoch + 1, "g", "t", 0, 7, 3).await,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(txn_offset_commit(&mut raw, "a", pid, epoch, "g", "t", 0, 7, 3).await, 0);
    assert_eq!(
        committed(&mut raw, "g", "t", 0, true).await,
        (-1, code(ResponseError::UnstableOffsetCommit))
    );
    assert_eq!(
        committed(&mut raw, "g", "t", 0, false).await,
        (1, 0),
        "the stable offset"
    );

    // The open transaction holds the LSO at its first offset.
    let seen = fetch(&mut raw, "t", 0, 0, true).await;
    assert_eq!((seen.high_watermark, seen.last_stable), (3, 0));
    assert!(seen.offsets.is_empty(), "read_committed sees nothing yet");
    assert_eq!(fetch(&mut raw, "t", 0, 0, false).await.offsets, vec![0, 1, 2]);

    assert_eq!(end_txn(&mut raw, "a", pid, epoch, false, 3).await, 0);
    let seen = fetch(&mut raw, "t", 0, 0, true).await;
    assert_eq!((seen.high_watermark, seen.last_stable), (4, 4), "marker at offset 3");
    assert_eq!(seen.aborted, vec![(pid, 0)]);
    assert_eq!(
        committed(&mut raw, "g", "t", 0, true).await,
        (1, 0),
        "aborted commit dropped"
    );

    // A committed transaction: records and offset become visible together.
    assert_eq!(add_partitions(&mut raw, "a", pid, epoch, &[("t", 0)], 3).await, vec![0]);
    assert_eq!(add_offsets(&mut raw, "a", pid, epoch, "g").await, 0);
    assert_eq!(
        txn_produce(&mut raw, "a", "t", 0, txn_batch(pid, epoch, 3, 2), 9).await,
        (0, 4)
    );
    assert_eq!(txn_offset_commit(&mut raw, "a", pid, epoch, "g", "t", 0, 9, 3).await, 0);
    assert_eq!(end_txn(&mut raw, "a", pid, epoch, true, 3).await, 0);
    let seen = fetch(&mut raw, "t", 0, 4, true).await;
    assert_eq!((seen.high_watermark, seen.last_stable), (7, 7));
    assert_eq!(seen.offsets, vec![4, 5]);
    assert!(seen.aborted.is_empty());
    assert_eq!(committed(&mut raw, "g", "t", 0, true).await, (9, 0));

    // A second producer with the same id fences the first and aborts its open transaction.
    assert_eq!(add_partitions(&mut raw, "a", pid, epoch, &[("t", 0)], 3).await, vec![0]);
    assert_eq!(
        txn_produce(&mut raw, "a", "t", 0, txn_batch(pid, epoch, 5, 1), 9).await,
        (0, 7)
    );
    let (pid2, epoch2) = init_ok(&mut raw, "a").await;
    assert_eq!(
        (pid2, epoch2),
        (pid, epoch + 2),
        "fence bump, then the new producer's bump"
    );
    let (err, _) = txn_produce(&mut raw, "a", "t", 0, txn_batch(pid, epoch, 6, 1), 9).await;
    assert_eq!(err, code(ResponseError::InvalidProducerEpoch), "old producer fenced");
    assert_eq!(
        end_txn(&mut raw, "a", pid, epoch, true, 3).await,
        code(ResponseError::ProducerFenced)
    );
    let seen = fetch(&mut raw, "t", 0, 7, true).await;
    assert_eq!((seen.high_watermark, seen.last_stable), (9, 9));
    assert_eq!(seen.aborted, vec![(pid, 7)]);
    assert!(seen.offsets.is_empty());

    // Left open across a restart: a produced batch and a pending offset commit.
    assert_eq!(
        add_partitions(&mut raw, "a", pid2, epoch2, &[("t", 0)], 3).await,
        vec![0]
    );
    assert_eq!(add_offsets(&mut raw, "a", pid2, epoch2, "g").await, 0);
    assert_eq!(
        txn_produce(&mut raw, "a", "t", 0, txn_batch(pid2, epoch2, 0, 1), 9).await,
        (0, 9)
    );
    assert_eq!(
        txn_offset_commit(&mut raw, "a", pid2, epoch2, "g", "t", 0, 10, 3).await,
        0
    );
    drop(raw);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let d = describe(&mut raw, "a").await;
    assert_eq!((d.transaction_state.as_str(), d.producer_epoch), ("Ongoing", epoch2));
    assert_eq!(
        committed(&mut raw, "g", "t", 0, true).await,
        (-1, code(ResponseError::UnstableOffsetCommit)),
        "still pending after the restart"
    );
    assert_eq!(fetch(&mut raw, "t", 0, 9, true).await.last_stable, 9);
    assert_eq!(end_txn(&mut raw, "a", pid2, epoch2, true, 3).await, 0);
    assert_eq!(committed(&mut raw, "g", "t", 0, true).await, (10, 0));
    let seen = fetch(&mut raw, "t", 0, 9, true).await;
    assert_eq!((seen.last_stable, seen.offsets), (11, vec![9]));

    // ListTransactions with filters.
    let mut r = ListTransactionsRequest::default();
    r.state_filters = vec![s("CompleteCommit"), s("Bogus")];
    r.duration_filter = -1;
    let resp = raw.call(&r, 1).await;
    assert_eq!(resp.unknown_state_filters, vec![s("Bogus")]);
    assert_eq!(resp.transaction_states.len(), 1);
    assert_eq!(resp.transaction_states[0].transactional_id.as_str(), "a");
    let mut r = ListTransactionsRequest::default();
    r.producer_id_filters = vec![ProducerId(pid2 + 1000)];
    assert!(raw.call(&r, 0).await.transaction_states.is_empty());
    // After a clean restart the log start is re-read: still committed.
    drop(raw);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(committed(&mut raw, "g", "t", 0, true).await, (10, 0));
    assert_eq!(fetch(&mut raw, "t", 0, 0, true).await.aborted, vec![(pid, 0), (pid, 7)]);
}

#[tokio::test]
async fn an_open_transaction_past_its_timeout_is_aborted() {
    let b = TestBroker::start_with(&[("transaction.abort.timed.out.transaction.cleanup.interval.ms", "20")]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "t", 1, &[]).await;
    let r = init(&mut raw, "slow", 200, (-1, -1), 4).await;
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    assert_eq!(
        add_partitions(&mut raw, "slow", pid, epoch, &[("t", 0)], 3).await,
        vec![0]
    );
    assert_eq!(
        txn_produce(&mut raw, "slow", "t", 0, txn_batch(pid, epoch, 0, 2), 9).await,
        (0, 0)
    );
    // Wait (bounded) for the coordinator's abort: the LSO passes the marker.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut seen = fetch(&mut raw, "t", 0, 0, true).await;
    while seen.last_stable < 3 {
        assert!(tokio::time::Instant::now() < deadline, "never aborted");
        let mut r = fetch_req("t", 0, 3, 500, 1);
        r.isolation_level = 1;
        raw.call(&r, 11).await; // parks until the marker lands (or 500 ms)
        seen = fetch(&mut raw, "t", 0, 0, true).await;
    }
    assert_eq!(seen.aborted, vec![(pid, 0)]);
    assert!(seen.offsets.is_empty());
    // EndTxn queues behind the coordinator's abort (one operation at a time per id), so
    // the abort is complete when it answers.
    assert_eq!(
        end_txn(&mut raw, "slow", pid, epoch, true, 3).await,
        code(ResponseError::ProducerFenced)
    );
    let d = describe(&mut raw, "slow").await;
    assert_eq!(
        (d.transaction_state.as_str(), d.producer_epoch),
        ("CompleteAbort", epoch + 1)
    );
    let (err, _) = txn_produce(&mut raw, "slow", "t", 0, txn_batch(pid, epoch, 2, 1), 9).await;
    assert_eq!(err, code(ResponseError::InvalidProducerEpoch));
    // The fenced producer's KIP-360 re-init with its old epoch is fenced too.
    assert_eq!(
        init(&mut raw, "slow", 200, (pid, epoch), 4).await.error_code,
        code(ResponseError::ProducerFenced)
    );
}

/// A `brokk` process on a free port of 127.0.0.1 (from its "listening on" log line).
struct Proc {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

fn spawn_brokk(data: &std::path::Path, failpoint: Option<&str>) -> Proc {
    use std::io::{BufRead, BufReader};
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_brokk"));
    // Few internal partitions: the restart after the crash recovers every segment.
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--override",
        "offsets.topic.num.partitions=3",
    ])
    .args(["--override", "transaction.state.log.num.partitions=3", "--data-dir"])
    .arg(data)
    .env("RUST_LOG", "info")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    match failpoint {
        Some(f) => cmd.env("BROKK_FAILPOINT", f),
        None => cmd.env_remove("BROKK_FAILPOINT"),
    };
    let mut child = cmd.spawn().expect("spawn brokk");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("brokk exited before listening").expect("read");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("addr")
                .parse()
                .expect("socket addr");
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Proc { child, addr }
}

#[tokio::test]
async fn a_commit_interrupted_before_its_markers_completes_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_brokk(dir.path(), Some("txn-before-markers"));
    let mut raw = Raw::connect(p.addr).await;
    create_topic(&mut raw, "t", 2, &[]).await;
    let (pid, epoch) = init_ok(&mut raw, "crash").await;
    assert_eq!(
        add_partitions(&mut raw, "crash", pid, epoch, &[("t", 0), ("t", 1)], 3).await,
        vec![0, 0]
    );
    assert_eq!(add_offsets(&mut raw, "crash", pid, epoch, "g").await, 0);
    assert_eq!(
        txn_produce(&mut raw, "crash", "t", 0, txn_batch(pid, epoch, 0, 3), 9).await,
        (0, 0)
    );
    assert_eq!(
        txn_produce(&mut raw, "crash", "t", 1, txn_batch(pid, epoch, 0, 2), 9).await,
        (0, 0)
    );
    assert_eq!(
        txn_offset_commit(&mut raw, "crash", pid, epoch, "g", "t", 0, 3, 3).await,
        0
    );
    // EndTxn: PrepareCommit is stored, then the process dies before any marker.
    let mut r = EndTxnRequest::default();
    r.transactional_id = TransactionalId(s("crash"));
    r.producer_id = ProducerId(pid);
    r.producer_epoch = epoch;
    r.committed = true;
    let frame = raw.frame(&r, 3);
    raw.send_bytes(&frame).await;
    assert!(raw.read_frame().await.is_none(), "the broker died instead of answering");
    let status = tokio::task::spawn_blocking(move || p.child.wait().expect("wait"))
        .await
        .unwrap();
    assert!(!status.success(), "aborted at the failpoint: {status:?}");

    let mut p = spawn_brokk(dir.path(), None);
    let mut raw = Raw::connect(p.addr).await;
    let d = describe(&mut raw, "crash").await;
    assert_eq!(d.transaction_state.as_str(), "CompleteCommit", "finished at start-up");
    for (part, n) in [(0, 3), (1, 2)] {
        let seen = fetch(&mut raw, "t", part, 0, true).await;
        assert_eq!(seen.last_stable, n + 1, "partition {part}: commit marker written");
        assert_eq!(seen.offsets, (0..n).collect::<Vec<_>>());
        assert!(seen.aborted.is_empty());
    }
    assert_eq!(
        committed(&mut raw, "g", "t", 0, true).await,
        (3, 0),
        "offsets committed"
    );
    // The producer carries on with its next transaction.
    assert_eq!(
        add_partitions(&mut raw, "crash", pid, epoch, &[("t", 0)], 3).await,
        vec![0]
    );
    assert_eq!(
        txn_produce(&mut raw, "crash", "t", 0, txn_batch(pid, epoch, 3, 1), 9).await,
        (0, 4)
    );
    assert_eq!(end_txn(&mut raw, "crash", pid, epoch, false, 3).await, 0);
    drop(raw);
    let _ = p.child.kill();
    let _ = p.child.wait();
}

#[tokio::test]
async fn the_state_log_is_compacted_and_idle_ids_expire() {
    let mut b = TestBroker::start_with(&[
        ("transaction.state.log.num.partitions", "1"),
        ("transaction.state.log.segment.bytes", "1048576"),
    ])
    .await;
    let mut raw = Raw::connect(b.addr).await;
    // ~2 KB per record: 600 epoch bumps roll the 1 MiB segment.
    let id = "x".repeat(2000);
    let mut last = (0, 0);
    for _ in 0..600 {
        last = init_ok(&mut raw, &id).await;
    }
    assert_eq!(last.1, 599);
    let p = b.broker().logs().partition("__transaction_state", 0).unwrap();
    assert!(p.segment_count() >= 2);
    assert!(b.broker().txns().compact_log().await >= 1, "sealed segments removed");
    assert_eq!(p.segment_count(), 1);
    drop(raw);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let d = describe(&mut raw, &id).await;
    assert_eq!((d.error_code, d.producer_id.0, d.producer_epoch), (0, last.0, 599));

    let mut b = TestBroker::start_with(&[("transactional.id.expiration.ms", "1")]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "t", 1, &[]).await;
    init_ok(&mut raw, "idle").await;
    let (pid, epoch) = init_ok(&mut raw, "busy").await;
    assert_eq!(
        add_partitions(&mut raw, "busy", pid, epoch, &[("t", 0)], 3).await,
        vec![0]
    );
    // Wait out the 1 ms expiration, measured by the broker's own clock.
    let start = now_ms();
    while now_ms() < start + 2 {
        tokio::task::yield_now().await;
    }
    b.broker().txns().maintain(true).await;
    assert_eq!(
        describe(&mut raw, "idle").await.error_code,
        code(ResponseError::TransactionalIdNotFound)
    );
    assert_eq!(
        describe(&mut raw, "busy").await.transaction_state.as_str(),
        "Ongoing",
        "an open transaction never expires"
    );
    drop(raw);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    assert_eq!(
        describe(&mut raw, "idle").await.error_code,
        code(ResponseError::TransactionalIdNotFound),
        "the tombstone survives a restart"
    );
}

#[tokio::test]
async fn a_hanging_transaction_is_aborted_at_start_up() {
    let mut b = TestBroker::start_with(&[("transaction.state.log.num.partitions", "1")]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "t", 1, &[]).await;
    let (pid, epoch) = init_ok(&mut raw, "lost").await;
    assert_eq!(
        add_partitions(&mut raw, "lost", pid, epoch, &[("t", 0)], 3).await,
        vec![0]
    );
    assert_eq!(
        txn_produce(&mut raw, "lost", "t", 0, txn_batch(pid, epoch, 0, 2), 9).await,
        (0, 0)
    );
    drop(raw);
    b.stop().await;
    // The coordinator's state is lost (as after a disk failure): nothing accounts for the
    // partition's open transaction any more.
    let dir = b.data_dir();
    std::fs::remove_dir_all(dir.join("__transaction_state-0")).unwrap();
    for f in std::fs::read_dir(dir.join(".topics")).unwrap() {
        let f = f.unwrap().path();
        if std::fs::read_to_string(&f).unwrap().contains("__transaction_state") {
            std::fs::remove_file(f).unwrap();
        }
    }
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let seen = fetch(&mut raw, "t", 0, 0, true).await;
    assert_eq!((seen.high_watermark, seen.last_stable), (3, 3), "abort marker written");
    assert_eq!(seen.aborted, vec![(pid, 0)]);
    assert!(seen.offsets.is_empty());
}

#[tokio::test]
async fn the_transaction_state_topic_is_internal() {
    let b = TestBroker::start_with(&[("transaction.state.log.num.partitions", "3")]).await;
    let mut raw = Raw::connect(b.addr).await;
    let name = "__transaction_state";
    // Not creatable by hand; Metadata auto-creation goes through the coordinator.
    let mut ct = CreateTopicsRequest::default();
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic(name);
    t.num_partitions = 1;
    t.replication_factor = 1;
    ct.topics = vec![t];
    assert_eq!(
        raw.call(&ct, 7).await.topics[0].error_code,
        code(ResponseError::InvalidRequest)
    );
    let mut m = MetadataRequest::default();
    let mut mt = metadata_request::MetadataRequestTopic::default();
    mt.name = Some(topic(name));
    m.topics = Some(vec![mt]);
    m.allow_auto_topic_creation = true;
    let meta = raw.call(&m, 12).await;
    assert_eq!((meta.topics[0].error_code, meta.topics[0].partitions.len()), (0, 3));
    assert!(meta.topics[0].is_internal);
    let (err, _) = produce(&mut raw, name, 0, batch(1, 0, Compression::None)).await;
    assert_eq!(err, code(ResponseError::InvalidTopicException));
    let mut d = DeleteTopicsRequest::default();
    d.topic_names = vec![topic(name)];
    d.timeout_ms = 5000;
    assert_eq!(
        raw.call(&d, 5).await.responses[0].error_code,
        code(ResponseError::InvalidRequest)
    );
    assert!(b.broker().logs().topic(name).is_some());
}
