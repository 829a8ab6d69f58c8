//! Validation's vocabulary and its checks of single values.
//!
//! Decoding is tolerant and keeps whatever a peer sent; `Message::validate` then says
//! everything that is wrong with it, each violation with its JSON path. Each message
//! type checks its own fields (beside the type, in `model/`) with the checks and the
//! [`Report`] here; the limits are in [`crate::limits`].

use std::fmt;

use thiserror::Error;

use crate::rules::limits::{
    MAX_DEVICES, MAX_PERCENT, MAX_TEXT_CHARS, MD5_HEX_DIGITS, MIN_DEVICES, UNSAFE_IN_SERIAL,
};

/// Every rule a message broke. `Display` lists them one per line, `path: problem`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ValidationErrors {
    /// The violations, in the order of the message's fields.
    pub violations: Vec<Violation>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.violations.len();
        write!(f, "{count} violation{}", if count == 1 { "" } else { "s" })?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

/// One broken rule and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path of the offending value, as in [`crate::DataError::path`]: `tid`,
    /// `data.devices[1].md5`; `topic` for the topic's gateway serial.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// What a [`Violation`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Problem {
    /// `tid` or `bid` is not a UUID.
    #[error("{value:?} is not a UUID (8-4-4-4-12 hex digits)")]
    NotUuid {
        /// The id as sent.
        value: String,
    },
    /// The timestamp is not milliseconds between 2015 and 2100.
    #[error(
        "{value} is not a time in milliseconds between 2015 and 2100 (seconds sent by mistake?)"
    )]
    ImplausibleTimestamp {
        /// The timestamp as sent.
        value: u64,
    },
    /// A serial that cannot stand in a topic.
    #[error("{0}")]
    UnsafeSerial(TopicError),
    /// The envelope's `gateway` names another gateway than the topic.
    #[error("{gateway:?} differs from the topic's gateway {topic:?}")]
    GatewayMismatch {
        /// The `gateway` field.
        gateway: String,
        /// The serial in the topic.
        topic: String,
    },
    /// Not 1 to 2 devices.
    #[error("{count} devices; an ota_create upgrades {MIN_DEVICES} to {MAX_DEVICES}")]
    DeviceCount {
        /// How many were sent.
        count: usize,
    },
    /// Two devices with the same serial.
    #[error("serial {sn:?} is listed twice")]
    DuplicateDevice {
        /// The repeated serial.
        sn: String,
    },
    /// A text field that must not be empty is.
    #[error("must not be empty")]
    Empty,
    /// A text field longer than [`MAX_TEXT_CHARS`].
    #[error("{chars} characters; at most {MAX_TEXT_CHARS}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// `md5` is not 32 hex digits.
    #[error("{value:?} is not an MD5 digest ({MD5_HEX_DIGITS} hex digits)")]
    NotMd5 {
        /// The value as sent.
        value: String,
    },
    /// `file_url` is not an `http://` or `https://` address without spaces.
    #[error("not an http:// or https:// address without spaces or control characters")]
    NotHttpUrl,
    /// `product_version` is not dot-separated digits such as `1.00.223`.
    #[error("{value:?} is not a version of dot-separated digits such as 04.01.0020")]
    BadVersion {
        /// The value as sent.
        value: String,
    },
    /// `file_size` is zero.
    #[error("a firmware package cannot be empty")]
    EmptyFile,
    /// Some of `file_url`, `md5`, `file_size`, `file_name` are given but not all.
    #[error("a firmware package needs file_url, md5, file_size and file_name together; missing {}", missing.join(", "))]
    PartialPackage {
        /// The fields left out.
        missing: Vec<&'static str>,
    },
    /// A value of an open enum this crate does not know.
    #[error("{value:?} is not a known value")]
    UnknownValue {
        /// The value as sent.
        value: String,
    },
    /// `percent` outside 0..=100.
    #[error("{value} is outside 0..={MAX_PERCENT}")]
    PercentOutOfRange {
        /// The value as sent.
        value: i64,
    },
}

/// Where a value is: an envelope or payload path, or a field of one device. Written out
/// only when a violation is reported, so that validating a valid message allocates
/// nothing.
#[derive(Clone, Copy)]
pub(crate) struct At {
    device: Option<usize>,
    field: &'static str,
}

impl At {
    pub(crate) const fn top(path: &'static str) -> Self {
        Self {
            device: None,
            field: path,
        }
    }

    /// `data.devices[i].field`, or `data.devices[i]` for an empty `field`.
    pub(crate) const fn device(i: usize, field: &'static str) -> Self {
        Self {
            device: Some(i),
            field,
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.device, self.field) {
            (None, path) => f.write_str(path),
            (Some(i), "") => write!(f, "data.devices[{i}]"),
            (Some(i), field) => write!(f, "data.devices[{i}].{field}"),
        }
    }
}

/// Collects violations with their paths.
pub(crate) struct Report<'a>(pub(crate) &'a mut Vec<Violation>);

