//! DescribeTransactions: each transactional id's state, producer, timeout, start time and
//! partitions; TRANSACTIONAL_ID_NOT_FOUND for an unknown id, INVALID_REQUEST for "".

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DescribeTransactionsRequest, _version: i16) -> DescribeTransactionsResponse {
    let mut resp = DescribeTransactionsResponse::default();
    for id in req.transactional_ids {
        let mut s = TransactionState::default();
        s.transactional_id = id.clone();
        if id.is_empty() {
            s.error_code = ResponseError::InvalidRequest.code();
            resp.transaction_states.push(s);
            continue;
        }
        if broker.txns().is_offline(&id) {
            s.error_code = ResponseError::NotCoordinator.code();
            resp.transaction_states.push(s);
            continue;
        }
        // In a cluster: coordinated by another broker, or loading here.
        if let Some(e) = broker.txns().standing_error(&id) {
            s.error_code = crate::api::errors::txn_error(&e, false).code();
            resp.transaction_states.push(s);
            continue;
        }
        match broker.txns().describe(&id) {
            None => s.error_code = ResponseError::TransactionalIdNotFound.code(),
            Some(m) => {
                s.transaction_state = StrBytes::from_static_str(m.state.name());
                s.transaction_timeout_ms = m.timeout_ms;
                s.transaction_start_time_ms = m.start_ms;
                s.producer_id = ProducerId(m.producer_id);
                s.producer_epoch = m.producer_epoch;
                let mut topics: Vec<TopicData> = vec![];
                for (t, p) in m.partitions {
                    match topics.last_mut() {
                        Some(last) if last.topic.0.as_str() == t => last.partitions.push(p),
                        _ => {
                            let mut d = TopicData::default();
                            d.topic = super::topic_name(&t);
                            d.partitions = vec![p];
                            topics.push(d);
                        }
                    }
                }
                s.topics = topics;
            }
        }
        resp.transaction_states.push(s);
    }
    resp
}
