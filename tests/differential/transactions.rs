//! Idempotent and transactional producers: InitProducerId, Produce sequence checks,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, DescribeTransactions,
//! DescribeProducers and read_committed Fetch, with fencing and state errors. Producer ids
//! are each broker's own: requests carry each side's, and answers are compared with them
//! replaced by 0.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::common::{fetch_req, produce_req, topic};
use super::normalise as n;
use super::pair::Pair;
use super::topics::{created, s};

const TS0: i64 = 1_700_000_000_000;

/// `n` records from producer `pid`/`epoch` starting at sequence `seq`, all at `TS0`.
pub(super) fn batch(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: TS0,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{}", seq + i as i32))),
            headers: Default::default(),
        })
        .collect();
    encode(&records)
}

/// One uncompressed v2 batch of `records`.
pub(super) fn encode(records: &[Record]) -> Bytes {
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).expect("encode");
    buf.freeze()
}

/// What a fetch shows, producer ids and marker timestamps left out: (error, high watermark,
/// last stable offset, aborted transactions' first offsets, records as (offset, control,
/// transactional, key, value)).
pub(super) type Seen = (
    i16,
    i64,
    i64,
    Option<Vec<i64>>,
    Vec<(i64, bool, bool, Option<Bytes>, Option<Bytes>)>,
);

pub(super) fn seen(r: &FetchResponse) -> Seen {
    let p = &r.responses[0].partitions[0];
    let mut records = vec![];
    if let Some(b) = &p.records {
        let mut buf = b.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).expect("decode") {
            for r in set.records {
                records.push((r.offset, r.control, r.transactional, r.key, r.value));
            }
        }
    }
    (
        p.error_code,
        p.high_watermark,
        p.last_stable_offset,
        p.aborted_transactions
            .as_ref()
            .map(|a| a.iter().map(|t| t.first_offset).collect()),
        records,
    )
}

pub(super) fn init(id: Option<&str>, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(id.map(|i| TransactionalId(s(i))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

pub(super) fn add_partitions(
    id: &str,
    pid: i64,
    epoch: i16,
    t: &str,
    partitions: Vec<i32>,
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(topic(t))
                .with_partitions(partitions),
        ])
}

pub(super) fn end(id: &str, pid: i64, epoch: i16, commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit)
}

pub(super) fn txn_produce(id: &str, t: &str, p: i32, records: Bytes) -> ProduceRequest {
    produce_req(t, p, records, -1).with_transactional_id(Some(TransactionalId(s(id))))
}

/// FindCoordinator (v4) of transactional id `id`, then InitProducerId (at `version`) with a
/// 60 s timeout, each retried while the coordinator loads; the producer id and epoch each
/// broker gave (Kafka's, brokk's).
pub(super) async fn begin(p: &mut Pair, id: &str, version: i16) -> [(i64, i16); 2] {
    // The first lookup creates __transaction_state on Kafka (brokk creates it at once).
    let find = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(id)]);
    let busy_find = |r: &FindCoordinatorResponse| r.coordinators[0].error_code == 15;
    p.same_each_when_ready(
        "FindCoordinator of a transactional id",
        |_| find.clone(),
        4,
        busy_find,
        n::find_coordinator,
    )
    .await;
    let busy = |r: &InitProducerIdResponse| [14, 15, 16].contains(&r.error_code);
    let (k, b) = p
        .same_each_when_ready(
            "InitProducerId",
            |_| init(Some(id), 60_000),
            version,
            busy,
            n::init_producer_id,
        )
        .await;
    [(k.producer_id.0, k.producer_epoch), (b.producer_id.0, b.producer_epoch)]
}

