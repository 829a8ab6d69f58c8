//! The fast path: one pass over a message in its common, canonical shape.
//!
//! Most messages a server receives are written by docks in one shape: known keys, strings
//! without escapes, plain non-negative integers, the `method` of their topic. This reader
//! takes exactly those, in any key order and with any JSON whitespace, and builds the
//! [`Message`] directly from the payload (already checked to be UTF-8). On anything else
//! (an unknown or tolerated key, an escape or control character in a string, `null`, a
//! string integer, a duplicate key, a number with a sign, fraction or exponent, a method
//! of another topic) it gives up and returns `None`, and [`crate::decode`] reads the
//! payload again with the full tolerant serde decoder.
//!
//! Whatever it accepts, the full decoder accepts too and decodes to the same message: it
//! uses the same conversions (`Id::from_text`, the open enums' `From<&str>`) and leaves
//! every error, and every tolerated spelling, to the full decoder. A differential test
//! and fuzz target hold it to that.

use compact_str::CompactString;

use crate::cursor::Cursor;
use crate::message::{Data, Message, Method};
use crate::{
    Device, EventsReply, Id, OtaCreate, OtaCreateOutput, OtaCreateReply, OtaProgress, Progress,
    ProgressExt, ProgressOutput, ResultCode, Serial, Step, TaskStatus, TopicKind, UpgradeType,
};

/// Why the fast path gave the payload to the full decoder.
pub(crate) struct GaveUp {
    /// The payload's top-level `method`, read before giving up, is not the topic's: the
    /// message is most likely not OTA at all.
    pub(crate) other_method: bool,
}

/// Decodes `text` as the OTA message of `kind`, or says why it leaves it to the full
/// decoder.
pub(crate) fn decode(kind: TopicKind, sn: &Serial, text: &str) -> Result<Message, GaveUp> {
    let mut other_method = false;
    read_message(kind, sn, text, &mut other_method).ok_or(GaveUp { other_method })
}

fn read_message(
    kind: TopicKind,
    sn: &Serial,
    text: &str,
    other_method: &mut bool,
) -> Option<Message> {
    let mut c = Cursor::new(text);
    let expected = Method::of_topic(kind).as_str().as_bytes();
    let mut tid = None;
    let mut bid = None;
    let mut timestamp = None;
    let mut method = None;
    let mut gateway = None;
    let mut need_reply = None;
    let mut data = None;
    c.object(|c, key| match key {
        b"tid" => once(&mut tid, c.id()?),
        b"bid" => once(&mut bid, c.id()?),
        b"timestamp" => once(&mut timestamp, c.u64()?),
        b"method" => {
            *other_method = c.str()?.as_bytes() != expected;
            (!*other_method).then(|| once(&mut method, ()))?
        }
        b"gateway" => once(&mut gateway, CompactString::new(c.str()?)),
        b"need_reply" => once(
            &mut need_reply,
            match c.u64()? {
                0 => false,
                1 => true,
                _ => return None,
            },
        ),
        b"data" => once(&mut data, read_data(c, kind)?),
        _ => None,
    })?;
    c.end()?;
    method?;
    Some(Message {
        sn: sn.clone(),
        tid: tid?,
        bid: bid?,
        timestamp: timestamp?,
        gateway,
        need_reply,
        data: data?,
    })
}

fn read_data(c: &mut Cursor<'_>, kind: TopicKind) -> Option<Data> {
    Some(match kind {
        TopicKind::Services => Data::OtaCreate(read_create(c)?),
        TopicKind::ServicesReply => Data::OtaCreateReply(read_create_reply(c)?),
        TopicKind::Events => Data::OtaProgress(read_progress_event(c)?),
        TopicKind::EventsReply => {
            let mut result = None;
            c.object(|c, key| match key {
                b"result" => once(&mut result, c.result()?),
                _ => None,
            })?;
            Data::OtaProgressReply(EventsReply { result: result? })
        }
    })
}

