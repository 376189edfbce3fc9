//! DescribeCluster (key 60): this broker as the whole cluster (it is also the controller
//! Kafka's brokers report: a live broker's id). Only the broker endpoint type is served here;
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

pub async fn handle(broker: &Broker, req: DescribeClusterRequest, version: i16) -> DescribeClusterResponse {
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
    let (host, port) = broker.advertised();
    let mut b = DescribeClusterBroker::default();
    b.broker_id = BrokerId(broker.node_id());
    b.host = StrBytes::from_string(host.to_string());
    b.port = port;
    b.rack = None;
    resp.brokers = vec![b];
    resp.endpoint_type = ENDPOINT_BROKER;
    resp.cluster_id = StrBytes::from_string(broker.cluster_id().to_string());
    resp.controller_id = BrokerId(broker.node_id());
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations {
        CLUSTER_OPS
    } else {
        OPS_NOT_REQUESTED
    };
    resp
}
