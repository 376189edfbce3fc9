//! Simulated power loss (issue 14): brokk runs as a child process on a faultfs mount
//! (`tests/faultfs`), which keeps every write that was not fsynced in memory; a power loss
//! is SIGKILL plus dropping that memory, and brokk then restarts on what was durable. Odd
//! cycles tear the unsynced pages instead (each reaches the disk whole, cut at a 512-byte
//! sector, or not at all), so recovery meets torn batches.
//!
//! - `log.flush.interval.messages=1`: every acknowledged record survives every power loss,
//!   at the offset it was acknowledged with (log/mod.rs promises this);
//! - the default (no flush policy): what survives is a prefix of each partition: offsets
//!   from 0 without holes, every record the one acknowledged (or sent) at its offset, no
//!   garbage; what is lost is only a tail that was never fsynced (log/mod.rs says the
//!   default does not survive a power loss), and the test checks that it does lose
//!   something, so the simulation is known to bite.
//!
//! Needs root and /dev/fuse (as CI has).

mod common;
mod faultfs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::process::{BrokkProcess, try_produce};
use common::*;
use faultfs::FaultFs;
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::records::Compression;

const TOPIC: &str = "pl";
const PARTITIONS: i32 = 2;
const RECORDS_PER_BATCH: usize = 3;

/// Every record of `partition` as offset -> value, read from offset 0 to the high
/// watermark (every batch must decode: no garbage is served).
async fn read_partition(addr: std::net::SocketAddr, partition: i32) -> BTreeMap<i64, Bytes> {
    let mut raw = Raw::connect(addr).await;
    let mut out = BTreeMap::new();
    let mut offset = 0;
    for _ in 0..10_000 {
        let resp: FetchResponse = raw.call(&fetch_req(TOPIC, partition, offset, 0, 0), 12).await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch of partition {partition} at {offset}");
        let records = p.records.clone().unwrap_or_default();
        if records.is_empty() {
            assert_eq!(
                offset, p.high_watermark,
                "a fetch below the high watermark returned nothing"
            );
            return out;
        }
        for (o, _, v, _) in decode_records(&records) {
            out.insert(o, v.expect("value"));
            offset = o + 1;
        }
    }
    panic!("partition {partition} did not end");
}

/// What was sent and acknowledged, per partition: value of each offset acknowledged, and
/// every value sent (acknowledged or not).
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<(i32, i64), Bytes>,
    sent: std::collections::HashSet<Bytes>,
}

fn value(cycle: usize, p: i32, seq: usize, i: usize) -> Bytes {
    Bytes::from(format!("c{cycle}-p{p}-s{seq}-r{i}"))
}

/// Produces to every partition concurrently until `acks` batches are acknowledged in total,
/// then cuts the power: SIGKILL, and the faultfs drops what was not fsynced.
async fn run_until_power_loss(
    fs: FaultFs,
    broker: BrokkProcess,
    cycle: usize,
    acks: usize,
    ledger: &Arc<Mutex<Ledger>>,
) -> u64 {
    let acked = Arc::new(tokio::sync::Semaphore::new(0));
    let mut tasks = vec![];
    for p in 0..PARTITIONS {
        let (addr, ledger, acked) = (broker.addr(), ledger.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut raw = Raw::connect(addr).await;
            for seq in 0..1_000_000 {
                let values: Vec<Bytes> = (0..RECORDS_PER_BATCH).map(|i| value(cycle, p, seq, i)).collect();
                let vs = values.clone();
                let batch = records::batch_of(RECORDS_PER_BATCH, now_ms(), Compression::None, move |i| vs[i].to_vec());
                ledger.lock().unwrap().sent.extend(values.iter().cloned());
                match try_produce(&mut raw, TOPIC, p, batch).await {
                    Some((0, base)) => {
                        let mut l = ledger.lock().unwrap();
                        for (i, v) in values.into_iter().enumerate() {
                            l.acked.insert((p, base + i as i64), v);
                        }
                        drop(l);
                        acked.add_permits(1);
                    }
                    Some((code, _)) => panic!("produce to {p} failed with {code}"),
                    None => return,
                }
            }
        }));
    }
    let _ = tokio::time::timeout(TIMEOUT, acked.acquire_many(acks as u32))
        .await
        .expect("acknowledgements in time")
        .expect("semaphore open");
    let dirty = fs.dirty_bytes();
    broker.kill();
    // Odd cycles lose power in the middle of write-back: unsynced pages reach the disk
    // whole, torn at a sector, or not at all.
    if cycle % 2 == 1 {
        fs.torn_power_loss(cycle as u64 * 7919);
    } else {
        fs.power_loss();
    }
    for t in tasks {
        t.await.expect("producer task");
    }
    dirty
}

