//! Kafka's framing for the quorum's messages: a request is `size: i32`, header v2
//! (`api_key: i16, api_version: i16, correlation_id: i32, client_id: nullable string`,
//! no tagged fields) and the body; an answer is `size: i32`, header v1 (`correlation_id:
//! i32`, no tagged fields) and the body. A frame larger than Kafka's default
//! `socket.request.max.bytes` (100 MiB) closes the connection.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Kafka's `socket.request.max.bytes` default.
pub const MAX_FRAME: usize = 100 * 1024 * 1024;

/// A request's header fields and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub body: Vec<u8>,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

async fn read_sized<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size).map_err(|_| invalid("a negative frame size"))?;
    if size > MAX_FRAME {
        return Err(invalid("a frame above socket.request.max.bytes"));
    }
    let mut buf = vec![0u8; size];
    r.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

/// Writes one request.
pub async fn write_request<W: AsyncWrite + Unpin>(
    w: &mut W,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 32);
    let header_len = 2 + 2 + 4 + 2 + client_id.len() + 1;
    let size = i32::try_from(header_len + body.len()).map_err(|_| invalid("a request too large"))?;
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&api_key.to_be_bytes());
    out.extend_from_slice(&api_version.to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    out.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    out.extend_from_slice(client_id.as_bytes());
    out.push(0);
    out.extend_from_slice(body);
    w.write_all(&out).await?;
    w.flush().await
}

/// Reads one request; `None` at a clean end of stream.
pub async fn read_request<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<Option<RequestFrame>> {
    let Some(buf) = read_sized(r).await? else {
        return Ok(None);
    };
    if buf.len() < 11 {
        return Err(invalid("a request header cut short"));
    }
    let api_key = i16::from_be_bytes([buf[0], buf[1]]);
    let api_version = i16::from_be_bytes([buf[2], buf[3]]);
    let correlation_id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let client_len = i16::from_be_bytes([buf[8], buf[9]]);
    let mut at = 10 + usize::try_from(client_len).unwrap_or(0);
    if buf.len() <= at || buf[at] != 0 {
        return Err(invalid("a request header with tagged fields or cut short"));
    }
    at += 1;
    Ok(Some(RequestFrame {
        api_key,
        api_version,
        correlation_id,
        body: buf[at..].to_vec(),
    }))
}

/// Writes one answer.
pub async fn write_response<W: AsyncWrite + Unpin>(w: &mut W, correlation_id: i32, body: &[u8]) -> io::Result<()> {
    let size = i32::try_from(5 + body.len()).map_err(|_| invalid("an answer too large"))?;
    let mut out = Vec::with_capacity(body.len() + 9);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    out.push(0);
    out.extend_from_slice(body);
    w.write_all(&out).await?;
    w.flush().await
}

/// Reads one answer: (correlation id, body).
pub async fn read_response<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<(i32, Vec<u8>)> {
    let buf = read_sized(r)
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed"))?;
    if buf.len() < 5 || buf[4] != 0 {
        return Err(invalid("an answer header cut short or with tagged fields"));
    }
    Ok((i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]), buf[5..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused() {
        let mut buf = vec![];
        write_request(&mut buf, 32_000, 0, 7, "brokk-controller-1", b"body")
            .await
            .unwrap();
        let f = read_request(&mut buf.as_slice()).await.unwrap().unwrap();
        assert_eq!(
            (f.api_key, f.api_version, f.correlation_id, f.body.as_slice()),
            (32_000, 0, 7, &b"body"[..])
        );
        let mut buf = vec![];
        write_response(&mut buf, 7, b"answer").await.unwrap();
        assert_eq!(
            read_response(&mut buf.as_slice()).await.unwrap(),
            (7, b"answer".to_vec())
        );
        assert!(read_request(&mut &[][..]).await.unwrap().is_none());
        let huge = ((MAX_FRAME + 1) as i32).to_be_bytes();
        assert!(read_request(&mut &huge[..]).await.is_err());
    }
}
