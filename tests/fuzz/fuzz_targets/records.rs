//! Produce validation and record walking, every codec: whatever the bytes, no panic; and a
//! batch the validator accepts is stored (as sent, or rebuilt where Kafka would change it)
//! in a form that reads back: it validates again with nothing left to rebuild, and brokk's
//! record decoder (the log cleaner's) reads exactly `recordsCount` records at offsets
//! `0..count`. kafka-protocol's decoder is no oracle here: it refuses what Kafka 4.1.1
//! accepts and Java and librdkafka read (xerial headers with other version fields, bytes
//! after a gzip member, header keys that are not UTF-8). The harness makes the CRC right,
//! so the fuzzer reaches the records.
#![no_main]

use brokk::log::TimestampType;
use brokk::log::record::batch::{self, BatchHeader};
use brokk::log::record::validator::{Rules, check_batch, rebuild, validate_records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 61 {
        return;
    }
    let mut b = data.to_vec();
    b[16] = 2; // magic
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[..8].copy_from_slice(&0i64.to_be_bytes());
    batch::set_crc(&mut b);
    let Ok(h) = BatchHeader::parse_unchecked(&b) else { return };
    let compacted = data[0] & 1 == 1;
    let rules = Rules {
        topic_partition: "fuzz-0",
        compacted,
        timestamp_type: if data[1] & 1 == 1 { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        now_ms: 1_700_000_000_000,
    };
    if check_batch(&h, "fuzz-0").is_err() {
        return;
    }
    let Ok(walked) = validate_records(&h, &rules) else { return };
    let stored = if walked.needs_rebuild() {
        rebuild(&h, h.attributes() & 7, None, true).expect("an accepted batch rebuilds")
    } else {
        b.clone()
    };
    let sh = BatchHeader::parse_unchecked(&stored).expect("stored batch frames");
    let again = validate_records(&sh, &rules).expect("the stored batch validates");
    assert!(again.offsets_in_order && again.canonical_lengths);
    let d = brokk::log::record::codec::decode(&sh).expect("brokk's decoder reads it");
    let offsets: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..sh.records_count() as i64).collect::<Vec<_>>());
});
