//! ApiVersions (key 18): the advertised table is generated from `dispatch::SUPPORTED`, so
//! brokk never advertises an API it does not implement.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::broker::Broker;
use crate::server::dispatch::{SUPPORTED, advertised};

fn api_version(key: ApiKey, min: i16, max: i16) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(key as i16)
        .with_min_version(min)
        .with_max_version(max)
}

pub async fn handle(_broker: &Broker, _req: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = SUPPORTED
        .iter()
        .map(|(k, r)| {
            let a = advertised(*k, *r);
            api_version(*k, a.min, a.max)
        })
        .collect();
    resp.finalized_features_epoch = -1;
    resp
}

/// The answer to an ApiVersions request of a version brokk does not support: error 35 in
/// the v0 shape, listing ApiVersions' own range so the client can downgrade (as Kafka).
pub fn unsupported_version() -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = ResponseError::UnsupportedVersion.code();
    resp.api_keys = SUPPORTED
        .iter()
        .filter(|(k, _)| *k == ApiKey::ApiVersions)
        .map(|(k, r)| api_version(*k, r.min, r.max))
        .collect();
    resp
}