pub async fn producers(p: &mut Pair) {
    let t = p.topic("x");
    let id = p.topic("txn");
    created(p, &t, 2).await;
    // Idempotent producer: sequences.
    let busy = |r: &InitProducerIdResponse| [14, 15, 16].contains(&r.error_code);
    let (k, b) = p
        .same_each_when_ready(
            "InitProducerId without a transactional id",
            |_| init(None, 60_000),
            4,
            busy,
            n::init_producer_id,
        )
        .await;
    let pids = [(k.producer_id.0, k.producer_epoch), (b.producer_id.0, b.producer_epoch)];
    let pid = |kafka: bool| pids[usize::from(!kafka)];
    for (what, seq, n_records) in [
        ("Produce of an idempotent batch", 0, 2),
        ("Produce of the same batch again", 0, 2),
        ("Produce of a batch after a gap in sequence", 5, 1),
        ("Produce of the next batch", 2, 1),
        ("Produce of an older batch, not the last", 0, 1),
    ] {
        p.same_each(
            what,
            |kf| produce_req(&t, 0, batch(pid(kf).0, pid(kf).1, seq, n_records, false), -1),
            9,
            n::produce,
        )
        .await;
    }
    p.same_each(
        "Produce with a newer epoch and a sequence not 0",
        |kf| produce_req(&t, 0, batch(pid(kf).0, pid(kf).1 + 1, 3, 1, false), -1),
        9,
        n::produce,
    )
    .await;
    // Transactions.
    p.same(
        "InitProducerId with too long a timeout",
        &init(Some(&id), i32::MAX),
        4,
        n::init_producer_id,
    )
    .await;
    let tx = begin(p, &id, 4).await;
    let tx = |kafka: bool| tx[usize::from(!kafka)];
    p.same_each(
        "Produce outside the transaction's partitions",
        |kf| txn_produce(&id, &t, 1, batch(tx(kf).0, tx(kf).1, 0, 1, true)),
        9,
        n::produce,
    )
    .await;
    p.same_each(
        "AddPartitionsToTxn with an unknown partition",
        |kf| add_partitions(&id, tx(kf).0, tx(kf).1, &t, vec![1, 9]),
        3,
        n::add_partitions_to_txn,
    )
    .await;
    p.same_each(
        "AddPartitionsToTxn",
        |kf| add_partitions(&id, tx(kf).0, tx(kf).1, &t, vec![1]),
        3,
        n::add_partitions_to_txn,
    )
    .await;
    p.same_each(
        "AddPartitionsToTxn with a wrong epoch",
        |kf| add_partitions(&id, tx(kf).0, tx(kf).1 + 3, &t, vec![1]),
        3,
        n::add_partitions_to_txn,
    )
    .await;
    p.same_each(
        "Produce in the transaction",
        |kf| txn_produce(&id, &t, 1, batch(tx(kf).0, tx(kf).1, 0, 3, true)),
        9,
        n::produce,
    )
    .await;
    let (k, b) = p
        .same_each(
            "Fetch of an open transaction, read_committed",
            |_| fetch_req(&t, 1, 0, 0, 0).with_isolation_level(1),
            12,
            |_| {},
        )
        .await;
    p.check(
        "Fetch of an open transaction, read_committed: what it shows",
        &seen(&k),
        &seen(&b),
    );
    let describe = |kf: bool| {
        let _ = kf;
        DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(&id))])
    };
    p.same_each(
        "DescribeTransactions of an open transaction",
        describe,
        0,
        n::describe_transactions,
    )
    .await;
    p.same_each(
        "EndTxn with a wrong epoch",
        |kf| end(&id, tx(kf).0, tx(kf).1 + 1, false),
        4,
        n::end_txn,
    )
    .await;
    p.same_each("EndTxn abort", |kf| end(&id, tx(kf).0, tx(kf).1, false), 4, n::end_txn)
        .await;
    p.await_txn_complete(&id).await;
    p.eventually_same_each(
        "Fetch after the abort, read_committed",
        |_| fetch_req(&t, 1, 0, 0, 0).with_isolation_level(1),
        12,
        seen,
    )
    .await;
    p.same_each(
        "EndTxn abort again",
        |kf| end(&id, tx(kf).0, tx(kf).1, false),
        4,
        n::end_txn,
    )
    .await;
    p.same_each(
        "EndTxn commit after the abort",
        |kf| end(&id, tx(kf).0, tx(kf).1, true),
        4,
        n::end_txn,
    )
    .await;
    // A second transaction, committed.
    p.same_each(
        "AddPartitionsToTxn again",
        |kf| add_partitions(&id, tx(kf).0, tx(kf).1, &t, vec![1]),
        3,
        n::add_partitions_to_txn,
    )
    .await;
    p.same_each(
        "Produce in the second transaction",
        |kf| txn_produce(&id, &t, 1, batch(tx(kf).0, tx(kf).1, 3, 2, true)),
        9,
        n::produce,
    )
    .await;
    p.same_each("EndTxn commit", |kf| end(&id, tx(kf).0, tx(kf).1, true), 4, n::end_txn)
        .await;
    p.await_txn_complete(&id).await;
    p.eventually_same_each(
        "Fetch after the commit, read_committed",
        |_| fetch_req(&t, 1, 0, 0, 0).with_isolation_level(1),
        12,
        seen,
    )
    .await;
    p.eventually_same_each(
        "DescribeTransactions of a completed transaction",
        describe,
        0,
        |r: &DescribeTransactionsResponse| {
            let mut r = r.clone();
            n::describe_transactions(&mut r);
            r
        },
    )
    .await;
    let (k, b) = p
        .same_each(
            "InitProducerId again: a new epoch",
            |_| init(Some(&id), 60_000),
            4,
            n::init_producer_id,
        )
        .await;
    p.check(
        "InitProducerId again: the epoch moved on",
        &(k.producer_epoch - tx(true).1),
        &(b.producer_epoch - tx(false).1),
    );
    p.same_each(
        "EndTxn of the fenced epoch",
        |kf| end(&id, tx(kf).0, tx(kf).1, true),
        4,
        n::end_txn,
    )
    .await;
    let now = [(k.producer_id.0, k.producer_epoch), (b.producer_id.0, b.producer_epoch)];
    abort_by_markers(p, &id, &t, |kf| now[usize::from(!kf)], tx(true).1).await;
}

