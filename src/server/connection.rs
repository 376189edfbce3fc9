//! One client connection: i32 length-prefixed frames, one request handled at a time
//! (responses stay in request order, like Kafka's mute/unmute), closed on a malformed frame.
//! Unlike Kafka, Produce responses waiting only for their fsyncs are parked while the next
//! Produce is read and appended, so an fsync-per-batch producer's in-flight requests share
//! fsyncs (see [`run`]).
//!
//! Owns: reading frames within `socket.request.max.bytes`, writing responses, and closing
//! on protocol errors. A bad frame affects only this connection.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use super::codec::ResponseFrame;
use super::dispatch::Reply;
use super::{FrameError, codec, dispatch};
use crate::broker::Broker;

/// Produce responses that may wait for their fsyncs at once on one connection.
const MAX_PENDING: usize = 16;

/// Serves one connection until the peer closes, a frame is malformed, or shutdown.
///
/// Requests are handled one at a time and answered in order. The one exception keeps
/// fsync-per-batch producers fast: a Produce whose appends are done but whose fsyncs are
/// not yet ([`Reply::Later`]) is parked, and the next request is read meanwhile. Another
/// Produce is handled at once (its appends land after the parked ones, and one fsync can
/// cover them all); anything else first waits for every parked response to go out.
pub async fn run(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let (rd, mut wr) = stream.into_split();
    let mut frames = FrameReader {
        rd,
        buf: BytesMut::new(),
        max: broker.config().max_request_bytes,
    };
    let mut pending: VecDeque<Parked> = VecDeque::new();
    loop {
        let frame = tokio::select! {
            biased;
            done = next_parked(&mut pending), if !pending.is_empty() => {
                pending.pop_front();
                if !send(&mut wr, peer, done).await {
                    return;
                }
                continue;
            }
            f = frames.next(), if pending.len() < MAX_PENDING => f,
            _ = shutdown.changed() => {
                drain(&mut wr, peer, &mut pending).await;
                return;
            }
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => {
                drain(&mut wr, peer, &mut pending).await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "closing connection");
                drain(&mut wr, peer, &mut pending).await;
                return;
            }
        };
        let result = match codec::decode_header(frame) {
            Ok(req) => {
                if req.api_key != ApiKey::Produce && !drain(&mut wr, peer, &mut pending).await {
                    return;
                }
                dispatch::dispatch(&broker, req, peer).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Reply::Now(resp)) if pending.is_empty() => {
                if !send(&mut wr, peer, Ok(resp)).await {
                    return;
                }
            }
            // Behind parked responses: answered in order.
            Ok(Reply::Now(resp)) => pending.push_back(Box::pin(std::future::ready(Ok(resp)))),
            Ok(Reply::Later(later)) => pending.push_back(later),
            Ok(Reply::None) => {}
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection after a bad request");
                drain(&mut wr, peer, &mut pending).await;
                return;
            }
        }
    }
}

/// A parked response.
type Parked = Pin<Box<dyn Future<Output = Result<ResponseFrame, FrameError>> + Send>>;

/// The oldest parked response, once ready (never, if none is parked).
async fn next_parked(pending: &mut VecDeque<Parked>) -> Result<ResponseFrame, FrameError> {
    match pending.front_mut() {
        Some(p) => p.await,
        None => std::future::pending().await,
    }
}

/// Writes one response; false if the connection must close.
async fn send(wr: &mut OwnedWriteHalf, peer: SocketAddr, resp: Result<ResponseFrame, FrameError>) -> bool {
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(%peer, error = %e, "closing connection: response not encodable");
            return false;
        }
    };
    if let Err(e) = resp.write_to(wr).await {
        tracing::debug!(%peer, error = %e, "write failed");
        return false;
    }
    true
}

/// Waits for and writes every parked response, in order; false if the connection must
/// close. Requests handled before a close are answered before it.
async fn drain(wr: &mut OwnedWriteHalf, peer: SocketAddr, pending: &mut VecDeque<Parked>) -> bool {
    while let Some(later) = pending.pop_front() {
        if !send(wr, peer, later.await).await {
            return false;
        }
    }
    true
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
