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
//! read, as Kafka's non-strict `SimpleMemoryPool` (any free byte lets a request in; while
//! the pool is overdrawn no connection reads a new request), and given back once it is
//! parsed (a Produce: once appended); and a connection on which nothing was read or written
//! for `connections.max.idle.ms` is closed, as Kafka's idle expiry, whether it is between
//! requests, in the middle of one, or not reading its responses.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use tokio::sync::{Notify, watch};
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
    listener: Arc<str>,
    broker: Arc<Broker>,
    memory: RequestMemory,
    mut shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = stream.into_split();
    let idle = broker.config().connections_max_idle_ms.map(Duration::from_millis);
    let mut wr = Writer { wr, peer, idle };
    let mut frames = FrameReader::new(rd, broker.config().max_request_bytes, idle, memory);
    let mut pending: VecDeque<Parked> = VecDeque::new();
    loop {
        let frame = tokio::select! {
            biased;
            done = next_parked(&mut pending), if !pending.is_empty() => {
                pending.pop_front();
                if !wr.send(done).await {
                    return;
                }
                frames.active();
                continue;
            }
            f = frames.next(), if pending.len() < MAX_PENDING => f,
            _ = shutdown.changed() => {
                wr.drain(&mut pending).await;
                return;
            }
        };
        let (frame, memory) = match frame {
            Ok(Some(f)) => f,
            Ok(None) => {
                wr.drain(&mut pending).await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "closing connection");
                wr.drain(&mut pending).await;
                return;
            }
        };
        let result = match codec::decode_header(frame) {
            Ok(req) => {
                // Kafka gives a request's pooled memory back once it is parsed, a Produce's
                // once it is appended (its records are appended from the frame).
                let memory = (req.api_key == ApiKey::Produce).then_some(memory);
                if req.api_key != ApiKey::Produce && !wr.drain(&mut pending).await {
                    return;
                }
                let r = dispatch::dispatch(&broker, req, peer, &listener).await;
                drop(memory);
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Reply::Now(resp)) if pending.is_empty() => {
                if !wr.send(Ok(resp)).await {
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
                wr.drain(&mut pending).await;
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

/// The connection's write side.
struct Writer {
    wr: OwnedWriteHalf,
    peer: SocketAddr,
    /// `connections.max.idle.ms`: a peer that reads nothing of a response for that long is
    /// dropped (Kafka's idle expiry counts writes as activity, and so a stuck write as none).
    idle: Option<Duration>,
}

impl Writer {
    /// Writes one response; false if the connection must close.
    async fn send(&mut self, resp: Result<ResponseFrame, FrameError>) -> bool {
        let peer = self.peer;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection: response not encodable");
                return false;
            }
        };
        let written = match self.idle {
            Some(idle) => tokio::time::timeout(idle, resp.write_to(&mut self.wr))
                .await
                .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut))),
            None => resp.write_to(&mut self.wr).await,
        };
        if let Err(e) = written {
            tracing::debug!(%peer, error = %e, "write failed");
            return false;
        }
        true
    }

    /// Waits for and writes every parked response, in order; false if the connection must
    /// close. Requests handled before a close are answered before it.
    async fn drain(&mut self, pending: &mut VecDeque<Parked>) -> bool {
        while let Some(later) = pending.pop_front() {
            if !self.send(later.await).await {
                return false;
            }
        }
        true
    }
}

/// The broker-wide budget of request bytes being read or handled (`queued.max.request.bytes`),
/// as Kafka's non-strict `SimpleMemoryPool`: a request is let in whenever any byte is free,
/// and may overdraw the pool; while it is overdrawn, no connection reads a new request.
/// `None` is unbounded (Kafka's default, -1).
#[derive(Clone, Debug)]
pub struct RequestMemory(Option<Arc<Pool>>);

#[derive(Debug)]
struct Pool {
    available: AtomicI64,
    freed: Notify,
}

