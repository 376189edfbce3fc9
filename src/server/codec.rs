//! Request header decoding and response framing.
//!
//! Owns: turning one frame's bytes into (api key, version, header, body) and a typed
//! response back into a length-prefixed frame. Header versions follow kafka-protocol's
//! per-API table (ApiVersions responses always use header v0, as Kafka).

use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes};
use kafka_protocol::messages::{ApiKey, FetchResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::FrameError;
use super::shared_buf::SharedBuf;

/// A request whose header is decoded and whose body is not yet.
#[derive(Debug)]
pub struct RequestFrame {
    pub api_key: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: Bytes,
}

/// Decodes the request header of `frame` (which excludes the length prefix).
pub fn decode_header(mut frame: Bytes) -> Result<RequestFrame, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::Malformed("request shorter than a header".into()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey(key))?;
    let header_version = api_key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| FrameError::Malformed(format!("request header: {e}")))?;
    Ok(RequestFrame {
        api_key,
        version,
        header,
        body: frame,
    })
}

/// Decodes a request body of type `T` at `version`. Trailing bytes are rejected, as
/// Kafka does.
pub fn decode_body<T: Decodable>(frame: &mut RequestFrame) -> Result<T, FrameError> {
    let body = T::decode(&mut frame.body, frame.version)
        .map_err(|e| FrameError::Malformed(format!("{:?} v{} body: {e}", frame.api_key, frame.version)))?;
    Ok(body)
}

/// An encoded response frame (length prefix included), as parts for one vectored write:
/// owned encodings of the fields, and shared record sets served straight from the log.
#[derive(Debug)]
pub struct ResponseFrame {
    parts: Vec<Bytes>,
}

impl ResponseFrame {
    /// The frame's length, prefix included.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as one contiguous buffer (copies; for tests and tools).
    pub fn to_bytes(&self) -> Bytes {
        match self.parts.as_slice() {
            [one] => one.clone(),
            parts => parts.concat().into(),
        }
    }

    /// Writes the whole frame, at most [`MAX_IOVECS`] parts per system call.
    pub async fn write_to<W: AsyncWrite + Unpin>(mut self, w: &mut W) -> std::io::Result<()> {
        if let [one] = self.parts.as_slice() {
            return w.write_all(one).await;
        }
        let mut at = 0;
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(self.parts.len().min(MAX_IOVECS));
        while at < self.parts.len() {
            slices.clear();
            slices.extend(self.parts[at..].iter().take(MAX_IOVECS).map(|p| IoSlice::new(p)));
            let mut n = w.write_vectored(&slices).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            drop(slices);
            while n > 0 && at < self.parts.len() {
                let len = self.parts[at].len();
                if n >= len {
                    n -= len;
                    at += 1;
                } else {
                    self.parts[at].advance(n);
                    n = 0;
                }
            }
            slices = Vec::with_capacity(self.parts.len().saturating_sub(at).min(MAX_IOVECS));
        }
        Ok(())
    }
}

/// Parts per vectored write (Linux allows 1024).
pub const MAX_IOVECS: usize = 64;

/// Record sets shorter than this are copied into the frame rather than sent as their own
/// part: an iovec costs more than copying a few hundred bytes.
const SHARE_FROM: usize = 512;

/// Encodes a full response frame: length prefix, response header, body.
pub fn encode_response<R: Encodable + HeaderVersion>(
    api_key: ApiKey,
    correlation_id: i32,
    version: i16,
    resp: &R,
) -> Result<ResponseFrame, FrameError> {
    encode_sharing(api_key, correlation_id, version, resp, Vec::new())
}

/// Encodes a Fetch response, sending its record sets from where they lie (the segment
/// mappings) instead of copying them into the frame.
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    resp: &FetchResponse,
) -> Result<ResponseFrame, FrameError> {
    let shared = resp
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|p| p.records.as_ref())
        .filter(|r| r.len() >= SHARE_FROM)
        .cloned()
        .collect();
    encode_sharing(ApiKey::Fetch, correlation_id, version, resp, shared)
}

