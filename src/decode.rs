//! Decoding a topic and payload into a [`Message`].
//!
//! In order: the topic (a non-OTA topic ends here, its payload unread), the size limit,
//! UTF-8, then the fast path (`crate::fast`) for a message in the common canonical
//! shape. Any other payload goes to the full tolerant decoder: the types' serde impls,
//! which hold every tolerated spelling, read first on plain JSON (`crate::plain_json`)
//! in one pass, and where that gives up on serde_json, the envelope with `data` kept as
//! a raw slice, the method (a non-OTA method ends here), and last `data` as the type the
//! topic calls for. A failed decode is read again, only then, to find the error's JSON
//! path.

use compact_str::CompactString;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::error::{DataError, DecodeError};
use crate::fast;
use crate::limits::MAX_PAYLOAD_BYTES;
use crate::message::{Data, Message, Method};
use crate::object::{self, error_path, from_json_object};
use crate::plain_json;
use crate::{
    EventsReply, Id, OtaCreate, OtaCreateReply, OtaProgress, Serial, Topic, TopicError, TopicKind,
    tolerant,
};

/// The envelope as it may arrive, with `data` read as `D`: the topic's payload type, a
/// raw slice to be read once the method is known, or, once read, [`Data`].
#[derive(Deserialize)]
#[serde(bound(deserialize = "D: Deserialize<'de>"))]
struct WireEnvelope<D> {
    tid: Id,
    bid: Id,
    /// Every published example up to v1.10 spells this key `"timestamp:"`.
    #[serde(alias = "timestamp:", deserialize_with = "tolerant::int")]
    timestamp: u64,
    /// The English documentation leaves `method` out; the topic and `data` then decide.
    #[serde(default)]
    method: Option<CompactString>,
    #[serde(default)]
    gateway: Option<CompactString>,
    #[serde(default, deserialize_with = "tolerant::opt_flag")]
    need_reply: Option<bool>,
    #[serde(deserialize_with = "object::object")]
    data: D,
}

impl<D> WireEnvelope<D> {
    fn map_data<E>(self, f: impl FnOnce(D) -> E) -> WireEnvelope<E> {
        WireEnvelope {
            tid: self.tid,
            bid: self.bid,
            timestamp: self.timestamp,
            method: self.method,
            gateway: self.gateway,
            need_reply: self.need_reply,
            data: f(self.data),
        }
    }
}

impl WireEnvelope<Data> {
    fn into_message(self, sn: Serial) -> Message {
        Message {
            sn,
            tid: self.tid,
            bid: self.bid,
            timestamp: self.timestamp,
            gateway: self.gateway,
            need_reply: self.need_reply,
            data: self.data,
        }
    }
}

/// Decodes the OTA message that `payload` carries on `topic`.
///
/// Tolerant: every spelling that real peers and the published documentation use is
/// read (see the README's table). Unknown keys are ignored, unknown enum values kept.
/// Nothing is validated here beyond what the types need: call [`Message::validate`].
///
/// ```
/// use dji_cloud_ota::{Data, decode};
///
/// let payload = br#"{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc",
///   "bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1654070968655,
///   "method":"ota_progress","data":{"result":0,"output":{"status":"in_progress",
///   "progress":{"percent":10,"step_key":"download_firmware"}}}}"#;
/// let message = decode("thing/product/4TADKAQ000002J/events", payload)?;
/// let Data::OtaProgress(event) = &message.data else { unreachable!() };
/// assert_eq!(event.output.progress.as_ref().unwrap().percent, 10);
///
/// let hms = br#"{"tid":"t","bid":"b","timestamp":1,"method":"hms","data":{"list":[]}}"#;
/// assert!(decode("thing/product/4TADKAQ000002J/events", hms).unwrap_err().is_not_ota());
/// # Ok::<(), dji_cloud_ota::DecodeError>(())
/// ```
///
/// # Errors
/// See [`DecodeError`]: a non-OTA message, a bad topic, a payload over the size limit,
/// bytes that are not UTF-8 JSON, or JSON that is not the expected message.
pub fn decode(topic: &str, payload: &[u8]) -> Result<Message, DecodeError> {
    let (topic, text) = ota_topic_and_text(topic, payload)?;
    match fast::decode(topic.kind, &topic.sn, text) {
        Ok(message) => Ok(message),
        Err(gave_up) => decode_tolerant(topic, text, gave_up.other_method),
    }
}

/// The two decoders that [`decode`] combines, each alone, so that tests and fuzz targets
/// can hold them to giving the same answers. Not part of the stable API.
#[doc(hidden)]
pub mod paths {
    use super::{DecodeError, Message, fast, ota_topic_and_text};

    /// The full tolerant decoder alone.
    pub fn tolerant(topic: &str, payload: &[u8]) -> Result<Message, DecodeError> {
        let (topic, text) = ota_topic_and_text(topic, payload)?;
        super::decode_tolerant(topic, text, false)
    }

