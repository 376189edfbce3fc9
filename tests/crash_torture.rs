//! Crash torture (issue 14): brokk as a child process is SIGKILLed again and again while
//! three clients work on it at once, and after every restart the invariants are checked
//! against a ledger of what the broker acknowledged:
//!
//! - **produce** (`data`, 3 partitions): every acknowledged record at its offset with its
//!   value; no offset reused (the high watermark is past every acknowledged offset); a
//!   record nobody acknowledged is one that was sent;
//! - **DeleteRecords** (`data` partition 2): the log start never goes back below an
//!   acknowledged low watermark;
//! - **consumer-group commits** (`g`): the committed offset is at least the last
//!   acknowledged commit;
//! - **transactions** (`tx`, commit and abort): once the transactional id is initialised
//!   again (which ends a transaction the crash left open) the last stable offset reaches
//!   the high watermark (no hanging transaction); every acknowledged commit is visible to
//!   read_committed, every acknowledged abort is not (its aborted range is returned);
//! - **compaction** (`compact`): each key's newest value is at least its last acknowledged
//!   one (the cleaner never loses the head);
//! - **retention** (`ret`, retention.bytes): what is above the log start is what was
//!   acknowledged; no offset reused;
//! - **topic deletion**: an acknowledged deletion is gone, from Metadata and from the disk;
//!   a topic created and not deleted exists;
//! - **CreatePartitions** (`grow`): the partition count is at least the acknowledged one.
//!
//! `BROKK_TORTURE_KILLS` sets the number of kills (the suite runs 12; the issue's long run
//! is 250). Kills come after a number of acknowledgements, never after a sleep.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::process::{BrokkProcess, try_call, try_produce};
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

const CONCURRENT_TRANSACTIONS: i16 = 51;
const TXN_ID: &str = "torture-tx";
const GROUP: &str = "torture-g";

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

#[derive(Default)]
struct Ledger {
    /// Acknowledged records of `data`: (partition, offset) -> value.
    data: BTreeMap<(i32, i64), Bytes>,
    /// Every value ever sent to `data` or `ret`.
    sent: HashSet<Bytes>,
    /// Acknowledged and highest requested low watermark of `data` partition 2.
    low_watermark: i64,
    low_watermark_sent: i64,
    /// Last acknowledged and last sent commit of `g` for `data` partition 0.
    commit: i64,
    commit_sent: i64,
    /// Acknowledged EndTxn: (committed, [(partition, base offset, count)]).
    txns: Vec<(bool, Vec<Written>)>,
    /// `compact`: key -> last acknowledged sequence; the next sequence.
    compact: BTreeMap<u64, u64>,
    compact_seq: u64,
    /// Acknowledged records of `ret`.
    ret: BTreeMap<i64, Bytes>,
    /// Topic churn: created (acknowledged), deletion sent, deletion acknowledged.
    created: BTreeSet<u32>,
    delete_sent: BTreeSet<u32>,
    deleted: BTreeSet<u32>,
    next_tmp: u32,
    /// Acknowledged partition count of `grow`.
    grow: i32,
}

type Shared = Arc<Mutex<Ledger>>;
/// A transactional batch: (partition, base offset, record count).
type Written = (i32, i64, i64);

fn keyed(key: &str, value: &str, pad: usize) -> Bytes {
    let (k, mut v) = (key.as_bytes().to_vec(), value.as_bytes().to_vec());
    v.resize(v.len() + pad, b'.');
    records::keyed_batch_of(1, now_ms(), Compression::None, move |_| k.clone(), move |_| v.clone())
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    producer_batch(pid, epoch, seq, n, true)
}

/// InitProducerId for the transactional id, waiting out CONCURRENT_TRANSACTIONS (the
/// abort of a transaction left open); None if the broker is gone.
async fn init_txn(raw: &mut Raw) -> Option<(i64, i16)> {
    for _ in 0..500 {
        let mut r = InitProducerIdRequest::default();
        r.transactional_id = Some(TransactionalId(s(TXN_ID)));
        r.transaction_timeout_ms = 60_000;
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
        let resp = try_call(raw, &r, 4).await?;
        match resp.error_code {
            0 => return Some((resp.producer_id.0, resp.producer_epoch)),
            CONCURRENT_TRANSACTIONS => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            code => panic!("InitProducerId failed with {code}"),
        }
    }
    panic!("the transaction left open never ended");
}