impl Report<'_> {
    pub(crate) fn push(&mut self, at: At, problem: Problem) {
        self.0.push(Violation {
            path: at.to_string(),
            problem,
        });
    }

    /// An id that must be a UUID: `is_uuid` says whether it is, `id` how it was written.
    pub(crate) fn uuid(&mut self, path: At, is_uuid: bool, id: &dyn fmt::Display) {
        if !is_uuid {
            self.push(
                path,
                Problem::NotUuid {
                    value: id.to_string(),
                },
            );
        }
    }

    pub(crate) fn serial(&mut self, path: At, serial: &str) {
        self.text(path, serial);
        if let Err(e) = check_serial(serial) {
            // An empty serial was reported by `text` already.
            if e != TopicError::EmptySerial {
                self.push(path, Problem::UnsafeSerial(e));
            }
        }
    }

    /// A required text field: not empty, at most MAX_TEXT_CHARS.
    pub(crate) fn text(&mut self, path: At, text: &str) {
        if text.is_empty() {
            self.push(path, Problem::Empty);
        }
        self.max_chars(path, text);
    }

    pub(crate) fn max_chars(&mut self, path: At, text: &str) {
        // Only text longer in bytes than the limit can be longer in characters.
        if text.len() > MAX_TEXT_CHARS {
            let chars = text.chars().count();
            if chars > MAX_TEXT_CHARS {
                self.push(path, Problem::TooLong { chars });
            }
        }
    }

    pub(crate) fn known(&mut self, path: At, known: bool, value: &dyn fmt::Display) {
        if !known {
            self.push(
                path,
                Problem::UnknownValue {
                    value: value.to_string(),
                },
            );
        }
    }
}

/// Dot-separated groups of ASCII digits, at least two: `1.00.223`, `04.01.0020`.
pub(crate) fn is_version(text: &str) -> bool {
    let mut groups = 0;
    for group in text.split('.') {
        if group.is_empty() || !group.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        groups += 1;
    }
    groups >= 2
}

/// An `http://` or `https://` address with a host and no whitespace or control
/// characters.
pub(crate) fn is_http_url(text: &str) -> bool {
    let after_scheme = |scheme: &str| {
        text.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| &text[scheme.len()..])
    };
    let Some(rest) = after_scheme("https://").or_else(|| after_scheme("http://")) else {
        return false;
    };
    !rest.is_empty() && !rest.starts_with('/') && !text.chars().any(is_forbidden_in_url)
}

/// True for a character a `file_url` cannot hold: whitespace or a control character.
pub(crate) fn is_forbidden_in_url(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// True for 32 hex digits, either case.
pub(crate) fn is_md5(text: &str) -> bool {
    text.len() == MD5_HEX_DIGITS && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// [`UNSAFE_IN_SERIAL`] as a table of bytes (all of them are ASCII).
const UNSAFE_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < UNSAFE_IN_SERIAL.len() {
        assert!(UNSAFE_IN_SERIAL[i].is_ascii());
        table[UNSAFE_IN_SERIAL[i] as usize] = true;
        i += 1;
    }
    table
};

/// Why `serial` cannot stand in a topic, if it cannot.
///
/// This is the one rule for topic-safe serials: `Serial::new`, topic parsing and
/// validation all use it.
///
/// # Errors
/// [`TopicError::EmptySerial`] or [`TopicError::UnsafeSerial`].
pub fn check_serial(serial: &str) -> Result<(), TopicError> {
    if serial.is_empty() {
        return Err(TopicError::EmptySerial);
    }
    // Every unsafe character is ASCII, and in UTF-8 an ASCII byte is always that
    // character, so a byte scan finds the first one.
    match serial.bytes().find(|&b| UNSAFE_BYTE[usize::from(b)]) {
        Some(found) => Err(TopicError::UnsafeSerial {
            serial: serial.into(),
            found: char::from(found),
        }),
        None => Ok(()),
    }
}

/// Why a serial or a topic was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The serial is empty.
    #[error("the gateway serial is empty")]
    EmptySerial,
    /// The serial holds a character that would change the topic's meaning.
    #[error(
        "the gateway serial {serial:?} holds {found:?}, which cannot stand in an MQTT topic level (`/`, `+`, `#` and NUL are refused)"
    )]
    UnsafeSerial {
        /// The serial as given.
        serial: String,
        /// The first offending character.
        found: char,
    },
    /// A topic of the DJI Cloud API that carries no OTA message, such as `osd`.
    #[error("not an OTA topic (one of the DJI Cloud API's other topics)")]
    NotOta,
    /// Not a topic of the DJI Cloud API.
    #[error(
        "not a DJI Cloud API topic: expected thing/product/{{sn}}/services, services_reply, events or events_reply"
    )]
    Unrecognised,
    /// Not a device's state topic, where a state topic was expected.
    #[error("not a state topic: expected thing/product/{{sn}}/state")]
    NotState,
}
