#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
mod ask;
pub mod cloud;
pub mod config;
#[cfg(feature = "postgres")]
pub mod group;
mod judging;
mod link;
#[cfg(feature = "metrics")]
pub mod metrics;
mod needs;
#[cfg(feature = "postgres")]
pub mod pg;
mod probe;
mod rows;
pub mod sqlite;
pub mod store;

pub use agent::{Agent, AgentConfig, AgentCounters, AgentError, AgentEvent, AgentEvents};
pub use cloud::{
    Cloud, CloudConfig, CloudCounters, CloudError, CloudEvent, CloudEvents, CloudStatus,
    RolloutControl, RolloutStatus, Watch,
};
pub use config::{ConfigError, MqttConfig, Tls};
#[cfg(feature = "postgres")]
pub use group::GroupConfig;
#[cfg(feature = "metrics")]
pub use metrics::CloudMetrics;
#[cfg(feature = "postgres")]
pub use pg::PgStore;
pub use sqlite::{SavedRollout, SqliteStore};
pub use store::{Commit, FileStore, RolloutCommit, Store, StoreError};
