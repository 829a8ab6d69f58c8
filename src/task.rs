//! Upgrade tasks without I/O: the cloud's [`tracker`], the fleet [`rollout`] that
//! decides which gateways it upgrades next, and the simulated [`dock`]. Each takes the
//! time from the caller and returns what to publish or start.

pub mod dock;
pub mod rollout;
pub mod tracker;
