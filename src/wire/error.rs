//! Decoding errors.

use thiserror::Error;

use crate::model::{Id, Method, Text, TopicKind};
use crate::rules::check::TopicError;

/// Why [`crate::decode`] did not return a message.
///
/// [`DecodeError::NotOta`] is not a fault: a server subscribed to
/// `thing/product/+/events` receives many events of other kinds, and this is how it
/// tells them apart. [`DecodeError::Syntax`] means the bytes are not JSON;
/// [`DecodeError::Data`] means they are JSON but not the message the topic and method
/// call for.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The topic is not an OTA topic of the DJI Cloud API, or its serial is unsafe.
    #[error("bad topic: {0}")]
    Topic(TopicError),
    /// A message of the DJI Cloud API that is not an OTA message: a topic such as `osd`,
    /// or a method such as `hms` on the `events` topic. Its payload is not decoded.
    #[error("not an OTA message{}", .method.as_ref().map(|m| format!(" (method {m:?})")).unwrap_or_default())]
    NotOta {
        /// The payload's method, when the topic carries methods and it has one.
        method: Option<Text>,
    },
    /// An OTA method on a topic that does not carry it, such as `ota_progress` on
    /// `services`.
    #[error("method {method} does not travel on the `{topic}` topic")]
    WrongTopic {
        /// The payload's method.
        method: Method,
        /// The topic it came on.
        topic: TopicKind,
    },
    /// The payload is larger than [`crate::limits::MAX_PAYLOAD_BYTES`].
    #[error("payload of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is not UTF-8.
    #[error("payload is not UTF-8: invalid byte at offset {offset} (line {line}, column {column})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
        /// 1-based line.
        line: usize,
        /// 1-based column, in bytes.
        column: usize,
    },
    /// The payload is not well-formed JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column, in bytes.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The payload is JSON, but not the OTA message it should be.
    #[error(transparent)]
    Data(Box<DataError>),
}

impl DecodeError {
    /// True for [`DecodeError::NotOta`]: a message to pass on to other handlers.
    pub fn is_not_ota(&self) -> bool {
        matches!(self, DecodeError::NotOta { .. })
    }

    /// True when the bytes are not well-formed UTF-8 JSON.
    pub fn is_syntax(&self) -> bool {
        matches!(
            self,
            DecodeError::Syntax { .. } | DecodeError::InvalidUtf8 { .. }
        )
    }

    /// True when the JSON is well-formed but its content is wrong.
    pub fn is_data(&self) -> bool {
        matches!(self, DecodeError::Data(_))
    }
}

/// A well-formed JSON payload that does not hold the expected message.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("invalid {method} message at {path} (line {line}, column {column}): {message}", method = self.method.map_or("OTA", Method::as_str))]
#[non_exhaustive]
pub struct DataError {
    /// Where: a JSON path such as `data.output.progress.percent`, `data.devices[1]` or
    /// `.` for the envelope itself.
    pub path: String,
    /// 1-based line of the payload.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
    /// What was wrong and what was expected, as serde puts it.
    pub message: String,
    /// The method, when the envelope was read.
    pub method: Option<Method>,
    /// The envelope's `tid`, when the envelope was read: enough to send an error reply.
    pub tid: Option<Id>,
    /// The envelope's `bid`, when the envelope was read.
    pub bid: Option<Id>,
}
