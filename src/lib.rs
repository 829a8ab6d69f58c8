#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cursor;
mod decode;
pub mod dock;
mod error;
mod fast;
mod id;
#[cfg(feature = "schemars")]
pub mod json_schema;
mod json_string;
mod json_writer;
pub mod limits;
mod message;
mod object;
mod open_enum;
mod ota_create;
mod ota_progress;
mod plain_json;
mod result_code;
mod status;
mod tolerant;
mod topic;
pub mod tracker;
mod validate;

pub use compact_str::CompactString;
pub use decode::{decode, paths};
pub use error::{DataError, DecodeError};
pub use id::Id;
pub use message::{Data, Encoded, Message, Method, now_millis};
pub use open_enum::Unknown;
pub use ota_create::{Device, OtaCreate, OtaCreateOutput, OtaCreateReply, UpgradeType};
pub use ota_progress::{EventsReply, OtaProgress, Progress, ProgressExt, ProgressOutput, Step};
pub use result_code::ResultCode;
pub use status::TaskStatus;
pub use topic::{OTHER_THING_SUFFIXES, Serial, Topic, TopicError, TopicKind, check_serial};
pub use uuid::Uuid;
pub use validate::{Problem, ValidationErrors, Violation};