/// Produces to `data` and commits offsets for `g`.
async fn producer_worker(addr: std::net::SocketAddr, cycle: usize, ledger: Shared, acks: Arc<tokio::sync::Semaphore>) {
    let mut raw = Raw::connect(addr).await;
    for seq in 0.. {
        let p = seq % 3;
        let value = Bytes::from(format!("d{cycle}-{seq}"));
        ledger.lock().unwrap().sent.insert(value.clone());
        let v = value.clone();
        let b = records::batch_of(1, now_ms(), Compression::None, move |_| v.to_vec());
        match try_produce(&mut raw, "data", p, b).await {
            Some((0, off)) => {
                ledger.lock().unwrap().data.insert((p, off), value);
            }
            Some((code, _)) => panic!("produce to data-{p}: {code}"),
            None => return,
        }
        acks.add_permits(1);
        if seq % 4 == 3 {
            let offset = {
                let mut l = ledger.lock().unwrap();
                l.commit_sent += 1;
                l.commit_sent
            };
            let mut part = offset_commit_request::OffsetCommitRequestPartition::default();
            part.partition_index = 0;
            part.committed_offset = offset;
            let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
            t.name = topic("data");
            t.partitions = vec![part];
            let mut r = OffsetCommitRequest::default();
            r.group_id = GroupId(s(GROUP));
            r.generation_id_or_member_epoch = -1;
            r.topics = vec![t];
            let Some(resp) = try_call(&mut raw, &r, 8).await else {
                return;
            };
            assert_eq!(resp.topics[0].partitions[0].error_code, 0, "OffsetCommit");
            let mut l = ledger.lock().unwrap();
            l.commit = l.commit.max(offset);
            drop(l);
            acks.add_permits(1);
        }
    }
}

/// Transactions on `tx`: two partitions each, two of three committed.
async fn txn_worker(addr: std::net::SocketAddr, ledger: Shared, acks: Arc<tokio::sync::Semaphore>) {
    let mut raw = Raw::connect(addr).await;
    let Some((pid, epoch)) = init_txn(&mut raw).await else {
        return;
    };
    let mut seqs = [0i32; 2];
    for i in 0.. {
        let mut r = AddPartitionsToTxnRequest::default();
        r.v3_and_below_transactional_id = TransactionalId(s(TXN_ID));
        r.v3_and_below_producer_id = ProducerId(pid);
        r.v3_and_below_producer_epoch = epoch;
        let mut at = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
        at.name = topic("tx");
        at.partitions = vec![0, 1];
        r.v3_and_below_topics = vec![at];
        let Some(resp) = try_call(&mut raw, &r, 3).await else {
            return;
        };
        for t in &resp.results_by_topic_v3_and_below {
            for p in &t.results_by_partition {
                assert_eq!(p.partition_error_code, 0, "AddPartitionsToTxn");
            }
        }
        let mut written = vec![];
        for p in 0..2 {
            let n = 1 + (i % 3) as usize;
            let mut req = produce_req("tx", p, txn_batch(pid, epoch, seqs[p as usize], n), -1);
            req.transactional_id = Some(TransactionalId(s(TXN_ID)));
            let Some(resp) = try_call(&mut raw, &req, 9).await else {
                return;
            };
            let part = &resp.responses[0].partition_responses[0];
            assert_eq!(part.error_code, 0, "transactional produce");
            seqs[p as usize] += n as i32;
            written.push((p, part.base_offset, n as i64));
        }
        let commit = i % 3 != 0;
        let mut r = EndTxnRequest::default();
        r.transactional_id = TransactionalId(s(TXN_ID));
        r.producer_id = ProducerId(pid);
        r.producer_epoch = epoch;
        r.committed = commit;
        let Some(resp) = try_call(&mut raw, &r, 3).await else {
            return;
        };
        assert_eq!(resp.error_code, 0, "EndTxn");
        ledger.lock().unwrap().txns.push((commit, written));
        acks.add_permits(1);
    }
}

