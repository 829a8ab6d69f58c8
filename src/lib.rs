#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

// Four layers, each importing only from the layers above it in this list:
// - `rules`: what the protocol allows, below everything: limits, the tolerated spellings
//   (one serde helper per quirk), objects-only reading, validation's problems and
//   checks, and the schema fragments that state the same rules;
// - `model`: the messages and their parts, with their serde (which names `rules`), their
//   builders, canonical encoding and validation; `Payload` binds each message to its
//   method, topic and reply;
// - `wire`: bytes to messages (`decode`, its errors) and the JSON Schemas of the wire
//   format;
// - `task`: the cloud's task tracker, the fleet rollout and the simulated dock, without
//   I/O.
mod model;
mod rules;
mod task;
mod wire;

pub use model::{
    CompatibleStatus, Data, Device, Encoded, EventsReply, FirmwareState, FirmwareUpgradeStatus, Id,
    Message, Method, OTHER_THING_SUFFIXES, OtaCreate, OtaCreateOutput, OtaCreateReply, OtaProgress,
    Payload, Progress, ProgressExt, ProgressOutput, ResultCode, Serial, StatePush, StateTopic,
    Step, TaskStatus, Text, Topic, TopicKind, UnknownMethod, UnknownValue, UpgradeType, now_millis,
};
pub use rules::check::{Problem, TopicError, ValidationErrors, Violation, check_serial};
pub use rules::limits;
pub use task::{dock, rollout, tracker};
#[cfg(feature = "schemars")]
pub use wire::json_schema;
pub use wire::{DataError, DecodeError, decode, decode_state};