fn read_create(c: &mut Cursor<'_>) -> Option<OtaCreate> {
    let mut devices = None;
    c.object(|c, key| match key {
        b"devices" => {
            let mut list = Vec::with_capacity(2);
            c.array(|c| {
                list.push(read_device(c)?);
                Some(())
            })?;
            once(&mut devices, list)
        }
        _ => None,
    })?;
    Some(OtaCreate { devices: devices? })
}

fn read_device(c: &mut Cursor<'_>) -> Option<Device> {
    let mut sn = None;
    let mut product_version = None;
    let mut file_url = None;
    let mut md5 = None;
    let mut file_size = None;
    let mut file_name = None;
    let mut upgrade = None;
    c.object(|c, key| match key {
        b"sn" => once(&mut sn, c.text()?),
        b"product_version" => once(&mut product_version, c.text()?),
        b"file_url" => once(&mut file_url, c.text()?),
        b"md5" => once(&mut md5, c.text()?),
        b"file_size" => once(&mut file_size, c.u64()?),
        b"file_name" => once(&mut file_name, c.text()?),
        b"firmware_upgrade_type" => once(&mut upgrade, UpgradeType(c.i64()?)),
        _ => None,
    })?;
    Some(Device {
        sn: sn?,
        product_version: product_version?,
        file_url,
        md5,
        file_size,
        file_name,
        firmware_upgrade_type: upgrade?,
    })
}

fn read_create_reply(c: &mut Cursor<'_>) -> Option<OtaCreateReply> {
    let mut result = None;
    let mut output = None;
    c.object(|c, key| match key {
        b"result" => once(&mut result, c.result()?),
        b"output" => {
            let mut status = None;
            c.object(|c, key| match key {
                b"status" => once(&mut status, TaskStatus::from(c.str()?)),
                _ => None,
            })?;
            once(&mut output, OtaCreateOutput { status: status? })
        }
        _ => None,
    })?;
    Some(OtaCreateReply {
        result: result?,
        output,
    })
}

fn read_progress_event(c: &mut Cursor<'_>) -> Option<OtaProgress> {
    let mut result = None;
    let mut output = None;
    c.object(|c, key| match key {
        b"result" => once(&mut result, c.result()?),
        b"output" => once(&mut output, read_progress_output(c)?),
        _ => None,
    })?;
    Some(OtaProgress {
        result: result?,
        output: output?,
    })
}

fn read_progress_output(c: &mut Cursor<'_>) -> Option<ProgressOutput> {
    let mut status = None;
    let mut progress = None;
    let mut ext = None;
    let mut sub_status = None;
    c.object(|c, key| match key {
        b"status" => once(&mut status, TaskStatus::from(c.str()?)),
        b"progress" => {
            let mut percent = None;
            let mut step = None;
            let mut step_result = None;
            c.object(|c, key| match key {
                b"percent" => once(&mut percent, c.i64()?),
                b"step_key" => once(&mut step, Step::from(c.str()?)),
                b"step_result" => once(&mut step_result, c.i64()?),
                _ => None,
            })?;
            once(
                &mut progress,
                Progress {
                    percent: percent?,
                    step,
                    step_result,
                },
            )
        }
        b"ext" => {
            let mut rate = None;
            c.object(|c, key| match key {
                b"rate" => once(&mut rate, c.u64()?),
                _ => None,
            })?;
            once(&mut ext, ProgressExt { rate })
        }
        b"sub_status" => once(&mut sub_status, CompactString::new(c.str()?)),
        _ => None,
    })?;
    Some(ProgressOutput {
        status: status?,
        progress,
        ext,
        sub_status,
    })
}

/// Sets a field read once; a second value for it (a duplicate key) gives up.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// The protocol's values as the fast path reads them: text, ids and signed integers
/// from the plain tokens, by the same conversions the serde impls use.
impl Cursor<'_> {
    fn text(&mut self) -> Option<CompactString> {
        self.str().map(CompactString::new)
    }

    fn id(&mut self) -> Option<Id> {
        self.str().map(Id::from_text)
    }

    fn i64(&mut self) -> Option<i64> {
        self.u64().and_then(|v| i64::try_from(v).ok())
    }

    fn result(&mut self) -> Option<ResultCode> {
        self.i64().map(ResultCode)
    }
}
