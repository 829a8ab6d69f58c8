//! Bytes to messages: [`decode`] and its errors, and the JSON Schemas of the wire format
//! for peers written in other languages. serde_json does all the reading and writing.

mod decode;
mod error;
#[cfg(feature = "schemars")]
pub mod json_schema;

pub use decode::{decode, decode_state};
pub use error::{DataError, DecodeError};
