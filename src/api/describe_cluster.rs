//! DescribeCluster (key 60): the cluster's brokers (`Broker::brokers`: unfenced ones, and
//! fenced ones too when v2 asks) and, as the controller, a live broker's id as Kafka's
//! brokers report it. Only the broker endpoint type is served here;
//! the controller type gets MISMATCHED_ENDPOINT_TYPE, as on Kafka's broker listener.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::message;
use super::metadata::{CLUSTER_OPS, OPS_NOT_REQUESTED};
use crate::broker::Broker;

const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

pub async fn handle(
    broker: &Broker,
    req: DescribeClusterRequest,
    version: i16,
    listener: &str,
) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    // v0 has no endpoint type: it asks for brokers.
    let wanted = if version >= 1 {
        req.endpoint_type
    } else {
        ENDPOINT_BROKER
    };
    if wanted != ENDPOINT_BROKER {
        let (code, text) = if wanted == ENDPOINT_CONTROLLER {
            (
                ResponseError::MismatchedEndpointType,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
                    .to_string(),
            )
        } else {
            (
                ResponseError::UnsupportedEndpointType,
                format!("Unsupported endpoint type {wanted}"),
            )
        };
        resp.error_code = code.code();
        resp.error_message = message(text);
        return resp;
    }
    // v2 can ask for fenced brokers too (KIP-1073); they are marked.
    let include_fenced = version >= 2 && req.include_fenced_brokers;
    let nodes: Vec<_> = broker
        .brokers(listener)
        .into_iter()
        .filter(|b| include_fenced || !b.fenced)
        .collect();
    resp.brokers = nodes
        .iter()
        .map(|n| {
            let mut b = DescribeClusterBroker::default();
            b.broker_id = BrokerId(n.id);
            b.host = StrBytes::from_string(n.host.clone());
            b.port = n.port;
            b.rack = n.rack.clone().map(StrBytes::from_string);
            if version >= 2 {
                b.is_fenced = n.fenced;
            }
            b
        })
        .collect();
    resp.endpoint_type = ENDPOINT_BROKER;
    resp.cluster_id = StrBytes::from_string(broker.cluster_id().to_string());
    let live: Vec<_> = nodes.iter().filter(|n| !n.fenced).cloned().collect();
    resp.controller_id = BrokerId(broker.client_controller_id(&live));
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations {
        CLUSTER_OPS
    } else {
        OPS_NOT_REQUESTED
    };
    resp
}