/// Checks the restarted broker against the ledger; returns the number of acknowledged
/// records lost.
async fn check(addr: std::net::SocketAddr, ledger: &Mutex<Ledger>, every_ack_kept: bool) -> usize {
    let mut lost = 0;
    for p in 0..PARTITIONS {
        let log = read_partition(addr, p).await;
        let end = log.keys().next_back().map_or(0, |o| o + 1);
        assert_eq!(log.len() as i64, end, "partition {p}: offsets 0..{end} without holes");
        let l = ledger.lock().unwrap();
        for (o, v) in &log {
            match l.acked.get(&(p, *o)) {
                Some(acked) => assert_eq!(v, acked, "partition {p} offset {o} holds what was acknowledged"),
                None => assert!(l.sent.contains(v), "partition {p} offset {o} holds {v:?}, never sent"),
            }
        }
        let gone: Vec<i64> = l.acked.range((p, end)..(p + 1, 0)).map(|((_, o), _)| *o).collect();
        assert!(
            !every_ack_kept || gone.is_empty(),
            "partition {p}: acknowledged offsets {gone:?} lost with log.flush.interval.messages=1"
        );
        lost += gone.len();
    }
    lost
}

async fn power_loss_cycles(overrides: &[&str], every_ack_kept: bool) {
    if !faultfs::available("power_loss") {
        return;
    }
    let backing = tempfile::tempdir().unwrap();
    let mount = tempfile::tempdir().unwrap();
    let data = mount.path().join("data");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (mut lost_total, mut dirty_total) = (0, 0);
    for cycle in 0..6 {
        let fs = FaultFs::mount(backing.path(), mount.path()).expect("mount faultfs (root and /dev/fuse needed)");
        let broker = BrokkProcess::start(&data, overrides);
        if cycle == 0 {
            let mut raw = Raw::connect(broker.addr()).await;
            create_topic(&mut raw, TOPIC, PARTITIONS, &[("segment.bytes", "4096")]).await;
        }
        dirty_total += run_until_power_loss(fs, broker, cycle, 40 + 25 * cycle, &ledger).await;
        // Restart on the disk as the power loss left it, without the faultfs.
        let broker = BrokkProcess::start(&backing.path().join("data"), overrides);
        let lost = check(broker.addr(), &ledger, every_ack_kept).await;
        lost_total += lost;
        // What survived is the log now: a lost tail's offsets are assigned again by the
        // next cycle's appends.
        let mut survived = BTreeMap::new();
        for p in 0..PARTITIONS {
            for (o, v) in read_partition(broker.addr(), p).await {
                survived.insert((p, o), v);
            }
        }
        ledger.lock().unwrap().acked = survived;
        eprintln!("power loss {cycle}: {lost} acknowledged records lost");
        broker.kill();
    }
    eprintln!("power loss total: {lost_total} acknowledged records lost, {dirty_total} unsynced bytes dropped");
    if !every_ack_kept {
        assert!(
            lost_total > 0,
            "the default flush policy lost nothing: the simulated power loss does not bite"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_record_survives_power_loss_with_flush_interval_one() {
    power_loss_cycles(&["log.flush.interval.messages=1"], true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_flush_policy_loses_only_an_unsynced_tail() {
    power_loss_cycles(&[], false).await;
}