/// Bytes taken from the pool, given back on drop.
pub struct MemoryPermit {
    pool: Arc<Pool>,
    bytes: i64,
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        self.pool.available.fetch_add(self.bytes, Ordering::AcqRel);
        self.pool.freed.notify_waiters();
    }
}

impl RequestMemory {
    /// A pool of `bytes`, or unbounded.
    pub fn new(bytes: Option<usize>) -> Self {
        Self(bytes.map(|b| {
            Arc::new(Pool {
                available: AtomicI64::new(b.min(i64::MAX as usize) as i64),
                freed: Notify::new(),
            })
        }))
    }

    /// The bytes free now (negative: overdrawn); `None` when unbounded.
    pub fn available(&self) -> Option<i64> {
        self.0.as_ref().map(|p| p.available.load(Ordering::Acquire))
    }

    /// Waits until some of the pool is free, then takes `size` bytes of it. Cancel-safe:
    /// nothing is taken until it returns.
    async fn take(&self, size: usize) -> Option<MemoryPermit> {
        let pool = self.0.as_ref()?;
        let bytes = size as i64;
        loop {
            let freed = pool.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a release in between is not missed.
            freed.as_mut().enable();
            let took = pool
                .available
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| (a > 0).then(|| a - bytes));
            if took.is_ok() {
                return Some(MemoryPermit {
                    pool: pool.clone(),
                    bytes,
                });
            }
            freed.await;
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
    /// `connections.max.idle.ms` (`None`: never expire).
    idle: Option<Duration>,
    memory: RequestMemory,
    /// When a byte was last read or a request last finished (Kafka's idle expiry resets on
    /// any read or write).
    last_active: Instant,
    /// The pooled memory of the frame being read. Kept here because `next` may be
    /// cancelled (a parked response became ready) and called again.
    permit: Option<Option<MemoryPermit>>,
}

impl FrameReader {
    fn new(rd: OwnedReadHalf, max: usize, idle: Option<Duration>, memory: RequestMemory) -> Self {
        Self {
            rd,
            buf: BytesMut::new(),
            max,
            idle,
            memory,
            last_active: Instant::now(),
            permit: None,
        }
    }

    /// The connection did something: its idle time starts again.
    fn active(&mut self) {
        self.last_active = Instant::now();
    }

    /// The next frame body with its pooled memory; `None` on a clean EOF between frames.
    async fn next(&mut self) -> Result<Option<(Bytes, Option<MemoryPermit>)>, FrameError> {
        const READ: usize = 64 * 1024;
        loop {
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if size < 0 || size as usize > self.max {
                    return Err(FrameError::BadSize { size, max: self.max });
                }
                let need = 4 + size as usize;
                if self.permit.is_none() {
                    // Waiting for memory is the broker's doing, not the peer's: not idle.
                    self.permit = Some(self.memory.take(need).await);
                    self.active();
                }
                if self.buf.len() >= need {
                    let mut frame = self.buf.split_to(need);
                    let _ = frame.split_to(4);
                    let permit = self.permit.take().flatten();
                    self.active();
                    return Ok(Some((frame.freeze(), permit)));
                }
                // Grow with what arrives (at most doubling), never to the announced size.
                self.buf.reserve((need - self.buf.len()).min(self.buf.len().max(READ)));
            } else {
                self.buf.reserve(READ);
            }
            let read = self.rd.read_buf(&mut self.buf);
            let n = match self.idle {
                Some(idle) => match tokio::time::timeout_at(self.last_active + idle, read).await {
                    Ok(r) => r?,
                    Err(_) => {
                        let what = if self.buf.is_empty() {
                            "no request within connections.max.idle.ms"
                        } else {
                            "no byte of a started request within connections.max.idle.ms"
                        };
                        return Err(FrameError::Timeout(what));
                    }
                },
                None => read.await?,
            };
            self.active();
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