/// Encodes a frame whose `shared` payloads (in encoding order) become parts of their own.
fn encode_sharing<R: Encodable + HeaderVersion>(
    api_key: ApiKey,
    correlation_id: i32,
    version: i16,
    resp: &R,
    shared: Vec<Bytes>,
) -> Result<ResponseFrame, FrameError> {
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        R::header_version(version)
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + resp.compute_size(version)?));
    let size = size.map_err(|e| FrameError::Encode(format!("{api_key:?} v{version}: {e}")))?;
    if size > i32::MAX as usize {
        return Err(FrameError::Encode(format!(
            "{api_key:?} v{version}: response of {size} bytes exceeds a frame"
        )));
    }
    let shared_len: usize = shared.iter().map(Bytes::len).sum();
    let mut buf = SharedBuf::new(4 + size - shared_len.min(size), shared);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| FrameError::Encode(format!("{api_key:?} header: {e}")))?;
    resp.encode(&mut buf, version)
        .map_err(|e| FrameError::Encode(format!("{api_key:?} v{version}: {e}")))?;
    let parts = buf
        .finish()
        .ok_or_else(|| FrameError::Encode(format!("{api_key:?} v{version}: encoder wrote behind a shared part")))?;
    Ok(ResponseFrame { parts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use tokio::io::AsyncReadExt;

    fn fetch_response() -> (FetchResponse, Bytes) {
        let big = Bytes::from((0..70_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let part = |index: i32, records: Option<Bytes>| {
            let mut p = PartitionData::default();
            p.partition_index = index;
            p.high_watermark = 99;
            p.last_stable_offset = 98;
            p.log_start_offset = 3;
            p.preferred_read_replica = BrokerId(-1);
            let mut a = AbortedTransaction::default();
            a.producer_id = ProducerId(7);
            a.first_offset = 11;
            p.aborted_transactions = Some(vec![a]);
            p.records = records;
            p
        };
        let mut t1 = FetchableTopicResponse::default();
        t1.topic = TopicName(StrBytes::from_static_str("a"));
        t1.topic_id = uuid::Uuid::from_u128(5);
        t1.partitions = vec![
            part(0, Some(big.slice(0..1000))),
            part(1, Some(big.slice(..10))), // copied: under SHARE_FROM
            part(2, None),
            part(3, Some(Bytes::new())),
        ];
        let mut t2 = t1.clone();
        t2.partitions = vec![part(0, Some(big.slice(1000..))), part(1, Some(big.slice(1000..)))];
        let mut r = FetchResponse::default();
        r.responses = vec![t1, t2];
        (r, big)
    }

    /// The shared encoding is byte-for-byte kafka-protocol's, at every Fetch version, and
    /// really shares the large record sets.
    #[tokio::test]
    async fn fetch_frames_match_kafka_protocol_at_every_version() {
        for version in 4..=18 {
            let (resp, big) = fetch_response();
            let header_version = FetchResponse::header_version(version);
            let header = ResponseHeader::default().with_correlation_id(42);
            let size = header.compute_size(header_version).unwrap() + resp.compute_size(version).unwrap();
            let mut expected = bytes::BytesMut::new();
            expected.put_i32(size as i32);
            header.encode(&mut expected, header_version).unwrap();
            resp.encode(&mut expected, version).unwrap();

            let frame = encode_fetch_response(42, version, &resp).unwrap();
            assert_eq!(frame.len(), expected.len(), "v{version}");
            assert_eq!(frame.to_bytes(), expected.freeze(), "v{version}");
            let inside = |p: &Bytes| {
                let at = p.as_ptr() as usize;
                at >= big.as_ptr() as usize && at < big.as_ptr() as usize + big.len()
            };
            assert_eq!(frame.parts.iter().filter(|p| inside(p)).count(), 3, "v{version}");

            // A vectored write through a small pipe delivers the same bytes.
            let (mut a, mut b) = tokio::io::duplex(4096);
            let want = frame.to_bytes();
            let writer = tokio::spawn(async move { frame.write_to(&mut a).await });
            let mut got = vec![];
            b.read_to_end(&mut got).await.unwrap();
            writer.await.unwrap().unwrap();
            assert_eq!(got, want, "v{version}");
        }
    }

    #[test]
    fn other_responses_are_one_part() {
        let r = kafka_protocol::messages::HeartbeatResponse::default();
        let f = encode_response(ApiKey::Heartbeat, 1, 4, &r).unwrap();
        assert_eq!(f.parts.len(), 1);
        assert_eq!(f.len(), 4 + 4 + 1 + 4 + 2 + 1);
    }
}
