//! One client connection: i32 length-prefixed frames, one request in flight at a time
//! (responses stay in request order, like Kafka's mute/unmute), closed on a malformed frame.
//!
//! Owns: reading frames within `socket.request.max.bytes`, writing responses, and closing
//! on protocol errors. A bad frame affects only this connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{FrameError, codec, dispatch};
use crate::broker::Broker;

/// Serves one connection until the peer closes, a frame is malformed, or shutdown.
pub async fn run(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let max = broker.config().max_request_bytes;
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd, max) => f,
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
        let result = match codec::decode_header(frame.freeze()) {
            Ok(req) => dispatch::dispatch(&broker, req, peer).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(resp)) => {
                if let Err(e) = wr.write_all(&resp).await {
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

/// Reads one frame body; `None` on a clean EOF between frames.
async fn read_frame<R: AsyncReadExt + Unpin>(rd: &mut R, max: usize) -> Result<Option<BytesMut>, FrameError> {
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(len);
    if size < 0 || size as usize > max {
        return Err(FrameError::BadSize { size, max });
    }
    let mut buf = BytesMut::zeroed(size as usize);
    rd.read_exact(&mut buf).await?;
    Ok(Some(buf))
}
