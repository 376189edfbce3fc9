//! One client connection: i32 length-prefixed frames, one request in flight at a time
//! (responses stay in request order, like Kafka's mute/unmute), closed on a malformed frame.
//!
//! Owns: reading frames within `socket.request.max.bytes`, writing responses, and closing
//! on protocol errors. A bad frame affects only this connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::watch;

use super::{FrameError, codec, dispatch};
use crate::broker::Broker;

/// Serves one connection until the peer closes, a frame is malformed, or shutdown.
pub async fn run(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let (rd, mut wr) = stream.into_split();
    let mut frames = FrameReader {
        rd,
        buf: BytesMut::new(),
        max: broker.config().max_request_bytes,
    };
    loop {
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = shutdown.changed() => return,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "closing connection");
                return;
            }
        };
        let result = match codec::decode_header(frame) {
            Ok(req) => dispatch::dispatch(&broker, req, peer).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(resp)) => {
                if let Err(e) = resp.write_to(&mut wr).await {
                    tracing::debug!(%peer, error = %e, "write failed");
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection after a bad request");
                return;
            }
        }
    }
}

/// Splits the byte stream into request frames. One buffer per connection is reused: a
/// frame is a frozen slice of it (its records are appended straight from there), and once
/// the request is done the space is reclaimed for the next read, so no request allocates,
/// zeroes or faults in fresh memory. Bytes of the next frame read early stay buffered.
struct FrameReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    /// The next frame body; `None` on a clean EOF between frames.
    async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        const READ: usize = 64 * 1024;
        loop {
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if size < 0 || size as usize > self.max {
                    return Err(FrameError::BadSize { size, max: self.max });
                }
                let need = 4 + size as usize;
                if self.buf.len() >= need {
                    let mut frame = self.buf.split_to(need);
                    let _ = frame.split_to(4);
                    return Ok(Some(frame.freeze()));
                }
                self.buf.reserve((need - self.buf.len()).max(READ));
            } else {
                self.buf.reserve(READ);
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into())
                };
            }
        }
    }
}
