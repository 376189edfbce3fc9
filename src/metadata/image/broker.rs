//! A broker's registration in the metadata image.

use uuid::Uuid;

use super::super::records::{Endpoint, FeatureRange, RegisterBrokerRecord};

/// One registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub epoch: i64,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub features: Vec<FeatureRange>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub log_dirs: Vec<Uuid>,
}

impl From<RegisterBrokerRecord> for BrokerRegistration {
    fn from(mut r: RegisterBrokerRecord) -> Self {
        // Kafka keeps a broker's directories sorted.
        r.log_dirs.sort();
        BrokerRegistration {
            id: r.broker_id,
            epoch: r.broker_epoch,
            incarnation_id: r.incarnation_id,
            endpoints: r.end_points,
            features: r.features,
            rack: r.rack,
            fenced: r.fenced,
            in_controlled_shutdown: r.in_controlled_shutdown,
            log_dirs: r.log_dirs,
        }
    }
}

impl BrokerRegistration {
    /// The listener named `name`, if the broker has one.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}
