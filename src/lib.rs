//! brokk: a Kafka wire-protocol-compatible broker with an mmap segment log.
//!
//! Architecture (imports only point down):
//!
//! ```text
//! main.rs     thin binary: flags -> Config -> Broker -> serve until ctrl-c
//! config      one validated Config (flags + Kafka server.properties keys)
//! broker      Broker handle for handlers; BrokerBuilder / RunningBroker for embedding
//! server/     accept loop, connections (frames), codec (headers), dispatch (SUPPORTED)
//! api/        one handler per API: typed request in, typed response out
//! log/        storage: batches, indexes, segments, partitions, recovery, LogManager
//! ```
//!
//! Embedding (e.g. in integration tests):
//! `Broker::builder().listen("127.0.0.1:0").ephemeral().start().await?` returns a
//! [`broker::RunningBroker`] whose `local_addr()` goes to any Kafka client.

pub mod api;
pub mod broker;
pub mod broker_config_defs;
pub mod config;
pub mod controller;
pub mod failpoint;
pub mod group;
pub mod log;
pub mod logging;
pub mod metadata;
pub mod quotas;
pub mod replica;
pub mod server;
pub mod txn;

pub use broker::{Broker, BrokerBuilder, RunningBroker};

pub use config::Config;