    /// The full decoder's authoritative reading alone: envelope, method, then `data`.
    pub fn two_pass(topic: &str, payload: &[u8]) -> Result<Message, DecodeError> {
        let (topic, text) = ota_topic_and_text(topic, payload)?;
        super::two_pass(topic, text)
    }

    /// The fast path alone: `None` where it gives up (and for any error before it).
    pub fn fast(topic: &str, payload: &[u8]) -> Option<Message> {
        let (topic, text) = ota_topic_and_text(topic, payload).ok()?;
        fast::decode(topic.kind, &topic.sn, text).ok()
    }
}

/// The OTA topic and the payload as text, or the error that ends decoding before the
/// JSON is read: not an OTA topic, too large, not UTF-8.
fn ota_topic_and_text<'a>(topic: &str, payload: &'a [u8]) -> Result<(Topic, &'a str), DecodeError> {
    let topic = match Topic::parse(topic) {
        Ok(topic) => topic,
        Err(TopicError::NotOta) => return Err(DecodeError::NotOta { method: None }),
        Err(e) => return Err(DecodeError::Topic(e)),
    };
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    let text = match simdutf8::basic::from_utf8(payload) {
        Ok(text) => text,
        // The fast check says only that the payload is not UTF-8; std's says where.
        Err(_) => std::str::from_utf8(payload).map_err(|e| {
            let (line, column) = line_column(payload, e.valid_up_to());
            DecodeError::InvalidUtf8 {
                offset: e.valid_up_to(),
                line,
                column,
            }
        })?,
    };
    Ok((topic, text))
}

/// The full decoder: every tolerated spelling, every error with its position.
///
/// It reads the payload once, with the plain JSON reader, with `data` taken straight as
/// the topic's message, which is what almost every payload that reaches it is, unless
/// the fast path saw that the payload names another method (`other_method`): then the
/// envelope alone is read, `data` skipped, to refuse it. Where either read gives up,
/// [`two_pass`] on serde_json gives the answer: it reads the envelope with `data` as a
/// raw slice, decides by the method, and only then reads `data`. Both give the same
/// answer for every payload the first reading accepts.
fn decode_tolerant(topic: Topic, text: &str, other_method: bool) -> Result<Message, DecodeError> {
    if !other_method {
        let read = match topic.kind {
            TopicKind::Services => one_pass::<OtaCreate>(&topic, text, Data::OtaCreate),
            TopicKind::ServicesReply => {
                one_pass::<OtaCreateReply>(&topic, text, Data::OtaCreateReply)
            }
            TopicKind::Events => one_pass::<OtaProgress>(&topic, text, Data::OtaProgress),
            TopicKind::EventsReply => one_pass::<EventsReply>(&topic, text, Data::OtaProgressReply),
        };
        if let Some(result) = read {
            return result;
        }
    } else if let Some(refusal) = other_method_refusal(topic.kind, text) {
        return Err(refusal);
    }
    two_pass(topic, text)
}

/// The `NotOta` or `WrongTopic` error for a payload that names a method other than the
/// topic's, read in one pass with `data` skipped: most messages on `events` and
/// `services` are not OTA, and are told apart this way without serde_json's slower
/// reading. `None` where the plain reader gives up, for [`two_pass`] to answer.
#[inline(never)]
fn other_method_refusal(kind: TopicKind, text: &str) -> Option<DecodeError> {
    let envelope = plain_json::from_str::<WireEnvelope<IgnoredAny>>(text)?;
    check_method(envelope.method.as_deref()?, kind).err()
}

/// The message with `data` read as `T` in the same pass as the envelope, by the plain
/// JSON reader; `None` where it gives up, for [`two_pass`] to read or explain.
#[inline(never)]
fn one_pass<'a, T: Deserialize<'a>>(
    topic: &Topic,
    text: &'a str,
    wrap: fn(T) -> Data,
) -> Option<Result<Message, DecodeError>> {
    let envelope = plain_json::from_str::<WireEnvelope<T>>(text)?;
    if let Some(name) = &envelope.method {
        if let Err(e) = check_method(name, topic.kind) {
            return Some(Err(e));
        }
    }
    Some(Ok(envelope.map_data(wrap).into_message(topic.sn.clone())))
}

/// Whether an envelope's `method` lets its `data` be read as the topic's message.
fn check_method(name: &str, kind: TopicKind) -> Result<(), DecodeError> {
    match Method::from_name(name) {
        None => Err(DecodeError::NotOta {
            method: Some(CompactString::new(name)),
        }),
        Some(method) if method != Method::of_topic(kind) => Err(DecodeError::WrongTopic {
            method,
            topic: kind,
        }),
        Some(_) => Ok(()),
    }
}

