#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
mod ask;
pub mod cloud;
pub mod config;
mod link;
mod needs;
pub mod store;

pub use agent::{Agent, AgentConfig, AgentCounters, AgentError, AgentEvent, AgentEvents};
pub use cloud::{
    Cloud, CloudConfig, CloudCounters, CloudError, CloudEvent, CloudEvents, CloudStatus, Watch,
};
pub use config::{ConfigError, MqttConfig, Tls};
pub use store::{FileStore, Store, StoreError};
