//! Decoding a topic and payload into a [`Message`].
//!
//! In order: the topic (a non-OTA topic ends here, its payload unread), the size limit,
//! UTF-8, then one reading of the payload by serde_json: the envelope, with `data` read
//! straight as the topic's payload type, in whatever order the keys come; a `method`
//! that names another message ends the reading there, the rest unread. Only a
//! payload that fails is read again, to tell a syntax error from a data error, to find
//! its method and ids, and to find the JSON path of the error.

use serde::de::IgnoredAny;

use crate::model::payload::{Payload, PayloadFn, with_payload};
use crate::model::{
    Id, Message, Method, MethodName, StatePush, StateTopic, Topic, read_envelope,
    read_envelope_only, read_state,
};
use crate::rules::check::TopicError;
use crate::rules::limits::MAX_PAYLOAD_BYTES;
use crate::wire::error::{DataError, DecodeError};

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
    let topic = match Topic::parse(topic) {
        Ok(topic) => topic,
        Err(TopicError::NotOta) => return Err(DecodeError::NotOta { method: None }),
        Err(e) => return Err(DecodeError::Topic(e)),
    };
    let text = checked_text(payload)?;
    with_payload(
        topic.kind,
        Decode {
            topic: &topic,
            text,
        },
    )
}

/// Decodes a device's state push (`thing/product/{device_sn}/state`) into its firmware
/// properties: `firmware_version`, `firmware_upgrade_status` and `compatible_status`,
/// each present only when the push carries it. Every other property of `data` is
/// skipped without being built, and a push with none of the three is not an error: its
/// [`FirmwareState`](crate::FirmwareState) is empty.
///
/// The same tolerance as [`decode`]: the envelope's every spelling, integers as strings
/// or integral floats, and the two 0/1 properties also as `true`/`false`; an unknown
/// value is kept. [`decode`] refuses a state topic as not an OTA message, as before.
///
/// ```
/// use dji_cloud_ota::{FirmwareUpgradeStatus, decode_state};
///
/// let push = decode_state(
///     "thing/product/4TADKAQ000002J/state",
///     br#"{"tid":"t","bid":"b","timestamp":1707048089244,"gateway":"4TADKAQ000002J",
///         "data":{"mode_code":1,"firmware_version":"10.01.0504","firmware_upgrade_status":0}}"#,
/// )?;
/// assert_eq!(push.firmware.firmware_version.as_deref(), Some("10.01.0504"));
/// assert_eq!(push.firmware.firmware_upgrade_status, Some(FirmwareUpgradeStatus::NOT_UPGRADING));
/// assert_eq!(push.firmware.compatible_status, None);
/// # Ok::<(), dji_cloud_ota::DecodeError>(())
/// ```
///
/// # Errors
/// As [`decode`]: [`DecodeError::Topic`] for a topic that is not a state topic
/// ([`TopicError::NotState`]) or has an unsafe serial, then size, UTF-8, syntax and
/// data errors, each data error with its JSON path.
pub fn decode_state(topic: &str, payload: &[u8]) -> Result<StatePush, DecodeError> {
    let topic = StateTopic::parse(topic).map_err(DecodeError::Topic)?;
    let text = checked_text(payload)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let read = read_state(&mut de, &topic.sn).and_then(|push| {
        de.end()?;
        Ok(push)
    });
    read.map_err(|error| {
        if let Err(syntax) = serde_json::from_str::<IgnoredAny>(text) {
            return DecodeError::Syntax {
                line: syntax.line(),
                column: syntax.column(),
                message: message_of(&syntax),
            };
        }
        let path = error_path(text, |d| read_state(d, &topic.sn).map(drop));
        data_error(path, &error, None)
    })
}

/// `payload` as text, once its size and UTF-8 are checked.
fn checked_text(payload: &[u8]) -> Result<&str, DecodeError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    match simdutf8::basic::from_utf8(payload) {
        Ok(text) => Ok(text),
        // The fast check says only that the payload is not UTF-8; std's says where.
        Err(_) => std::str::from_utf8(payload).map_err(|e| {
            let (line, column) = line_column(payload, e.valid_up_to());
            DecodeError::InvalidUtf8 {
                offset: e.valid_up_to(),
                line,
                column,
            }
        }),
    }
}