/// Topic churn, DeleteRecords, CreatePartitions, compacted and retained writes.
async fn admin_worker(addr: std::net::SocketAddr, cycle: usize, ledger: Shared, acks: Arc<tokio::sync::Semaphore>) {
    let mut raw = Raw::connect(addr).await;
    for i in 0usize.. {
        match i % 5 {
            0 => {
                let n = {
                    let mut l = ledger.lock().unwrap();
                    l.next_tmp += 1;
                    l.next_tmp
                };
                let name = format!("tmp-{n}");
                let mut t = create_topics_request::CreatableTopic::default();
                t.name = topic(&name);
                t.num_partitions = 2;
                t.replication_factor = 1;
                let mut r = CreateTopicsRequest::default();
                r.topics = vec![t];
                r.timeout_ms = 5000;
                let Some(resp) = try_call(&mut raw, &r, 7).await else {
                    return;
                };
                assert_eq!(resp.topics[0].error_code, 0, "create {name}");
                ledger.lock().unwrap().created.insert(n);
                if try_produce(&mut raw, &name, 1, batch(2, now_ms(), Compression::None))
                    .await
                    .is_none()
                {
                    return;
                }
                ledger.lock().unwrap().delete_sent.insert(n);
                let mut r = DeleteTopicsRequest::default();
                r.topic_names = vec![topic(&name)];
                r.timeout_ms = 5000;
                let Some(resp) = try_call(&mut raw, &r, 4).await else {
                    return;
                };
                assert_eq!(resp.responses[0].error_code, 0, "delete {name}");
                ledger.lock().unwrap().deleted.insert(n);
            }
            1 => {
                let target = {
                    let l = ledger.lock().unwrap();
                    let top = l.data.range((2, 0)..(3, 0)).next_back().map_or(0, |((_, o), _)| *o);
                    (l.low_watermark + top) / 2
                };
                {
                    let mut l = ledger.lock().unwrap();
                    l.low_watermark_sent = l.low_watermark_sent.max(target);
                }
                let mut p = delete_records_request::DeleteRecordsPartition::default();
                p.partition_index = 2;
                p.offset = target;
                let mut t = delete_records_request::DeleteRecordsTopic::default();
                t.name = topic("data");
                t.partitions = vec![p];
                let mut r = DeleteRecordsRequest::default();
                r.topics = vec![t];
                r.timeout_ms = 5000;
                let Some(resp) = try_call(&mut raw, &r, 2).await else {
                    return;
                };
                let part = &resp.topics[0].partitions[0];
                assert_eq!(part.error_code, 0, "DeleteRecords to {target}");
                let mut l = ledger.lock().unwrap();
                l.low_watermark = l.low_watermark.max(part.low_watermark);
            }
            2 => {
                let count = ledger.lock().unwrap().grow + 1;
                if count > 40 {
                    continue;
                }
                let mut t = create_partitions_request::CreatePartitionsTopic::default();
                t.name = topic("grow");
                t.count = count;
                t.assignments = None;
                let mut r = CreatePartitionsRequest::default();
                r.topics = vec![t];
                r.timeout_ms = 5000;
                let Some(resp) = try_call(&mut raw, &r, 3).await else {
                    return;
                };
                assert_eq!(resp.results[0].error_code, 0, "CreatePartitions to {count}");
                ledger.lock().unwrap().grow = count;
            }
            3 => {
                let (key, seq) = {
                    let mut l = ledger.lock().unwrap();
                    l.compact_seq += 1;
                    (l.compact_seq % 7, l.compact_seq)
                };
                let b = keyed(&format!("k{key}"), &format!("{seq}"), 200);
                match try_produce(&mut raw, "compact", 0, b).await {
                    Some((0, _)) => {
                        let mut l = ledger.lock().unwrap();
                        let last = l.compact.entry(key).or_default();
                        *last = (*last).max(seq);
                    }
                    Some((code, _)) => panic!("produce to compact: {code}"),
                    None => return,
                }
            }
            _ => {
                let value = format!("r{cycle}-{i}");
                ledger.lock().unwrap().sent.insert(Bytes::from(value.clone()));
                match try_produce(&mut raw, "ret", 0, keyed("r", &value, 0)).await {
                    Some((0, off)) => {
                        ledger.lock().unwrap().ret.insert(off, Bytes::from(value));
                    }
                    Some((code, _)) => panic!("produce to ret: {code}"),
                    None => return,
                }
            }
        }
        acks.add_permits(1);
    }
}

