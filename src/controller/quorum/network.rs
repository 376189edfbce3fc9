//! The quorum's client side: openraft's `RaftNetworkFactory` / `RaftNetwork`, one pooled
//! connection per peer controller (opened on first use, dropped on any error and opened
//! again by the next call), each call bounded by openraft's time limit. A peer that cannot
//! be reached is `Unreachable` (openraft backs off before it tries again).

use std::io;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tokio::net::TcpStream;

use super::frame::{read_response, write_request};
use super::rpc::{Request, Response, decode_response, encode_request};
use super::{ControllerNode, NodeId, Quorum};

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, ControllerNode, RaftError<NodeId, E>>;

/// Makes a client per peer controller.
#[derive(Debug, Clone)]
pub struct QuorumNetwork {
    /// This controller's node id (its client id on the wire).
    pub node_id: NodeId,
}

impl RaftNetworkFactory<Quorum> for QuorumNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &ControllerNode) -> PeerClient {
        PeerClient {
            target,
            addr: format!("{}:{}", node.host, node.port),
            client_id: format!("brokk-controller-{}", self.node_id),
            conn: None,
            correlation_id: 0,
        }
    }
}

/// One peer controller's connection.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    client_id: String,
    conn: Option<TcpStream>,
    correlation_id: i32,
}

impl PeerClient {
    /// Sends `req` and reads its answer within `ttl`.
    async fn call(&mut self, req: &Request, ttl: Duration) -> io::Result<Response> {
        let (key, body) = encode_request(req).map_err(io::Error::other)?;
        let result = tokio::time::timeout(ttl, self.exchange(key, &body))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time")));
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, key: i16, body: &[u8]) -> io::Result<Response> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.conn = Some(s);
        }
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let conn = self.conn.as_mut().ok_or_else(|| io::Error::other("no connection"))?;
        write_request(conn, key, 0, correlation_id, &self.client_id, body).await?;
        let (got, answer) = read_response(conn).await?;
        if got != correlation_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an answer to another request",
            ));
        }
        decode_response(key, &answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    fn unreachable<E: std::error::Error>(e: &io::Error) -> RpcError<E> {
        RPCError::Unreachable(Unreachable::new(e))
    }

    fn failed<E: std::error::Error>(what: String) -> RpcError<E> {
        RPCError::Network(NetworkError::new(&io::Error::other(what)))
    }
}

impl RaftNetwork<Quorum> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Quorum>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        match self.call(&Request::AppendEntries(rpc), option.hard_ttl()).await {
            Ok(Response::AppendEntries(a)) => Ok(a),
            Ok(Response::Failed(m)) => Err(Self::failed(m)),
            Ok(other) => Err(Self::failed(format!("append-entries answered with {other:?}"))),
            Err(e) => Err(Self::unreachable(&e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Quorum>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        match self.call(&Request::InstallSnapshot(rpc), option.hard_ttl()).await {
            Ok(Response::InstallSnapshot(s)) => Ok(s),
            Ok(Response::SnapshotMismatch(m)) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m)),
            ))),
            Ok(Response::Failed(m)) => Err(Self::failed(m)),
            Ok(other) => Err(Self::failed(format!("install-snapshot answered with {other:?}"))),
            Err(e) => Err(Self::unreachable(&e)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcError> {
        match self.call(&Request::Vote(rpc), option.hard_ttl()).await {
            Ok(Response::Vote(v)) => Ok(v),
            Ok(Response::Failed(m)) => Err(Self::failed(m)),
            Ok(other) => Err(Self::failed(format!("vote answered with {other:?}"))),
            Err(e) => Err(Self::unreachable(&e)),
        }
    }
}
