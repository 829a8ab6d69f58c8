//! What the fuzz targets share: how one fuzz input becomes a topic and a payload.

use std::borrow::Cow;

/// Splits a fuzz input at its first newline: the topic before it, the payload after.
/// An input without a newline is a payload on the events topic of gateway `FUZZ`.
///
/// Seeds are written the same way (`fuzz/run`), so a fixture seed is its topic, a
/// newline, then the fixture's bytes.
pub fn topic_and_payload(data: &[u8]) -> (Cow<'_, str>, &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (String::from_utf8_lossy(&data[..at]), &data[at + 1..]),
        None => (Cow::Borrowed("thing/product/FUZZ/events"), data),
    }
}