/// Decoding `text` as the message of `topic`, once its payload type is known.
struct Decode<'a> {
    topic: &'a Topic,
    text: &'a str,
}

impl PayloadFn for Decode<'_> {
    type Output = Result<Message, DecodeError>;

    fn call<P: Payload>(self) -> Self::Output {
        let mut de = serde_json::Deserializer::from_str(self.text);
        let mut refused = None;
        let read = read_envelope::<P, _>(&mut de, self.topic, &mut refused)
            .and_then(|message| de.end().map(|()| message));
        read.map_err(|error| match refused {
            // Another message's: the rest is not read, so not checked either.
            Some(method) => refusal(Some(method), self.topic),
            None => explain::<P>(self.topic, self.text, &error),
        })
    }
}

/// The error for a payload whose `method` names another message than `P`'s, or that
/// has none and whose `data` is not of `P`'s shape, so some other message.
fn refusal(method: Option<MethodName>, topic: &Topic) -> DecodeError {
    match method {
        Some(MethodName::Ota(method)) => DecodeError::WrongTopic {
            method,
            topic: topic.kind,
        },
        Some(MethodName::Other(name)) => DecodeError::NotOta { method: Some(name) },
        None => DecodeError::NotOta { method: None },
    }
}

/// Why a payload failed to read as `P`'s message, read again to find out: not JSON
/// (anywhere: serde stops at the first problem, so a missing field can be met before
/// trailing garbage), a bad envelope, another method, or bad `data`, each error with
/// its JSON path, line and column.
#[cold]
#[inline(never)]
fn explain<P: Payload>(topic: &Topic, text: &str, error: &serde_json::Error) -> DecodeError {
    // The envelope alone first, `data` skipped: it shows whether the payload is JSON,
    // and its method (another message's `data` read before its `method` fails as `P`).
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope = read_envelope_only(&mut de).and_then(|envelope| {
        de.end()?;
        Ok(envelope)
    });
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(envelope_error) => {
            if let Err(syntax) = serde_json::from_str::<IgnoredAny>(text) {
                return DecodeError::Syntax {
                    line: syntax.line(),
                    column: syntax.column(),
                    message: message_of(&syntax),
                };
            }
            return data_error(
                error_path(text, |d| read_envelope_only(d).map(drop)),
                &envelope_error,
                None,
            );
        }
    };
    match envelope.method {
        Some(MethodName::Ota(method)) if method == P::METHOD => data_error(
            error_path(text, |d| {
                read_envelope::<P, _>(d, topic, &mut None).map(drop)
            }),
            error,
            Some((
                method,
                Id::from_text(&envelope.tid),
                Id::from_text(&envelope.bid),
            )),
        ),
        method => refusal(method, topic),
    }
}

/// The JSON path at which `read` fails on `text` (`data.output.status`,
/// `data.devices[1]`, `.` for the top level).
fn error_path(
    text: &str,
    read: impl FnOnce(
        serde_path_to_error::Deserializer<
            &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
        >,
    ) -> Result<(), serde_json::Error>,
) -> String {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    match read(serde_path_to_error::Deserializer::new(&mut de, &mut track)) {
        Ok(()) => String::new(),
        Err(_) => track.path().to_string(),
    }
}

/// A data error at `path`, with what was known of the envelope.
fn data_error(
    path: String,
    error: &serde_json::Error,
    envelope: Option<(Method, Id, Id)>,
) -> DecodeError {
    let (method, tid, bid) = match envelope {
        Some((method, tid, bid)) => (Some(method), Some(tid), Some(bid)),
        None => (None, None, None),
    };
    DecodeError::Data(Box::new(DataError {
        path,
        line: error.line(),
        column: error.column(),
        message: message_of(error),
        method,
        tid,
        bid,
    }))
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