/// The envelope first, `data` kept raw; then the method decides; then `data`.
#[cold]
#[inline(never)]
fn two_pass(topic: Topic, text: &str) -> Result<Message, DecodeError> {
    let envelope: WireEnvelope<&RawValue> =
        from_json_object(text).map_err(|e| envelope_error(text, &e))?;
    let data = match &envelope.method {
        Some(name) => {
            check_method(name, topic.kind)?;
            decode_data(topic.kind, envelope.data.get())
                .map_err(|e| data_error(text, &envelope, topic.kind, &e))?
        }
        // Without a method, the topic names the one OTA message it could be, and `data`
        // must have that message's shape; anything else is some other method.
        None => decode_data(topic.kind, envelope.data.get())
            .map_err(|_| DecodeError::NotOta { method: None })?,
    };
    Ok(envelope.map_data(|_| data).into_message(topic.sn))
}

/// Reads `data` as the payload type of the topic.
fn decode_data(kind: TopicKind, json: &str) -> Result<Data, serde_json::Error> {
    Ok(match kind {
        TopicKind::Services => Data::OtaCreate(from_json_object(json)?),
        TopicKind::ServicesReply => Data::OtaCreateReply(from_json_object(json)?),
        TopicKind::Events => Data::OtaProgress(from_json_object(json)?),
        TopicKind::EventsReply => Data::OtaProgressReply(from_json_object(json)?),
    })
}

/// The error for a payload whose envelope could not be read.
fn envelope_error(text: &str, error: &serde_json::Error) -> DecodeError {
    if let Some(syntax) = syntax_error(text) {
        return syntax;
    }
    let path = error_path::<WireEnvelope<&RawValue>>(text);
    DecodeError::Data(Box::new(DataError {
        path,
        line: error.line(),
        column: error.column(),
        message: message_of(error),
        method: None,
        tid: None,
        bid: None,
    }))
}

/// The error for a payload whose envelope was read but whose `data` was not.
fn data_error(
    text: &str,
    envelope: &WireEnvelope<&RawValue>,
    kind: TopicKind,
    error: &serde_json::Error,
) -> DecodeError {
    // The envelope read the whole payload, so it is well-formed JSON: a data error.
    let json = envelope.data.get();
    let start = json.as_ptr() as usize - text.as_ptr() as usize;
    let (start_line, start_column) = line_column(text.as_bytes(), start);
    let (line, column) = if error.line() <= 1 {
        (start_line, start_column - 1 + error.column())
    } else {
        (start_line + error.line() - 1, error.column())
    };
    let inner = match kind {
        TopicKind::Services => error_path::<OtaCreate>(json),
        TopicKind::ServicesReply => error_path::<OtaCreateReply>(json),
        TopicKind::Events => error_path::<OtaProgress>(json),
        TopicKind::EventsReply => error_path::<EventsReply>(json),
    };
    DecodeError::Data(Box::new(DataError {
        path: join_path("data", &inner),
        line,
        column,
        message: message_of(error),
        method: Some(Method::of_topic(kind)),
        tid: Some(envelope.tid.clone()),
        bid: Some(envelope.bid.clone()),
    }))
}

/// A syntax error when the payload breaks JSON syntax, wherever `error` was found.
///
/// serde stops at the first problem: a missing field is noticed before trailing
/// garbage, so the payload is checked as a whole. Reading typed values is also stricter
/// than the grammar: a lone UTF-16 surrogate (`"\ud800"`) in a string read as text, or a
/// number beyond the range of `f64` (`1e400`), fails the typed read of well-formed JSON,
/// and is then a data error at its path, as it is inside `data`.
fn syntax_error(text: &str) -> Option<DecodeError> {
    // Only on the error path; a `&str` source has no I/O errors.
    serde_json::from_str::<IgnoredAny>(text)
        .err()
        .map(|e| DecodeError::Syntax {
            line: e.line(),
            column: e.column(),
            message: message_of(&e),
        })
}

fn join_path(head: &str, tail: &str) -> String {
    match tail {
        "" | "." => head.to_owned(),
        _ if tail.starts_with('[') => format!("{head}{tail}"),
        _ => format!("{head}.{tail}"),
    }
}

/// serde_json's message without its trailing ` at line L column C`, which the error
/// carries in fields of its own.
///
/// serde_json calls a lone surrogate in a string read as text an `unexpected end of hex
/// escape` (`"\ud800"`) or a `lone leading surrogate in hex escape` (`"\udc00"`); the
/// message says what that means.
fn message_of(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    if message.ends_with("hex escape") {
        format!(
            "lone UTF-16 surrogate: a \\u escape of half a surrogate pair is not text ({message})"
        )
    } else {
        message.to_owned()
    }
}

/// 1-based line and column (in bytes) of byte `offset`.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - line_start + 1)
}
