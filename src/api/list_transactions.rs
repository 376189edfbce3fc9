//! ListTransactions (v0-v1): transactional ids with their producer id and state, filtered
//! by state names (unknown names are echoed in `unknown_state_filters` and match
//! nothing), producer ids, and (v1) a minimum running time in ms. As in Kafka, an id with
//! no transaction running passes the duration filter. v2's regular-expression filter is
//! not offered.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::log::now_ms;
use crate::txn::state::TxnState;

const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

pub async fn handle(broker: &Broker, req: ListTransactionsRequest, version: i16) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    let mut wanted = vec![];
    for f in &req.state_filters {
        match STATES.iter().find(|s| s.name() == f.as_str()) {
            Some(s) => wanted.push(*s),
            None => resp.unknown_state_filters.push(f.clone()),
        }
    }
    let state_filtered = !req.state_filters.is_empty();
    let duration = if version >= 1 { req.duration_filter } else { -1 };
    let now = now_ms();
    resp.transaction_states = broker
        .txns()
        .list()
        .into_iter()
        .filter(|m| m.state != TxnState::Dead)
        .filter(|m| req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&ProducerId(m.producer_id)))
        .filter(|m| !state_filtered || wanted.contains(&m.state))
        .filter(|m| duration < 0 || m.start_ms < 0 || now - m.start_ms > duration)
        .map(|m| {
            let mut s = TransactionState::default();
            s.transactional_id = TransactionalId(StrBytes::from_string(m.transactional_id));
            s.producer_id = ProducerId(m.producer_id);
            s.transaction_state = StrBytes::from_static_str(m.state.name());
            s
        })
        .collect();
    resp
}
