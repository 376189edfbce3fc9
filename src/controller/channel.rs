//! A broker's channel to the active controller (Kafka's `NodeToControllerChannelManager`):
//! one connection to the quorum leader's CONTROLLER listener, opened on first use, kept
//! while whole exchanges succeed, and opened again (to whichever node leads then) after a
//! failed exchange or a NOT_CONTROLLER answer ([`ControllerChannel::forget`]).

use std::time::Duration;

use kafka_protocol::protocol::Decodable;
use tokio::net::TcpStream;

use super::quorum::frame::{read_response, write_request};
use super::quorum::member::QuorumMember;

/// The channel (one exchange at a time).
pub struct ControllerChannel {
    quorum: QuorumMember,
    client_id: String,
    conn: tokio::sync::Mutex<Option<(String, TcpStream, i32)>>,
}

impl std::fmt::Debug for ControllerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerChannel")
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl ControllerChannel {
    pub fn new(quorum: QuorumMember, client_id: String) -> Self {
        Self {
            quorum,
            client_id,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    /// Drops the connection (the next exchange finds the leader again).
    pub async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    /// Sends one request (`key`, `version`, encoded `body`) to the leading controller and
    /// decodes its answer, within `timeout`.
    pub async fn exchange<R: Decodable>(
        &self,
        key: i16,
        version: i16,
        body: &[u8],
        timeout: Duration,
    ) -> Result<R, String> {
        let leader = self.quorum.leader().ok_or("no controller leads the quorum")?;
        let node = self
            .quorum
            .voters()
            .get(&leader)
            .ok_or_else(|| format!("the leader {leader} is not a voter"))?;
        let addr = format!("{}:{}", node.host, node.port);
        let mut guard = self.conn.lock().await;
        let deadline = tokio::time::Instant::now() + timeout;
        let (mut stream, mut correlation) = match guard.take() {
            Some((a, s, c)) if a == addr => (s, c),
            _ => {
                let s = tokio::time::timeout_at(deadline, TcpStream::connect(&addr))
                    .await
                    .map_err(|_| format!("connecting to {addr} timed out"))?
                    .map_err(|e| format!("connecting to {addr}: {e}"))?;
                let _ = s.set_nodelay(true);
                (s, 0)
            }
        };
        correlation = correlation.wrapping_add(1);
        let answer = tokio::time::timeout_at(deadline, async {
            write_request(&mut stream, key, version, correlation, &self.client_id, body).await?;
            read_response(&mut stream).await
        })
        .await
        .map_err(|_| format!("{addr} did not answer in time"))?
        .map_err(|e| format!("{addr}: {e}"))?;
        if answer.0 != correlation {
            return Err(format!("{addr} answered another request"));
        }
        let resp = R::decode(&mut bytes::Bytes::from(answer.1), version).map_err(|e| e.to_string())?;
        // Only a whole exchange puts the connection back.
        *guard = Some((addr, stream, correlation));
        Ok(resp)
    }
}
