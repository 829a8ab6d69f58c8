//! Upgrade tasks without I/O: the cloud's [`tracker`] and the simulated [`dock`]. Both
//! take the time from the caller and return messages to publish.

pub mod dock;
pub mod tracker;
