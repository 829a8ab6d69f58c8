//! The envelope every OTA message shares, the payload it carries, and the methods that
//! bind payloads to topics.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use compact_str::CompactString;
use serde::{Serialize, Serializer};

use crate::json_writer;
use crate::{
    Device, EventsReply, Id, OtaCreate, OtaCreateOutput, OtaCreateReply, OtaProgress, ResultCode,
    Serial, TaskStatus, Topic, TopicKind, tolerant,
};

/// The two OTA methods. The one place their names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `ota_create`: the service that starts an upgrade (`services`, replied on
    /// `services_reply`).
    OtaCreate,
    /// `ota_progress`: the event that reports an upgrade's progress (`events`, replied on
    /// `events_reply` when asked).
    OtaProgress,
}

impl Method {
    /// The method's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::OtaCreate => "ota_create",
            Method::OtaProgress => "ota_progress",
        }
    }

    /// The method called `name`, if it is an OTA method.
    pub fn from_name(name: &str) -> Option<Self> {
        [Method::OtaCreate, Method::OtaProgress]
            .into_iter()
            .find(|m| m.as_str() == name)
    }

    /// The OTA method that travels on a topic: each OTA topic carries exactly one.
    pub const fn of_topic(kind: TopicKind) -> Self {
        match kind {
            TopicKind::Services | TopicKind::ServicesReply => Method::OtaCreate,
            TopicKind::Events | TopicKind::EventsReply => Method::OtaProgress,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One OTA message: the gateway it concerns, the envelope's fields and the typed `data`.
///
/// Made by [`crate::decode`] from a topic and a payload, or by the builders
/// ([`Message::ota_create`], [`Message::reply_to_create`], [`Message::reply_to_event`],
/// [`Message::new`]); turned back into a topic and payload by [`Message::encode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The gateway serial from the topic (`thing/product/{sn}/...`).
    pub sn: Serial,
    /// Transaction id: one per request and its reply.
    pub tid: Id,
    /// Business id: the same across one task's messages.
    pub bid: Id,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The envelope's own `gateway` field, absent in most messages. Kept as it came;
    /// validation checks it names the topic's gateway.
    pub gateway: Option<CompactString>,
    /// `need_reply`: on an event, whether the sender wants an `events_reply`.
    pub need_reply: Option<bool>,
    /// The payload; it also decides the topic and the method.
    pub data: Data,
}

/// The payload of an OTA message, one variant per topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `ota_create` on `services`.
    OtaCreate(OtaCreate),
    /// `ota_create` reply on `services_reply`.
    OtaCreateReply(OtaCreateReply),
    /// `ota_progress` on `events`.
    OtaProgress(OtaProgress),
    /// `ota_progress` reply on `events_reply`.
    OtaProgressReply(EventsReply),
}

impl Data {
    /// The topic this payload travels on.
    pub const fn topic_kind(&self) -> TopicKind {
        match self {
            Data::OtaCreate(_) => TopicKind::Services,
            Data::OtaCreateReply(_) => TopicKind::ServicesReply,
            Data::OtaProgress(_) => TopicKind::Events,
            Data::OtaProgressReply(_) => TopicKind::EventsReply,
        }
    }

    /// The method of this payload.
    pub const fn method(&self) -> Method {
        Method::of_topic(self.topic_kind())
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Data::OtaCreate(d) => d.serialize(s),
            Data::OtaCreateReply(d) => d.serialize(s),
            Data::OtaProgress(d) => d.serialize(s),
            Data::OtaProgressReply(d) => d.serialize(s),
        }
    }
}

/// A message ready to publish: its topic and its JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The MQTT topic, such as `thing/product/4TADKAQ000002J/services`.
    pub topic: String,
    /// The canonical JSON payload.
    pub payload: Vec<u8>,
}

