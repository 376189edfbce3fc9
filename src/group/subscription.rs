//! Reads topic names out of consumer-protocol member metadata (Kafka's
//! `ConsumerProtocolSubscription`: `version: i16`, `topics: [string]` with an i32 count and
//! i16-length strings, then fields brokk does not need). Used for OffsetDelete's
//! GROUP_SUBSCRIBED_TO_TOPIC and offset expiration of stable consumer groups.

use std::collections::BTreeSet;

/// The subscribed topics, or `None` when `metadata` is not a consumer subscription.
pub fn topics(metadata: &[u8]) -> Option<BTreeSet<String>> {
    let mut buf = metadata;
    let version = take::<2>(&mut buf).map(i16::from_be_bytes)?;
    if version < 0 {
        return None;
    }
    let count = take::<4>(&mut buf).map(i32::from_be_bytes)?;
    // Each topic needs at least its 2-byte length: a count beyond that is a lie.
    if count < 0 || count as usize > buf.len() / 2 {
        return None;
    }
    let mut topics = BTreeSet::new();
    for _ in 0..count {
        let len = take::<2>(&mut buf).map(i16::from_be_bytes)?;
        let len = usize::try_from(len).ok()?;
        if buf.len() < len {
            return None;
        }
        let (name, rest) = buf.split_at(len);
        topics.insert(std::str::from_utf8(name).ok()?.to_string());
        buf = rest;
    }
    Some(topics)
}

fn take<const N: usize>(buf: &mut &[u8]) -> Option<[u8; N]> {
    if buf.len() < N {
        return None;
    }
    let (head, rest) = buf.split_at(N);
    *buf = rest;
    head.try_into().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes a consumer-protocol subscription (v0 layout plus trailing user data).
    pub fn subscription(topics: &[&str]) -> bytes::Bytes {
        let mut b = vec![0u8, 1];
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        bytes::Bytes::from(b)
    }

    #[test]
    fn parses_topics_and_rejects_garbage() {
        let s = subscription(&["a", "orders"]);
        assert_eq!(topics(&s).unwrap().into_iter().collect::<Vec<_>>(), ["a", "orders"]);
        assert!(topics(&[]).is_none());
        assert!(topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_none());
        assert!(topics(&s[..s.len() - 8]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = topics(&b);
        }
    }
}
