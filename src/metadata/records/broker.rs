//! Broker and controller records: RegisterBrokerRecord (0), UnregisterBrokerRecord (1),
//! FenceBrokerRecord (7), UnfenceBrokerRecord (8), BrokerRegistrationChangeRecord (17),
//! RegisterControllerRecord (27).

use uuid::Uuid;

use super::super::wire::{Reader, WireError, Writer, encoded, tagged_value};
use super::{RecordBody, read_tags, since};

/// A listener of a broker or controller (BrokerEndpoint / ControllerEndpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3.
    pub security_protocol: i16,
}

impl Endpoint {
    fn write(&self, w: &mut Writer) {
        w.string(&self.name)
            .string(&self.host)
            .u16(self.port)
            .i16(self.security_protocol)
            .no_tags();
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let e = Endpoint {
            name: r.string()?,
            host: r.string()?,
            port: r.u16()?,
            security_protocol: r.i16()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(e)
    }
}

/// A feature's supported range on a broker or controller (BrokerFeature / ControllerFeature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRange {
    pub name: String,
    pub min_supported_version: i16,
    pub max_supported_version: i16,
}

impl FeatureRange {
    fn write(&self, w: &mut Writer) {
        w.string(&self.name)
            .i16(self.min_supported_version)
            .i16(self.max_supported_version)
            .no_tags();
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let f = FeatureRange {
            name: r.string()?,
            min_supported_version: r.i16()?,
            max_supported_version: r.i16()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(f)
    }
}

/// RegisterBrokerRecord: a broker (re)registered with the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerRecord {
    pub broker_id: i32,
    /// v2+.
    pub is_migrating_zk_broker: bool,
    pub incarnation_id: Uuid,
    pub broker_epoch: i64,
    pub end_points: Vec<Endpoint>,
    pub features: Vec<FeatureRange>,
    pub rack: Option<String>,
    pub fenced: bool,
    /// v1+.
    pub in_controlled_shutdown: bool,
    /// v3+, tag 0: the broker's online log directories.
    pub log_dirs: Vec<Uuid>,
}

impl RecordBody for RegisterBrokerRecord {
    const API_KEY: u16 = 0;
    const VERSION: i16 = 3;
    fn write(&self, w: &mut Writer, version: i16) {
        w.i32(self.broker_id);
        if version >= 2 {
            w.bool(self.is_migrating_zk_broker);
        }
        w.uuid(&self.incarnation_id)
            .i64(self.broker_epoch)
            .array(&self.end_points, |w, e| e.write(w))
            .array(&self.features, |w, f| f.write(w))
            .nullable_string(self.rack.as_deref())
            .bool(self.fenced);
        if version >= 1 {
            w.bool(self.in_controlled_shutdown);
        }
        let mut tags = vec![];
        if version >= 3 && !self.log_dirs.is_empty() {
            tags.push((
                0,
                encoded(|w| {
                    w.uuids(&self.log_dirs);
                }),
            ));
        }
        w.tagged(tags);
    }
    fn read(r: &mut Reader<'_>, version: i16) -> Result<Self, WireError> {
        let broker_id = r.i32()?;
        let is_migrating_zk_broker = version >= 2 && r.bool()?;
        let mut rec = RegisterBrokerRecord {
            broker_id,
            is_migrating_zk_broker,
            incarnation_id: r.uuid()?,
            broker_epoch: r.i64()?,
            end_points: r.array(7, Endpoint::read)?,
            features: r.array(6, FeatureRange::read)?,
            rack: r.nullable_string()?,
            fenced: r.bool()?,
            in_controlled_shutdown: false,
            log_dirs: vec![],
        };
        rec.in_controlled_shutdown = version >= 1 && r.bool()?;
        read_tags(r, |tag, data| {
            if tag == 0 {
                since(0, 3, version)?;
                rec.log_dirs = tagged_value(data, Reader::uuids)?;
            }
            Ok(())
        })?;
        Ok(rec)
    }
}

macro_rules! id_epoch_record {
    ($(#[$doc:meta])* $name:ident, $key:expr, $id:ident, $epoch:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub $id: i32,
            pub $epoch: i64,
        }

        impl RecordBody for $name {
            const API_KEY: u16 = $key;
            const VERSION: i16 = 0;
            fn write(&self, w: &mut Writer, _: i16) {
                w.i32(self.$id).i64(self.$epoch).no_tags();
            }
            fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
                let rec = $name { $id: r.i32()?, $epoch: r.i64()? };
                read_tags(r, |_, _| Ok(()))?;
                Ok(rec)
            }
        }
    };
}

