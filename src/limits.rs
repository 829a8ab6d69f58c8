//! The protocol's limits and the decoder's, each defined once.
//!
//! Validation ([`crate::Message::validate`]) checks the protocol limits; decoding
//! ([`crate::decode`]) enforces the decoder limits before reading a payload.

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
/// every message that can validate fits.
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
