//! The quorum's client side: openraft's `RaftNetworkFactory` / `RaftNetwork`, one pooled
//! connection per peer controller (opened on first use, dropped on any error or when
//! openraft's time limit drops the call, and opened again by the next call). A peer that
//! cannot be connected to is `Unreachable` (openraft backs off before it tries again); a
//! broken exchange is a `Network` error (retried at once).

use std::io;

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

/// How a call failed.
enum CallError {
    /// No connection could be made.
    Connect(io::Error),
    /// The exchange broke on a connection (it is dropped).
    Failed(io::Error),
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
    /// Sends `req` and reads its answer. openraft bounds the call (and drops it when its
    /// time is up): the connection is taken out for the exchange and put back only after a
    /// whole answer, so a dropped call never leaves half a request or an unread answer on
    /// a pooled connection.
    async fn call(&mut self, req: &Request) -> Result<Response, CallError> {
        let (key, body) = encode_request(req).map_err(|e| CallError::Failed(io::Error::other(e)))?;
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(&self.addr).await.map_err(CallError::Connect)?;
                s.set_nodelay(true).map_err(CallError::Connect)?;
                s
            }
        };
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        write_request(&mut conn, key, 0, correlation_id, &self.client_id, &body)
            .await
            .map_err(CallError::Failed)?;
        let (got, answer) = read_response(&mut conn).await.map_err(CallError::Failed)?;
        if got != correlation_id {
            return Err(CallError::Failed(io::Error::new(
                io::ErrorKind::InvalidData,
                "an answer to another request",
            )));
        }
        let resp = decode_response(key, &answer)
            .map_err(|e| CallError::Failed(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        self.conn = Some(conn);
        Ok(resp)
    }

    /// A peer that cannot be connected to is unreachable (openraft backs off); a broken
    /// exchange on an open connection is a network error (openraft retries at once, on a
    /// new connection).
    fn transport<E: std::error::Error>(e: &CallError) -> RpcError<E> {
        match e {
            CallError::Connect(e) => RPCError::Unreachable(Unreachable::new(e)),
            CallError::Failed(e) => RPCError::Network(NetworkError::new(e)),
        }
    }

    fn failed<E: std::error::Error>(what: String) -> RpcError<E> {
        RPCError::Network(NetworkError::new(&io::Error::other(what)))
    }
}

impl RaftNetwork<Quorum> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Quorum>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        match self.call(&Request::AppendEntries(rpc)).await {
            Ok(Response::AppendEntries(a)) => Ok(a),
            Ok(Response::Failed(m)) => Err(Self::failed(m)),
            Ok(other) => Err(Self::failed(format!("append-entries answered with {other:?}"))),
            Err(e) => Err(Self::transport(&e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Quorum>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        match self.call(&Request::InstallSnapshot(rpc)).await {
            Ok(Response::InstallSnapshot(s)) => Ok(s),
            Ok(Response::SnapshotMismatch(m)) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m)),
            ))),
            Ok(Response::Failed(m)) => Err(Self::failed(m)),
            Ok(other) => Err(Self::failed(format!("install-snapshot answered with {other:?}"))),
            Err(e) => Err(Self::transport(&e)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, _option: RPCOption) -> Result<VoteResponse<NodeId>, RpcError> {
        match self.call(&Request::Vote(rpc)).await {
            Ok(Response::Vote(v)) => Ok(v),
            Ok(Response::Failed(m)) => Err(Self::failed(m)),
            Ok(other) => Err(Self::failed(format!("vote answered with {other:?}"))),
            Err(e) => Err(Self::transport(&e)),
        }
    }
}
