//! One client connection: i32 length-prefixed frames, one request handled at a time
//! (responses stay in request order, like Kafka's mute/unmute), closed on a malformed frame.
//! Unlike Kafka, Produce responses waiting only for their fsyncs are parked while the next
//! Produce is read and appended, so an fsync-per-batch producer's in-flight requests share
//! fsyncs (see [`run`]).
//!
//! Owns: reading frames within `socket.request.max.bytes`, writing responses, and closing
//! on protocol errors. A bad frame affects only this connection.
//!
//! Memory and time are bounded whatever a peer announces: a frame's buffer grows as its
//! bytes arrive (never to the announced size up front); with `queued.max.request.bytes` set,
//! a request's bytes are taken from a broker-wide [`RequestMemory`] pool before its body is
//! read and given back once it is handled (a connection waits for room, as Kafka mutes one);
//! and a connection is closed when no request starts within `connections.max.idle.ms`, or
//! when a request is not wholly read within that time after its size arrived.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

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
pub async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    memory: RequestMemory,
    mut shutdown: watch::Receiver<bool>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut frames = FrameReader::new(
        rd,
        broker.config().max_request_bytes,
        Duration::from_millis(broker.config().connections_max_idle_ms),
        memory,
    );
    let mut pending: VecDeque<Parked> = VecDeque::new();
    loop {
        let frame = tokio::select! {
            biased;
            done = next_parked(&mut pending), if !pending.is_empty() => {
                pending.pop_front();
                if !send(&mut wr, peer, done).await {
                    return;
                }
                frames.active();
                continue;
            }
            f = frames.next(), if pending.len() < MAX_PENDING => f,
            _ = shutdown.changed() => {
                drain(&mut wr, peer, &mut pending).await;
                return;
            }
        };
        // The request's pooled memory is given back when it has been handled.
        let (frame, _memory) = match frame {
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
                frames.active();
            }
            // Behind parked responses: answered in order.
            Ok(Reply::Now(resp)) => pending.push_back(Box::pin(std::future::ready(Ok(resp)))),
            Ok(Reply::Later(later)) => pending.push_back(later),
            Ok(Reply::None) => frames.active(),
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

/// The broker-wide budget of request bytes being read or handled (`queued.max.request.bytes`);
/// `None` is unbounded (Kafka's default, -1).
#[derive(Clone, Debug)]
pub struct RequestMemory(Option<(Arc<Semaphore>, usize)>);

impl RequestMemory {
    /// A pool of `bytes` (at most `u32::MAX`, the most one wait can ask for), or unbounded.
    pub fn new(bytes: Option<usize>) -> Self {
        Self(bytes.map(|b| {
            let b = b.clamp(1, u32::MAX as usize);
            (Arc::new(Semaphore::new(b)), b)
        }))
    }

    /// Waits until `size` bytes are free (a request larger than the whole pool waits for all
    /// of it, so it still goes through, alone).
    async fn take(&self, size: usize) -> Option<OwnedSemaphorePermit> {
        let (pool, cap) = self.0.as_ref()?;
        let n = size.clamp(1, *cap) as u32;
        pool.clone().acquire_many_owned(n).await.ok()
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
    /// `connections.max.idle.ms`.
    idle: Duration,
    memory: RequestMemory,
    /// When the connection last finished something (a request read, a response written).
    last_active: Instant,
    /// The frame being read: its pooled memory and the deadline for its last byte. Kept
    /// here because `next` may be cancelled (a parked response became ready) and resumed.
    current: Option<(Option<OwnedSemaphorePermit>, Instant)>,
}

impl FrameReader {
    fn new(rd: OwnedReadHalf, max: usize, idle: Duration, memory: RequestMemory) -> Self {
        Self {
            rd,
            buf: BytesMut::new(),
            max,
            idle,
            memory,
            last_active: Instant::now(),
            current: None,
        }
    }

    /// The connection did something: its idle time starts again.
    fn active(&mut self) {
        self.last_active = Instant::now();
    }

    /// The next frame body with its pooled memory; `None` on a clean EOF between frames.
    async fn next(&mut self) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, FrameError> {
        const READ: usize = 64 * 1024;
        loop {
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if size < 0 || size as usize > self.max {
                    return Err(FrameError::BadSize { size, max: self.max });
                }
                let need = 4 + size as usize;
                if self.current.is_none() {
                    let permit = self.memory.take(need).await;
                    self.current = Some((permit, Instant::now() + self.idle));
                }
                if self.buf.len() >= need {
                    let mut frame = self.buf.split_to(need);
                    let _ = frame.split_to(4);
                    let permit = self.current.take().and_then(|(p, _)| p);
                    self.active();
                    return Ok(Some((frame.freeze(), permit)));
                }
                // Grow with what arrives (at most doubling), never to the announced size.
                self.buf.reserve((need - self.buf.len()).min(self.buf.len().max(READ)));
            } else {
                self.buf.reserve(READ);
            }
            let deadline = match &self.current {
                Some((_, d)) => *d,
                None => self.last_active + self.idle,
            };
            let read = tokio::time::timeout_at(deadline, self.rd.read_buf(&mut self.buf)).await;
            let n = match read {
                Ok(r) => r?,
                Err(_) => {
                    let what = if self.buf.is_empty() {
                        "no request within connections.max.idle.ms"
                    } else {
                        "request not completely read within connections.max.idle.ms"
                    };
                    return Err(FrameError::Timeout(what));
                }
            };
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into())
                };
            }
        }
    }
}
