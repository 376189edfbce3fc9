//! Request header decoding and response framing.
//!
//! Owns: turning one frame's bytes into (api key, version, header, body) and a typed
//! response back into a length-prefixed frame. Header versions follow kafka-protocol's
//! per-API table (ApiVersions responses always use header v0, as Kafka).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use super::FrameError;

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

/// Encodes a full response frame: length prefix, response header, body.
pub fn encode_response<R: Encodable + HeaderVersion>(
    api_key: ApiKey,
    correlation_id: i32,
    version: i16,
    resp: &R,
) -> Result<BytesMut, FrameError> {
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
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| FrameError::Encode(format!("{api_key:?} header: {e}")))?;
    resp.encode(&mut buf, version)
        .map_err(|e| FrameError::Encode(format!("{api_key:?} v{version}: {e}")))?;
    Ok(buf)
}