/// The envelope as it is written: canonical key names in a fixed order.
///
/// `D` is [`Data`] when a message is encoded, and one payload type when the JSON Schema
/// of that message is generated (`crate::json_schema`), so the schema describes this very
/// struct. Its field docs are the schema's descriptions.
#[derive(Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub(crate) struct CanonicalEnvelope<'a, D> {
    /// Transaction id: one per request and its reply; a reply carries the id of the
    /// message it answers.
    pub(crate) tid: &'a Id,
    /// Business id: the same across all the messages of one upgrade task.
    pub(crate) bid: &'a Id,
    /// When the message was sent, in milliseconds since the Unix epoch.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::timestamp")
    )]
    pub(crate) timestamp: u64,
    /// The method: one per topic.
    pub(crate) method: &'static str,
    /// The gateway (dock) serial, which most peers leave out. When present it must be
    /// the serial in the topic (`Message::validate` checks this; JSON Schema cannot, as
    /// the topic is not part of the payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::serial")
    )]
    pub(crate) gateway: &'a Option<CompactString>,
    /// `1` when the sender asks for a reply, `0` when it does not (events; DJI's peers
    /// answer an event only when it is `1`). Left out when the message did not say.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "tolerant::ser_opt_flag"
    )]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::flag")
    )]
    pub(crate) need_reply: &'a Option<bool>,
    /// The payload.
    pub(crate) data: &'a D,
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Message {
    /// A message to `sn` carrying `data`, with a fresh `tid` and `bid` and the current time.
    pub fn new(sn: Serial, data: Data) -> Self {
        Self {
            sn,
            tid: Id::new_v4(),
            bid: Id::new_v4(),
            timestamp: now_millis(),
            gateway: None,
            need_reply: None,
            data,
        }
    }

    /// An `ota_create` request that upgrades `devices` behind the gateway `sn`, with a
    /// fresh `tid` and `bid` and the current time.
    pub fn ota_create(sn: Serial, devices: Vec<Device>) -> Self {
        Self::new(sn, Data::OtaCreate(OtaCreate { devices }))
    }

    /// The method: `ota_create` or `ota_progress`.
    pub const fn method(&self) -> Method {
        self.data.method()
    }

    /// The topic the message travels on.
    pub fn topic(&self) -> Topic {
        Topic::new(self.sn.clone(), self.data.topic_kind())
    }

    /// True for an `ota_progress` event that asks for an `events_reply`.
    pub fn wants_reply(&self) -> bool {
        matches!(self.data, Data::OtaProgress(_)) && self.need_reply == Some(true)
    }

    /// The `services_reply` to an `ota_create` request: same gateway, `tid` and `bid`,
    /// the current time, `result` and, if given, `output.status`. `None` when `self` is
    /// not an `ota_create` request.
    pub fn reply_to_create(&self, result: ResultCode, status: Option<TaskStatus>) -> Option<Self> {
        matches!(self.data, Data::OtaCreate(_)).then(|| {
            self.reply_with(Data::OtaCreateReply(OtaCreateReply {
                result,
                output: status.map(|status| OtaCreateOutput { status }),
            }))
        })
    }

    /// The `events_reply` to an `ota_progress` event that asked for one (`need_reply`
    /// 1): same gateway, `tid`, `bid` and method, the current time and `result`. `None`
    /// for any other message, since a reply nobody asked for is not sent.
    pub fn reply_to_event(&self, result: ResultCode) -> Option<Self> {
        self.wants_reply()
            .then(|| self.reply_with(Data::OtaProgressReply(EventsReply { result })))
    }

    fn reply_with(&self, data: Data) -> Self {
        Self {
            sn: self.sn.clone(),
            tid: self.tid.clone(),
            bid: self.bid.clone(),
            timestamp: now_millis(),
            gateway: None,
            need_reply: None,
            data,
        }
    }

    /// The topic and canonical payload: the seed document's key spellings (`timestamp`,
    /// `status`, `step_key`), `method` always present, absent optional fields left out,
    /// keys in a fixed order (`tid`, `bid`, `timestamp`, `method`, `gateway`,
    /// `need_reply`, `data`), `need_reply` as `0`/`1`, numbers as JSON numbers.
    pub fn encode(&self) -> Encoded {
        let mut payload = Vec::with_capacity(self.encoded_len_estimate());
        self.encode_payload_into(&mut payload);
        Encoded {
            topic: self.topic().to_text(),
            payload,
        }
    }

    /// Enough bytes for the canonical payload of almost any message, so that `encode`
    /// allocates it once: the envelope's keys and ids, plus the text of `data`.
    fn encoded_len_estimate(&self) -> usize {
        const ENVELOPE: usize = 192;
        const DEVICE_KEYS_AND_NUMBERS: usize = 160;
        let text = |t: &Option<CompactString>| t.as_ref().map_or(0, |t| t.len());
        let data = match &self.data {
            Data::OtaCreate(create) => create
                .devices
                .iter()
                .map(|d| {
                    DEVICE_KEYS_AND_NUMBERS
                        + d.sn.len()
                        + d.product_version.len()
                        + text(&d.file_url)
                        + text(&d.md5)
                        + text(&d.file_name)
                })
                .sum(),
            Data::OtaProgress(event) => 192 + text(&event.output.sub_status),
            Data::OtaCreateReply(_) | Data::OtaProgressReply(_) => 64,
        };
        ENVELOPE + text(&self.gateway) + data
    }

    /// Appends the canonical payload to `out`, for callers that reuse one buffer.
    pub fn encode_payload_into(&self, out: &mut Vec<u8>) {
        // Every type here is made of what the writer writes (no floats, maps or
        // tuple variants), and writing to a Vec cannot fail.
        if let Err(e) = json_writer::write(&self.canonical(), out) {
            unreachable!("writing an OTA message cannot fail: {e}");
        }
    }

    /// The canonical payload as `serde_json` writes it: the reference that the crate's
    /// own writer must match byte for byte, for tests and fuzz targets. Not part of the
    /// stable API.
    #[doc(hidden)]
    pub fn encode_payload_with_serde_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.canonical()).expect("an OTA message serializes")
    }

    /// The envelope in its canonical form, borrowing from `self`.
    fn canonical(&self) -> CanonicalEnvelope<'_, Data> {
        CanonicalEnvelope {
            tid: &self.tid,
            bid: &self.bid,
            timestamp: self.timestamp,
            method: self.method().as_str(),
            gateway: &self.gateway,
            need_reply: &self.need_reply,
            data: &self.data,
        }
    }
}
