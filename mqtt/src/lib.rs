//! The MQTT runtime beside the protocol crate `dji-cloud-ota`, which does no I/O: what a
//! cloud server and a dock agent run, on tokio and rumqttc.
//!
//! - [`Cloud`] ([`cloud`]): the cloud side. It starts upgrades, follows them with the
//!   protocol crate's tracker and real timers, publishes retries and replies, and keeps
//!   the tracker's state in a [`Store`] so that an upgrade under way survives a restart.
//! - [`Agent`] ([`agent`]): the dock side. It receives `ota_create`, lets the caller run
//!   the upgrade, and publishes the reply and the events, sending again an event whose
//!   reply does not come.
//! - [`Store`] and [`FileStore`] ([`store`]): where the cloud's state is kept between
//!   runs.
//! - [`MqttConfig`] ([`config`]): the broker, the client id, the login and TLS.
//!
//! Both drivers connect with the settings the protocol needs (QoS 1, a persistent
//! session under a stable client id), connect again and subscribe again on their own
//! after the connection is lost, and keep their memory bounded whatever arrives. The
//! README's "MQTT settings" section says why, and what survives which fault.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod cloud;
pub mod config;
mod link;
pub mod store;

pub use agent::{Agent, AgentConfig, AgentCounters, AgentError, AgentEvent, AgentEvents};
pub use cloud::{
    Cloud, CloudConfig, CloudCounters, CloudError, CloudEvent, CloudEvents, CloudStatus, Watch,
};
pub use config::{ConfigError, MqttConfig, Tls};
pub use store::{FileStore, Store, StoreError};
