//! Cluster-wide records: ConfigRecord (4), FeatureLevelRecord (12), ProducerIdsRecord
//! (15), NoOpRecord (20), and the metadata transactions' BeginTransactionRecord (23),
//! EndTransactionRecord (24) and AbortTransactionRecord (25).

use super::super::wire::{Reader, WireError, Writer, encoded, tagged_value};
use super::{RecordBody, read_tags};

/// ConfigRecord: a config of a resource set (or deleted: `value` null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRecord {
    /// ConfigResource.Type: TOPIC 2, BROKER 4, BROKER_LOGGER 8, CLIENT_METRICS 16, GROUP 32.
    pub resource_type: i8,
    /// "" for the cluster-wide default of BROKER.
    pub resource_name: String,
    pub name: String,
    pub value: Option<String>,
}

impl RecordBody for ConfigRecord {
    const API_KEY: u16 = 4;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.i8(self.resource_type)
            .string(&self.resource_name)
            .string(&self.name)
            .nullable_string(self.value.as_deref())
            .no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = ConfigRecord {
            resource_type: r.i8()?,
            resource_name: r.string()?,
            name: r.string()?,
            value: r.nullable_string()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}

/// FeatureLevelRecord: a finalized feature's level (0: the feature is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureLevelRecord {
    pub name: String,
    pub feature_level: i16,
}

impl RecordBody for FeatureLevelRecord {
    const API_KEY: u16 = 12;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.string(&self.name).i16(self.feature_level).no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = FeatureLevelRecord {
            name: r.string()?,
            feature_level: r.i16()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}

/// ProducerIdsRecord: a block of producer ids was given to a broker; the next block starts
/// at `next_producer_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerIdsRecord {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub next_producer_id: i64,
}

impl RecordBody for ProducerIdsRecord {
    const API_KEY: u16 = 15;
    const VERSION: i16 = 0;
    fn write(&self, w: &mut Writer, _: i16) {
        w.i32(self.broker_id)
            .i64(self.broker_epoch)
            .i64(self.next_producer_id)
            .no_tags();
    }
    fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
        let rec = ProducerIdsRecord {
            broker_id: r.i32()?,
            broker_epoch: r.i64()?,
            next_producer_id: r.i64()?,
        };
        read_tags(r, |_, _| Ok(()))?;
        Ok(rec)
    }
}

/// A record without fields but its tags (NoOpRecord, EndTransactionRecord).
macro_rules! empty_record {
    ($(#[$doc:meta])* $name:ident, $key:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name;

        impl RecordBody for $name {
            const API_KEY: u16 = $key;
            const VERSION: i16 = 0;
            fn write(&self, w: &mut Writer, _: i16) {
                w.no_tags();
            }
            fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
                read_tags(r, |_, _| Ok(()))?;
                Ok($name)
            }
        }
    };
}

empty_record!(
    /// NoOpRecord: the controller's heartbeat into the log (advances the high watermark).
    NoOpRecord, 20
);
empty_record!(
    /// EndTransactionRecord: the records since BeginTransactionRecord take effect.
    EndTransactionRecord, 24
);

/// A record whose one field is an optional text in tag 0.
macro_rules! note_record {
    ($(#[$doc:meta])* $name:ident, $key:expr, $field:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            pub $field: Option<String>,
        }

        impl RecordBody for $name {
            const API_KEY: u16 = $key;
            const VERSION: i16 = 0;
            fn write(&self, w: &mut Writer, _: i16) {
                let tags = match &self.$field {
                    Some(s) => vec![(0, encoded(|w| {
                        w.string(s);
                    }))],
                    None => vec![],
                };
                w.tagged(tags);
            }
            fn read(r: &mut Reader<'_>, _: i16) -> Result<Self, WireError> {
                let mut rec = $name::default();
                read_tags(r, |tag, data| {
                    if tag == 0 {
                        rec.$field = tagged_value(data, Reader::nullable_string)?;
                    }
                    Ok(())
                })?;
                Ok(rec)
            }
        }
    };
}

note_record!(
    /// BeginTransactionRecord: the records up to EndTransactionRecord apply together.
    BeginTransactionRecord, 23, name
);
note_record!(
    /// AbortTransactionRecord: the records since BeginTransactionRecord are void.
    AbortTransactionRecord, 25, reason
);