/// Every record of a partition from its log start: (log start, high watermark, last stable
/// offset, offset -> (key, value)), read_uncommitted.
struct Log {
    start: i64,
    hw: i64,
    records: BTreeMap<i64, (Option<Bytes>, Bytes)>,
}

async fn read_log(raw: &mut Raw, t: &str, p: i32) -> Log {
    let mut offset = 0;
    let mut log = Log {
        start: 0,
        hw: 0,
        records: BTreeMap::new(),
    };
    for round in 0..10_000 {
        let resp: FetchResponse = raw.call(&fetch_req(t, p, offset, 0, 0), 12).await;
        let part = &resp.responses[0].partitions[0];
        if round == 0 && part.error_code == 1 {
            // OFFSET_OUT_OF_RANGE: start at the log start.
            offset = part.log_start_offset.max(0);
            let mut lo = ListOffsetsRequest::default();
            let mut lp = list_offsets_request::ListOffsetsPartition::default();
            lp.partition_index = p;
            lp.timestamp = -2;
            let mut lt = list_offsets_request::ListOffsetsTopic::default();
            lt.name = topic(t);
            lt.partitions = vec![lp];
            lo.replica_id = BrokerId(-1);
            lo.topics = vec![lt];
            offset = offset.max(raw.call(&lo, 7).await.topics[0].partitions[0].offset);
            continue;
        }
        assert_eq!(part.error_code, 0, "fetch {t}-{p} at {offset}");
        log.start = part.log_start_offset;
        log.hw = part.high_watermark;
        let records = part.records.clone().unwrap_or_default();
        if records.is_empty() {
            assert!(
                offset >= log.hw,
                "{t}-{p}: nothing served at {offset} below the high watermark {}",
                log.hw
            );
            return log;
        }
        let mut buf = records.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).expect("batches decode") {
            for r in set.records {
                if !r.control {
                    log.records.insert(r.offset, (r.key, r.value.unwrap_or_default()));
                }
                offset = offset.max(r.offset + 1);
            }
        }
    }
    panic!("{t}-{p}: the read did not end");
}

/// The offsets a read_committed consumer delivers from `tx`-`p` (Kafka's consumer: a
/// producer in the aborted list is skipped from its first offset to its abort marker),
/// asserting no transaction is open.
async fn committed_view(raw: &mut Raw, p: i32) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    let mut skipping: HashSet<i64> = HashSet::new();
    let mut offset = 0;
    for _ in 0..10_000 {
        let mut r = fetch_req("tx", p, offset, 0, 0);
        r.isolation_level = 1;
        let resp: FetchResponse = raw.call(&r, 12).await;
        let part = &resp.responses[0].partitions[0];
        assert_eq!(part.error_code, 0, "fetch tx-{p}");
        assert_eq!(
            part.last_stable_offset, part.high_watermark,
            "tx-{p}: a transaction hangs"
        );
        let Some(records) = part.records.clone().filter(|r| !r.is_empty()) else {
            return out;
        };
        let mut aborted: Vec<(i64, i64)> = part
            .aborted_transactions
            .iter()
            .flatten()
            .map(|a| (a.first_offset, a.producer_id.0))
            .collect();
        aborted.sort();
        let mut aborted = aborted.into_iter().peekable();
        let mut buf = records;
        for set in RecordBatchDecoder::decode_all(&mut buf).expect("batches decode") {
            for r in set.records {
                offset = offset.max(r.offset + 1);
                while let Some((_, pid)) = aborted.next_if(|(first, _)| *first <= r.offset) {
                    skipping.insert(pid);
                }
                if r.control {
                    skipping.remove(&r.producer_id);
                } else if !(r.transactional && skipping.contains(&r.producer_id)) {
                    out.insert(r.offset);
                }
            }
        }
    }
    panic!("tx-{p}: the read did not end");
}

