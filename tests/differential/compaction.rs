//! Fetch limits and log compaction: what a fetch returns under `partition_max_bytes` and
//! `max_bytes` (whole batches, the first one even when larger, byte for byte), from inside
//! a batch, and what the cleaner leaves of a compacted topic (the latest value per key,
//! tombstones kept for `delete.retention.ms`, offsets unchanged).

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::records::{Record, TimestampType};

use super::common::{fetch_req, produce_req};
use super::normalise as n;
use super::pair::Pair;
use super::records::list_offsets;
use super::topics::{creatable, create};
use super::transactions::encode;

const TS0: i64 = 1_700_000_000_000;

/// One batch of keyed records (None: a tombstone) at `TS0`, without a producer id.
fn keyed(records: &[(String, Option<String>)]) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: TS0 + i as i64,
            key: Some(Bytes::from(k.clone())),
            value: v.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect();
    encode(&records)
}

/// (error, log start offset, (offset, key, value) of every record) of a fetch.
type Kept = (i16, i64, Vec<(i64, Option<Bytes>, Option<Bytes>)>);

fn kept(r: &FetchResponse) -> Kept {
    let p = &r.responses[0].partitions[0];
    let mut out = vec![];
    if let Some(b) = &p.records {
        let mut buf = b.clone();
        for set in kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).expect("decode") {
            out.extend(set.records.into_iter().map(|r| (r.offset, r.key, r.value)));
        }
    }
    (p.error_code, p.log_start_offset, out)
}

/// (error, high watermark, record bytes returned, each batch's (base offset, length) as
/// its header says, the last one possibly cut off).
fn shape(r: &FetchResponse) -> (i16, i64, usize, Vec<(i64, i32)>) {
    let p = &r.responses[0].partitions[0];
    let b = p.records.clone().unwrap_or_default();
    let mut batches = vec![];
    let mut at = 0;
    while at + 12 <= b.len() {
        let base = i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(b[at + 8..at + 12].try_into().expect("4 bytes"));
        batches.push((base, len));
        at += 12 + len.max(0) as usize;
    }
    (p.error_code, p.high_watermark, b.len(), batches)
}

pub async fn fetch_limits_and_compaction(p: &mut Pair) {
    let t = p.topic("cmp");
    let configs = [
        ("cleanup.policy", Some("compact")),
        ("segment.bytes", Some("1048576")),
        ("min.cleanable.dirty.ratio", Some("0.01")),
        ("min.compaction.lag.ms", Some("0")),
    ];
    p.same(
        "CreateTopics, compacted",
        &create(vec![creatable(&t, 1, 1, &configs)], false),
        7,
        n::create_topics,
    )
    .await;
    // The limits are read from a topic the cleaner leaves alone, holding the same records.
    let lim = p.topic("lim");
    p.same(
        "CreateTopics",
        &create(vec![creatable(&lim, 1, 1, &[])], false),
        7,
        n::create_topics,
    )
    .await;
    p.await_leaders(&[&t, &lim]).await;
    // Five batches of 250 records of ~1 KiB over 40 keys (more than a segment: the first
    // rolls), the last one with tombstones for 5 keys.
    let mut written = 0;
    for round in 0..5 {
        let records: Vec<(String, Option<String>)> = (0..250)
            .map(|i| {
                let key = format!("k{}", (round * 250 + i) % 40);
                let tombstone = round == 4 && i < 5;
                (key, (!tombstone).then(|| format!("r{round}-{i}-{}", "x".repeat(1000))))
            })
            .collect();
        p.same(
            "Produce of keyed records",
            &produce_req(&t, 0, keyed(&records), -1),
            9,
            n::produce,
        )
        .await;
        p.same(
            "Produce of the same records",
            &produce_req(&lim, 0, keyed(&records), -1),
            9,
            n::produce,
        )
        .await;
        written += records.len();
    }
    // Fetch limits.
    for (what, partition_max, max, offset) in [
        ("Fetch with a partition limit below one batch", 100, 50 << 20, 0),
        ("Fetch with a response limit below one batch", 1 << 20, 1, 0),
        (
            "Fetch with a partition limit of two and a half batches",
            650_000,
            50 << 20,
            0,
        ),
        ("Fetch from inside a batch", 1 << 20, 50 << 20, 300),
    ] {
        let mut req = fetch_req(&lim, 0, offset, 0, 0);
        req.max_bytes = max;
        req.topics[0].partitions[0].partition_max_bytes = partition_max;
        let (k, b) = p.both(&req, 12).await;
        p.check(&format!("{what}: bytes and batches"), &shape(&k), &shape(&b));
        if shape(&k).2 == shape(&b).2 {
            p.check(
                &format!("{what}: the bytes"),
                &k.responses[0].partitions[0].records,
                &b.responses[0].partitions[0].records,
            );
        }
    }
    // The cleaner: wait for brokk's (no event a client can await), then Kafka's to match.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = p.brokk.call(&fetch_req(&t, 0, 0, 0, 0), 12).await;
        if kept(&r).2.len() < written {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "brokk's cleaner did not compact {t} in 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Both cleaners may take more than one round: both are asked again (bounded) until
    // they agree; the last answers are compared.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut k, mut b) = p.both(&fetch_req(&t, 0, 0, 0, 0), 12).await;
    while kept(&k) != kept(&b) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        (k, b) = p.both(&fetch_req(&t, 0, 0, 0, 0), 12).await;
    }
    p.check("Fetch of the compacted log (v12)", &kept(&k), &kept(&b));
    p.same(
        "ListOffsets after compaction",
        &list_offsets(&t, &[(0, -2)], 0),
        7,
        n::list_offsets,
    )
    .await;
}
