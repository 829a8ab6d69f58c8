//! The message model: every OTA message and its parts, with their serde (tolerant when
//! read, canonical when written), builders, encoding and validation.
//!
//! A device's firmware properties, pushed on its `state` topic, are modelled beside
//! them (`state.rs`): not an OTA message, but a witness of an upgrade's outcome.
//!
//! [`Payload`] binds each `data` type to its method, its topic and its reply; the list
//! of payloads ([`Data`]) is written once, in `payload.rs`.

mod id;
mod message;
mod open_enum;
mod ota_create;
mod ota_progress;
pub(crate) mod payload;
mod result_code;
mod state;
mod task_status;
mod text;
mod topic;

pub use id::Id;
#[cfg(feature = "schemars")]
pub(crate) use message::CanonicalEnvelope;
pub use message::{Encoded, Message, now_millis};
pub(crate) use message::{MethodName, read_envelope, read_envelope_only, read_state};
pub use open_enum::UnknownValue;
pub use ota_create::{Device, OtaCreate, OtaCreateOutput, OtaCreateReply, UpgradeType};
pub use ota_progress::{EventsReply, OtaProgress, Progress, ProgressExt, ProgressOutput, Step};
pub use payload::{Data, Method, Payload, UnknownMethod};
pub use result_code::ResultCode;
#[cfg(feature = "schemars")]
pub(crate) use state::CanonicalState;
pub use state::{CompatibleStatus, FirmwareState, FirmwareUpgradeStatus, StatePush, StateTopic};
pub use task_status::TaskStatus;
pub use text::Text;
#[cfg(feature = "schemars")]
pub(crate) use topic::THING_PREFIX;
pub use topic::{OTHER_THING_SUFFIXES, Serial, Topic, TopicKind};