async fn verify(addr: std::net::SocketAddr, data_dir: &Path, ledger: &Shared) {
    let mut raw = Raw::connect(addr).await;
    // Produce, DeleteRecords.
    for p in 0..3 {
        let log = read_log(&mut raw, "data", p).await;
        let l = ledger.lock().unwrap();
        if p == 2 {
            assert!(
                log.start >= l.low_watermark && log.start <= l.low_watermark_sent,
                "data-2: log start {} outside [acknowledged {}, sent {}]",
                log.start,
                l.low_watermark,
                l.low_watermark_sent
            );
        } else {
            assert_eq!(log.start, 0, "data-{p}: nothing deletes records here");
        }
        for ((_, o), v) in l.data.range((p, log.start)..(p + 1, 0)) {
            let got = log.records.get(o).map(|r| &r.1);
            assert_eq!(got, Some(v), "data-{p}: acknowledged offset {o} lost or changed");
        }
        if let Some(((_, top), _)) = l.data.range((p, 0)..(p + 1, 0)).next_back() {
            assert!(
                log.hw > *top,
                "data-{p}: high watermark {} not past acknowledged offset {top}",
                log.hw
            );
        }
        for (o, (_, v)) in &log.records {
            assert!(l.sent.contains(v), "data-{p} offset {o} holds {v:?}, never sent");
        }
    }
    // Retention.
    let log = read_log(&mut raw, "ret", 0).await;
    {
        let l = ledger.lock().unwrap();
        for (o, v) in l.ret.range(log.start..) {
            assert_eq!(
                log.records.get(o).map(|r| &r.1),
                Some(v),
                "ret: acknowledged offset {o} lost or changed"
            );
        }
        if let Some((top, _)) = l.ret.iter().next_back() {
            assert!(
                log.hw > *top,
                "ret: offset {top} would be reused (high watermark {})",
                log.hw
            );
        }
    }
    // Group commit.
    let mut ot = offset_fetch_request::OffsetFetchRequestTopic::default();
    ot.name = topic("data");
    ot.partition_indexes = vec![0];
    let mut r = OffsetFetchRequest::default();
    r.group_id = GroupId(s(GROUP));
    r.topics = Some(vec![ot]);
    let resp = raw.call(&r, 7).await;
    let committed = resp.topics[0].partitions[0].committed_offset;
    {
        let l = ledger.lock().unwrap();
        // Commits count up from 1; -1 is "none", allowed only while none was acknowledged.
        let in_range = committed >= l.commit.max(1) && committed <= l.commit_sent;
        assert!(
            in_range || (l.commit == 0 && committed == -1),
            "group commit {committed}: acknowledged {}, sent up to {}",
            l.commit,
            l.commit_sent
        );
    }
    // Transactions: initialising the id again ends one the crash left open.
    init_txn(&mut raw).await.expect("broker up");
    for p in 0..2 {
        let visible = committed_view(&mut raw, p).await;
        let l = ledger.lock().unwrap();
        for (commit, written) in &l.txns {
            for (q, base, n) in written.iter().filter(|w| w.0 == p) {
                for o in *base..base + n {
                    assert_eq!(
                        visible.contains(&o),
                        *commit,
                        "tx-{q} offset {o}: committed={commit} but visible={}",
                        !commit
                    );
                }
            }
        }
    }
    // Compaction keeps every key's head.
    let log = read_log(&mut raw, "compact", 0).await;
    let mut newest: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, v) in log.records.values() {
        let key: u64 = String::from_utf8_lossy(k.as_deref().unwrap_or_default())[1..]
            .parse()
            .expect("key");
        let seq: u64 = String::from_utf8_lossy(v).trim_end_matches('.').parse().expect("value");
        let e = newest.entry(key).or_default();
        *e = (*e).max(seq);
    }
    {
        let l = ledger.lock().unwrap();
        for (k, seq) in &l.compact {
            assert!(
                newest.get(k).is_some_and(|n| n >= seq),
                "compact: key {k} lost its acknowledged value {seq}"
            );
        }
    }
    // Topic deletion and CreatePartitions.
    let mut r = MetadataRequest::default();
    r.topics = None;
    let md = raw.call(&r, 12).await;
    let topics: BTreeMap<String, usize> = md
        .topics
        .iter()
        .filter_map(|t| Some((t.name.as_ref()?.to_string(), t.partitions.len())))
        .collect();
    let dirs: Vec<String> = std::fs::read_dir(data_dir)
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let mut l = ledger.lock().unwrap();
    for n in &l.deleted {
        let name = format!("tmp-{n}");
        assert!(!topics.contains_key(&name), "{name}: deletion acknowledged, topic back");
        assert!(
            !dirs.iter().any(|d| d.starts_with(&format!("{name}-"))),
            "{name}: deletion acknowledged, directory left: {dirs:?}"
        );
    }
    for n in l.created.difference(&l.delete_sent) {
        assert_eq!(
            topics.get(&format!("tmp-{n}")),
            Some(&2),
            "tmp-{n}: created, never deleted, gone or incomplete"
        );
    }
    for name in topics.keys().filter(|t| t.starts_with("tmp-")) {
        assert_eq!(topics[name], 2, "{name} is incomplete");
    }
    let grow = topics.get("grow").copied().unwrap_or(0) as i32;
    assert!(grow >= l.grow, "grow: {grow} partitions, {} acknowledged", l.grow);
    l.grow = grow;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_hold_after_every_sigkill() {
    let kills: usize = std::env::var("BROKK_TORTURE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let overrides = [
        "log.cleaner.backoff.ms=20",
        "log.retention.check.interval.ms=50",
        "log.cleaner.min.cleanable.ratio=0.01",
    ];
    let ledger: Shared = Arc::default();
    {
        let b = BrokkProcess::start(&data, &overrides);
        let mut raw = Raw::connect(b.addr()).await;
        create_topic(&mut raw, "data", 3, &[("segment.bytes", "2048")]).await;
        create_topic(&mut raw, "tx", 2, &[("segment.bytes", "2048")]).await;
        create_topic(
            &mut raw,
            "compact",
            1,
            &[("cleanup.policy", "compact"), ("segment.bytes", "2048")],
        )
        .await;
        create_topic(
            &mut raw,
            "ret",
            1,
            &[("retention.bytes", "4096"), ("segment.bytes", "1024")],
        )
        .await;
        create_topic(&mut raw, "grow", 1, &[]).await;
        ledger.lock().unwrap().grow = 1;
        b.kill();
    }
    for cycle in 0..kills {
        let b = BrokkProcess::start(&data, &overrides);
        verify(b.addr(), &data, &ledger).await;
        // Each client reaches its own number of acknowledgements before the kill, so every
        // kind of operation is cut at a different point each cycle.
        let sems: Vec<_> = (0..3).map(|_| Arc::new(tokio::sync::Semaphore::new(0))).collect();
        let workers = vec![
            tokio::spawn(producer_worker(b.addr(), cycle, ledger.clone(), sems[0].clone())),
            tokio::spawn(txn_worker(b.addr(), ledger.clone(), sems[1].clone())),
            tokio::spawn(admin_worker(b.addr(), cycle, ledger.clone(), sems[2].clone())),
        ];
        let wanted = [2 + cycle % 11, 1 + cycle % 5, 1 + (cycle * 7) % 13];
        for (sem, n) in sems.iter().zip(wanted) {
            let _ = tokio::time::timeout(TIMEOUT, sem.acquire_many(n as u32))
                .await
                .expect("acknowledgements in time");
        }
        b.kill();
        for w in workers {
            w.await.expect("worker");
        }
    }
    let b = BrokkProcess::start(&data, &overrides);
    verify(b.addr(), &data, &ledger).await;
    let l = ledger.lock().unwrap();
    eprintln!(
        "crash torture: {kills} SIGKILLs; acknowledged: {} records, {} transactions, {} topic deletions, {} compacted writes, {} retained records, commit {}, grow {}",
        l.data.len(),
        l.txns.len(),
        l.deleted.len(),
        l.compact_seq,
        l.ret.len(),
        l.commit,
        l.grow
    );
}