/// WriteTxnMarkers as `Admin.abortTransaction` / `kafka-transactions.sh abort` send it:
/// one marker for producer `pid`/`epoch` from a coordinator at `coordinator_epoch`.
fn marker(
    t: &str,
    partitions: Vec<i32>,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> WriteTxnMarkersRequest {
    WriteTxnMarkersRequest::default().with_markers(vec![
        write_txn_markers_request::WritableTxnMarker::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_transaction_result(commit)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(vec![
                write_txn_markers_request::WritableTxnMarkerTopic::default()
                    .with_name(topic(t))
                    .with_partition_indexes(partitions),
            ]),
    ])
}

/// (error, [(epoch, last sequence, coordinator epoch, open transaction's first offset)]).
fn producers_seen(r: &DescribeProducersResponse) -> (i16, Vec<(i32, i32, i32, i64)>) {
    let p = &r.topics[0].partitions[0];
    let mut states: Vec<_> = p
        .active_producers
        .iter()
        .map(|s| {
            (
                s.producer_epoch,
                s.last_sequence,
                s.coordinator_epoch,
                s.current_txn_start_offset,
            )
        })
        .collect();
    states.sort();
    (p.error_code, states)
}

/// A transaction ended on a partition by an abort marker written through WriteTxnMarkers
/// (as for a hanging transaction), then by its producer's commit: the records stay aborted.
async fn abort_by_markers(p: &mut Pair, id: &str, t: &str, tx: impl Fn(bool) -> (i64, i16), old_epoch: i16) {
    p.same_each(
        "AddPartitionsToTxn, third transaction",
        |kf| add_partitions(id, tx(kf).0, tx(kf).1, t, vec![0]),
        3,
        n::add_partitions_to_txn,
    )
    .await;
    p.same_each(
        "Produce in the third transaction",
        |kf| txn_produce(id, t, 0, batch(tx(kf).0, tx(kf).1, 0, 2, true)),
        9,
        n::produce,
    )
    .await;
    let describe = |_: bool| {
        DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(topic(t))
                .with_partition_indexes(vec![0]),
        ])
    };
    let (k, b) = p
        .same_each(
            "DescribeProducers of an open transaction",
            describe,
            0,
            n::describe_producers,
        )
        .await;
    p.check(
        "DescribeProducers of an open transaction: the producers",
        &producers_seen(&k),
        &producers_seen(&b),
    );
    let coordinator = k.topics[0].partitions[0]
        .active_producers
        .iter()
        .find(|s| s.producer_id.0 == tx(true).0)
        .map_or(0, |s| s.coordinator_epoch);
    let cases: [(&str, Vec<i32>, i16, i32, &str); 4] = [
        (
            "WriteTxnMarkers to an unknown partition",
            vec![0, 7],
            old_epoch,
            coordinator,
            "",
        ),
        (
            "WriteTxnMarkers of an older producer epoch",
            vec![0],
            old_epoch,
            coordinator,
            "",
        ),
        (
            "WriteTxnMarkers from an older coordinator",
            vec![0],
            -1,
            coordinator - 1,
            "",
        ),
        (
            "WriteTxnMarkers to an unknown topic",
            vec![0],
            -1,
            coordinator,
            "absent",
        ),
    ];
    for (what, partitions, epoch, coordinator_epoch, other) in cases {
        let target = if other.is_empty() {
            t.to_string()
        } else {
            format!("{t}-{other}")
        };
        p.same_each(
            what,
            |kf| {
                let e = if epoch < 0 { tx(kf).1 } else { epoch };
                marker(&target, partitions.clone(), tx(kf).0, e, coordinator_epoch, false)
            },
            1,
            n::write_txn_markers,
        )
        .await;
    }
    p.same_each(
        "WriteTxnMarkers abort",
        |kf| marker(t, vec![0], tx(kf).0, tx(kf).1, coordinator, false),
        1,
        n::write_txn_markers,
    )
    .await;
    let (k, b) = p
        .same_each(
            "DescribeProducers after the abort marker",
            describe,
            0,
            n::describe_producers,
        )
        .await;
    p.check(
        "DescribeProducers after the abort marker: the producers",
        &producers_seen(&k),
        &producers_seen(&b),
    );
    p.eventually_same_each(
        "Fetch after the abort marker, read_committed",
        |_| fetch_req(t, 0, 0, 0, 0).with_isolation_level(1),
        12,
        seen,
    )
    .await;
    p.same_each(
        "EndTxn commit after the abort marker",
        |kf| end(id, tx(kf).0, tx(kf).1, true),
        4,
        n::end_txn,
    )
    .await;
    p.await_txn_complete(id).await;
    p.eventually_same_each(
        "Fetch after the commit that followed the abort marker, read_committed",
        |_| fetch_req(t, 0, 0, 0, 0).with_isolation_level(1),
        12,
        seen,
    )
    .await;
}
