//! The runtime beside the protocol crate `dji-cloud-ota`, which does no I/O: what keeps a
//! cloud server's upgrades across restarts.
//!
//! - [`store`]: where a tracker's state is kept between runs ([`store::Store`]), and a
//!   store that works out of the box, a file replaced atomically ([`store::FileStore`]).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod store;