id_epoch_record!(
    /// UnregisterBrokerRecord: the broker's registration is removed.
    UnregisterBrokerRecord, 1, broker_id, broker_epoch
);
id_epoch_record!(
    /// FenceBrokerRecord (read only: Kafka 4.x writes BrokerRegistrationChangeRecord).
    FenceBrokerRecord, 7, id, epoch
);
id_epoch_record!(
    /// UnfenceBrokerRecord (read only, as FenceBrokerRecord).
    UnfenceBrokerRecord, 8, id, epoch
);

/// `fenced` of a [`BrokerRegistrationChangeRecord`].
pub const FENCE: i8 = 1;
pub const UNFENCE: i8 = -1;

/// BrokerRegistrationChangeRecord: a broker was fenced or unfenced, entered controlled
/// shutdown, or changed log directories. Tagged fields are absent when unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistrationChangeRecord {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// Tag 0: 1 fenced, -1 unfenced, 0 no change.
    pub fenced: i8,
    /// v1+, tag 1: 1 in controlled shutdown, 0 no change.
    pub in_controlled_shutdown: i8,
    /// v2+, tag 2: the online log directories, empty when unchanged.
    pub log_dirs: Vec<Uuid>,
}

impl RecordBody for BrokerRegistrationChangeRecord {
    const API_KEY: u16 = 17;
    const VERSION: i16 = 2;
    fn write(&self, w: &mut Writer, version: i16) {
        w.i32(self.broker_id).i64(self.broker_epoch);
        let mut tags = vec![];
        if self.fenced != 0 {
            tags.push((0, vec![self.fenced as u8]));
        }
        if version >= 1 && self.in_controlled_shutdown != 0 {
            tags.push((1, vec![self.in_controlled_shutdown as u8]));
        }
        if version >= 2 && !self.log_dirs.is_empty() {
            tags.push((
                2,
                encoded(|w| {
                    w.uuids(&self.log_dirs);
                }),
            ));
        }
        w.tagged(tags);
    }
    fn read(r: &mut Reader<'_>, version: i16) -> Result<Self, WireError> {
        let mut rec = BrokerRegistrationChangeRecord {
            broker_id: r.i32()?,
            broker_epoch: r.i64()?,
            fenced: 0,
            in_controlled_shutdown: 0,
            log_dirs: vec![],
        };
        read_tags(r, |tag, data| {
            match tag {
                0 => rec.fenced = tagged_value(data, Reader::i8)?,
                1 => {
                    since(1, 1, version)?;
                    rec.in_controlled_shutdown = tagged_value(data, Reader::i8)?;
                }
                2 => {
                    since(2, 2, version)?;
                    rec.log_dirs = tagged_value(data, Reader::uuids)?;
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(rec)
    }
}

/// RegisterControllerRecord: a controller's listeners and supported features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterControllerRecord {
    pub controller_id: i32,
    pub incarnation_id: Uuid,
    pub zk_migration_ready: bool,
    pub end_points: Vec<Endpoint>,
    pub features: Vec<FeatureRange>,
}

impl RecordBody for RegisterControllerRecord {
    const API_KEY: u16 = 27;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.i32(self.controller_id)
            .uuid(&self.incarnation_id)
            .bool(self.zk_migration_ready)
            .array(&self.end_points, |w, e| e.write(w))
            .array(&self.features, |w, f| f.write(w))
            .no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = RegisterControllerRecord {
            controller_id: r.i32()?,
            incarnation_id: r.uuid()?,
            zk_migration_ready: r.bool()?,
            end_points: r.array(7, Endpoint::read)?,
            features: r.array(6, FeatureRange::read)?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}

#[cfg(test)]
impl RegisterBrokerRecord {
    /// A registration of broker `id` at `epoch`, unfenced, without listeners (tests).
    pub fn for_test(id: i32, epoch: i64) -> Self {
        RegisterBrokerRecord {
            broker_id: id,
            is_migrating_zk_broker: false,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: epoch,
            end_points: vec![],
            features: vec![],
            rack: None,
            fenced: false,
            in_controlled_shutdown: false,
            log_dirs: vec![],
        }
    }
}
