//! The protocol's limits and the decoder's, each defined once.
//!
//! Validation ([`crate::Message::validate`]) checks the protocol limits; decoding
//! ([`crate::decode`]) enforces the decoder limits before reading a payload.
//!
//! # What `decode` does with hostile input
//!
//! [`crate::decode`] never panics, never recurses without bound, and never returns a
//! message that differs from what the payload says: a value it cannot hold exactly is
//! an error, not a wrapped, truncated or replaced value. What a server operator can rely
//! on, limit by limit:
//!
//! | input | result |
//! |---|---|
//! | a payload longer than [`MAX_PAYLOAD_BYTES`] (default 2 MiB) | [`DecodeError::TooLarge`], once the topic is read and before anything is done with the payload: nothing proportional to its size is allocated |
//! | bytes that are not UTF-8, anywhere in the payload (in an unknown field too) | [`DecodeError::InvalidUtf8`] with the offset, line and column of the first bad byte |
//! | bytes that are not JSON, anywhere in the payload (after the message's end too) | [`DecodeError::Syntax`] with line and column; but what follows a `method` that names another message is not read: that message is [`DecodeError::NotOta`] (or [`DecodeError::WrongTopic`]) whatever follows |
//! | nesting depth | no limit of its own, and none needed: see below |
//! | an integer written as a JSON float (`10.0`, `1e1`, `-0`), as Python's `json.dumps` writes it | read as that integer when it is whole and at most [`MAX_INTEGRAL_FLOAT`] in magnitude; a fraction (`10.5`) is [`DecodeError::Data`] at the field's path (`invalid value: floating point`), a larger float is `out of range`. serde_json reads the number as a 64-bit float first, so a fraction finer than a float holds (`0.999999999999999999999`, 17 significant digits and more) is read as the whole number it rounds to |
//! | an integer beyond its field's type (`timestamp`, `file_size` and `rate` are `u64`; `percent`, `result`, `step_result` and `firmware_upgrade_type` are `i64`), as a number (`18446744073709551616`, `1e400`, `-1` for a `u64`) or a decimal string (`"18446744073709551616"`) | [`DecodeError::Data`] at the field's path, its message saying `out of range` |
//! | a key twice in one object, or two spellings of one key (`status` beside `stauts`, `timestamp` beside `"timestamp:"`, `step_key` beside `current_step`) | [`DecodeError::Data`] at the object's path: `duplicate field` and the key's canonical name (unless a `method` naming another message came first: see above) |
//! | a lone UTF-16 surrogate (`"\ud800"`, `"\udc00"`) in a string the crate reads: an id, `method`, `gateway`, any text or enum field, or any object key | [`DecodeError::Data`] at its path, its message saying `lone UTF-16 surrogate`: such an escape is valid JSON grammar but not text |
//!
//! Duplicate keys and lone surrogates in what the crate does not read are not looked
//! for: the value of an unknown key is only checked to be well-formed JSON and then
//! skipped, and what follows the `method` of a non-OTA message is not read at all,
//! since neither is part of the message that `decode` returns. The same key twice in
//! such a place is not an error; neither is a lone surrogate there. Keys are always
//! read, to be told apart, so a lone surrogate in the key of an unknown field is an
//! error.
//!
//! A payload without `method` is the topic's OTA message only if its `data` decodes as
//! one (README, "How a message is told apart"); if its `data` holds a duplicate key, a
//! lone surrogate or an integer out of range in an OTA field, it does not, and the
//! answer is [`DecodeError::NotOta`], as for any other `data` of another shape.
//!
//! ## Nesting depth
//!
//! An OTA message is at most five levels deep (`data.devices[i].sn`,
//! `data.output.progress.percent`), and `decode` recurses only along that fixed shape.
//! A deeper value where the message expects text or a number is refused at its first
//! level ([`DecodeError::Data`]: `invalid type: sequence` or `map`); a deeper value that
//! is skipped (an unknown key, the `data` of a state push) is walked without
//! recursion, with one byte of memory per open level, so [`MAX_PAYLOAD_BYTES`] bounds
//! it. serde_json's own recursion limit (128 levels) is never reached. A payload of a
//! million nested arrays is read as quickly and safely as any other of its size.
//!
//! [`DecodeError::TooLarge`]: crate::DecodeError::TooLarge
//! [`DecodeError::InvalidUtf8`]: crate::DecodeError::InvalidUtf8
//! [`DecodeError::Syntax`]: crate::DecodeError::Syntax
//! [`DecodeError::Data`]: crate::DecodeError::Data
//! [`DecodeError::NotOta`]: crate::DecodeError::NotOta
//! [`DecodeError::WrongTopic`]: crate::DecodeError::WrongTopic

/// The characters a topic-safe serial cannot hold: the MQTT level separator `/`, the
/// wildcards `+` and `#`, and NUL (forbidden in MQTT topics).
pub const UNSAFE_IN_SERIAL: [char; 4] = ['/', '+', '#', '\0'];

/// Largest whole number an integer field accepts written as a JSON float (`1e3`,
/// `10.0`): 2^53 − 1. From 2^53 on, a float no longer holds every integer, so the value
/// read might not be the value written (`9007199254740993.0` reads as 2^53).
pub const MAX_INTEGRAL_FLOAT: f64 = 9_007_199_254_740_991.0;

/// Most devices in one `ota_create` (the aircraft and its dock).
pub const MAX_DEVICES: usize = 2;

/// Fewest devices in one `ota_create`.
pub const MIN_DEVICES: usize = 1;

/// Longest text field, in characters (Unicode scalar values), as the protocol's
/// `{"length": "10240"}` constraint says.
pub const MAX_TEXT_CHARS: usize = 10240;

/// Highest `percent`.
pub const MAX_PERCENT: i64 = 100;

/// Length of an MD5 digest in hex digits.
pub const MD5_HEX_DIGITS: usize = 32;

/// Earliest plausible `timestamp`: 2015-01-01T00:00:00Z in milliseconds. A timestamp
/// before it is most often one sent in seconds by mistake.
pub const MIN_TIMESTAMP_MS: u64 = 1_420_070_400_000;

/// Latest plausible `timestamp`: 2100-01-01T00:00:00Z in milliseconds.
pub const MAX_TIMESTAMP_MS: u64 = 4_102_444_800_000;

/// Largest payload [`crate::decode`] reads, in bytes; a larger one is refused before it
/// is parsed.
///
/// A two-device `ota_create` with every text field at [`MAX_TEXT_CHARS`] and every
/// character written as an escaped surrogate pair (12 bytes) takes about 1.2 MB, so
/// every message that can validate fits, however it is escaped, and so does its
/// canonical encoding (which may be a few bytes longer than what was received: `method`
/// is always written).
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
