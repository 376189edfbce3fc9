//! The internal topics' record decoders (`__consumer_offsets`, `__transaction_state`), which
//! start-up runs over whatever those logs hold: no panic, and what decodes encodes back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len().saturating_sub(1));
    let (key, value) = data.get(1..).unwrap_or_default().split_at(split.min(data.len().saturating_sub(1)));
    let _ = brokk::group::records::decode(key, Some(value));
    let _ = brokk::group::records::decode(key, None);
    if let Some(id) = brokk::txn::records::decode_key(key)
        && let Some(m) = brokk::txn::records::decode_value(&id, value)
    {
        let again = brokk::txn::records::value(&m);
        assert!(brokk::txn::records::decode_value(&id, &again).is_some());
    }
});
