//! The envelope every OTA message shares, around its payload: [`Message`], its builders,
//! its canonical encoding, its serde and its validation.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::payload::{Payload, PayloadFn, Plain, with_payload};
use crate::model::{
    Data, Device, EventsReply, FirmwareState, Id, Method, OtaCreate, OtaCreateOutput,
    OtaCreateReply, OtaProgress, ResultCode, Serial, StatePush, TaskStatus, Text, Topic,
};
use crate::rules::check::{At, Problem, Report, ValidationErrors, check_serial};
use crate::rules::limits::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::rules::{object, spelling};

/// One OTA message: the gateway it concerns, the envelope's fields and the typed `data`.
///
/// Made by [`crate::decode`] from a topic and a payload, or by the builders
/// ([`Message::ota_create`], [`Message::reply_to_create`], [`Message::reply_to_event`],
/// [`Message::new`]); turned back into a topic and payload by [`Message::encode`].
///
/// # serde
///
/// A message serializes as its canonical payload (what [`Message::encode`] writes) with
/// one more key, first: `topic`, the MQTT topic, which carries the gateway serial
/// ([`Message::sn`]) and tells the two replies apart. It deserializes from that form,
/// with its keys in any order and every spelling [`crate::decode`] reads, so a message
/// stored in a database row and read back is equal to the one stored.
///
/// ```
/// use dji_cloud_ota::{Message, decode};
///
/// let payload = br#"{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc",
///   "bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1654070968655,
///   "data":{"result":0}}"#;
/// let reply = decode("thing/product/4TADKAQ000002J/events_reply", payload)?;
/// let stored = serde_json::to_string(&reply)?;
/// assert!(stored.starts_with(r#"{"topic":"thing/product/4TADKAQ000002J/events_reply","tid""#));
/// assert_eq!(serde_json::from_str::<Message>(&stored)?, reply);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    pub gateway: Option<Text>,
    /// `need_reply`: on an event, whether the sender wants an `events_reply`.
    pub need_reply: Option<bool>,
    /// The payload; it also decides the topic and the method.
    pub data: Data,
}

/// A message ready to publish: its topic and its JSON payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Encoded {
    /// The MQTT topic, such as `thing/product/4TADKAQ000002J/services`.
    pub topic: String,
    /// The canonical JSON payload.
    pub payload: Vec<u8>,
}

/// The envelope as it is written: canonical key names in a fixed order.
///
/// `D` is [`Plain`] data when a message is written, and one payload type when the JSON
/// Schema of that message is generated (`wire::json_schema`), so the schema describes
/// this very struct. Its field docs are the schema's descriptions.
#[derive(Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub(crate) struct CanonicalEnvelope<'a, D> {
    /// The MQTT topic, written only in a message's serde form, never on the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(skip))]
    pub(crate) topic: Option<&'a Topic>,
    /// Transaction id: one per request and its reply; a reply carries the id of the
    /// message it answers.
    pub(crate) tid: &'a Id,
    /// Business id: the same across all the messages of one upgrade task.
    pub(crate) bid: &'a Id,
    /// When the message was sent, in milliseconds since the Unix epoch.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::timestamp")
    )]
    pub(crate) timestamp: u64,
    /// The method: one per topic.
    #[cfg_attr(feature = "schemars", schemars(with = "String"))]
    pub(crate) method: Method,
    /// The gateway (dock) serial, which most peers leave out. When present it must be
    /// the serial in the topic (`Message::validate` checks this; JSON Schema cannot, as
    /// the topic is not part of the payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::serial")
    )]
    pub(crate) gateway: &'a Option<Text>,
    /// `1` when the sender asks for a reply, `0` when it does not (events; DJI's peers
    /// answer an event only when it is `1`). Left out when the message did not say.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "spelling::ser_opt_flag"
    )]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::flag")
    )]
    pub(crate) need_reply: &'a Option<bool>,
    /// The payload.
    pub(crate) data: D,
}

/// A `Vec` as serde_json's output, which writes many pieces of a byte or two (quotes,
/// colons, commas): those are pushed, the rest copied.
struct Sink<'a>(&'a mut Vec<u8>);

impl std::io::Write for Sink<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let [byte] = bytes {
            self.0.push(*byte);
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The room [`Message::encode`] gives a payload: every message but an `ota_create` with
/// long addresses fits, so it is written with one allocation.
const ENCODE_CAPACITY: usize = 1024;

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Message {
    /// A message to `sn` carrying `data`, with a fresh `tid` and `bid` and the current time.
    pub fn new(sn: Serial, data: impl Into<Data>) -> Self {
        Self {
            sn,
            tid: Id::new_v4(),
            bid: Id::new_v4(),
            timestamp: now_millis(),
            gateway: None,
            need_reply: None,
            data: data.into(),
        }
    }

    /// An `ota_create` request that upgrades `devices` behind the gateway `sn`, with a
    /// fresh `tid` and `bid` and the current time.
    pub fn ota_create(sn: Serial, devices: Vec<Device>) -> Self {
        Self::new(sn, OtaCreate { devices })
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
            self.reply_with(OtaCreateReply {
                result,
                output: status.map(|status| OtaCreateOutput { status }),
            })
        })
    }

    /// The `events_reply` to an `ota_progress` event that asked for one (`need_reply`
    /// 1): same gateway, `tid`, `bid` and method, the current time and `result`. `None`
    /// for any other message, since a reply nobody asked for is not sent.
    pub fn reply_to_event(&self, result: ResultCode) -> Option<Self> {
        self.wants_reply()
            .then(|| self.reply_with(EventsReply { result }))
    }

    /// An `ota_progress` event of the task this `ota_create` request started, for a dock
    /// agent to publish: the same gateway and `bid` (which is how the cloud knows the
    /// task), a fresh `tid`, the current time, `need_reply` as asked, on `events`.
    /// `None` when `self` is not an `ota_create` request.
    ///
    /// ```
    /// use dji_cloud_ota::{Device, Message, OtaProgress, Serial, Step, TaskStatus, TopicKind, UpgradeType};
    ///
    /// let request = Message::ota_create(
    ///     Serial::new("4TADKAQ000002J")?,
    ///     vec![Device::new("1581F5BMD22330010X0V", "04.01.0020", UpgradeType::NORMAL)],
    /// );
    /// // What the dock sends back: the reply, then its events.
    /// let event = request
    ///     .progress_event(
    ///         OtaProgress::new(TaskStatus::InProgress)
    ///             .with_progress(Step::DownloadFirmware, 40)
    ///             .with_rate(2_097_152),
    ///         true,
    ///     )
    ///     .expect("an ota_create");
    /// assert_eq!((event.bid == request.bid, event.tid == request.tid), (true, false));
    /// assert_eq!(event.topic().kind, TopicKind::Events);
    /// assert!(event.wants_reply());
    /// # Ok::<(), dji_cloud_ota::TopicError>(())
    /// ```
    pub fn progress_event(&self, event: OtaProgress, need_reply: bool) -> Option<Self> {
        matches!(self.data, Data::OtaCreate(_)).then(|| Self {
            sn: self.sn.clone(),
            tid: Id::new_v4(),
            bid: self.bid.clone(),
            timestamp: now_millis(),
            gateway: None,
            need_reply: Some(need_reply),
            data: event.into(),
        })
    }

    fn reply_with(&self, data: impl Into<Data>) -> Self {
        Self {
            sn: self.sn.clone(),
            tid: self.tid.clone(),
            bid: self.bid.clone(),
            timestamp: now_millis(),
            gateway: None,
            need_reply: None,
            data: data.into(),
        }
    }

    /// The topic and canonical payload: the seed document's key spellings (`timestamp`,
    /// `status`, `step_key`), `method` always present, absent optional fields left out,
    /// keys in a fixed order (`tid`, `bid`, `timestamp`, `method`, `gateway`,
    /// `need_reply`, `data`), `need_reply` as `0`/`1`, numbers as JSON numbers.
    pub fn encode(&self) -> Encoded {
        let mut payload = Vec::with_capacity(ENCODE_CAPACITY);
        self.encode_payload_into(&mut payload);
        Encoded {
            topic: self.topic().to_text(),
            payload,
        }
    }

    /// Appends the canonical payload to `out`, for callers that reuse one buffer.
    pub fn encode_payload_into(&self, out: &mut Vec<u8>) {
        // Every type here is made of what JSON can hold (no maps with non-string keys,
        // no floats), and writing to a Vec cannot fail.
        if let Err(e) = serde_json::to_writer(Sink(out), &self.canonical()) {
            unreachable!("writing an OTA message cannot fail: {e}");
        }
    }

    /// Serializes the canonical payload, what [`Message::encode`] writes, into any serde
    /// format: the same keys in the same order, with the same values. The Python
    /// package builds its `dict`s with it, with no JSON text in between.
    ///
    /// ```
    /// use dji_cloud_ota::{Message, Serial};
    ///
    /// let message = Message::ota_create(Serial::new("4TADKAQ000002J")?, vec![]);
    /// let mut out = Vec::new();
    /// message.serialize_canonical(&mut serde_json::Serializer::new(&mut out))?;
    /// assert_eq!(out, message.encode().payload);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `serializer` returns; the message itself always serializes.
    pub fn serialize_canonical<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.canonical(), serializer)
    }

    /// The envelope in its canonical form, borrowing from `self`.
    fn canonical(&self) -> CanonicalEnvelope<'_, Plain<'_>> {
        CanonicalEnvelope {
            topic: None,
            tid: &self.tid,
            bid: &self.bid,
            timestamp: self.timestamp,
            method: self.method(),
            gateway: &self.gateway,
            need_reply: &self.need_reply,
            data: Plain(&self.data),
        }
    }

    /// Checks every rule of the protocol and reports every violation with its path.
    ///
    /// The rules: `tid` and `bid` are UUIDs; `timestamp` is milliseconds between 2015
    /// and 2100; the topic's serial and `gateway` are topic-safe and agree; `ota_create`
    /// has 1 to 2 devices with distinct, topic-safe serials, a version of dot-separated
    /// digits, text fields of at most 10240 characters, a known upgrade type, and either
    /// no package or all of `file_url` (http or https), `md5` (32 hex digits), a
    /// non-zero `file_size` and `file_name`; statuses and steps are known values;
    /// `percent` is 0 to 100. Each payload's own rules are beside its type
    /// ([`crate::Payload::check`]).
    ///
    /// The seed document's examples decode but do not validate: their ids and MD5 are
    /// placeholders.
    ///
    /// # Errors
    /// [`ValidationErrors`], listing every violation.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut violations = Vec::new();
        let report = &mut Report(&mut violations);
        if let Err(e) = check_serial(self.sn.as_str()) {
            report.push(At::top("topic"), Problem::UnsafeSerial(e));
        }
        report.uuid(At::top("tid"), self.tid.is_uuid(), &self.tid);
        report.uuid(At::top("bid"), self.bid.is_uuid(), &self.bid);
        if !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&self.timestamp) {
            report.push(
                At::top("timestamp"),
                Problem::ImplausibleTimestamp {
                    value: self.timestamp,
                },
            );
        }
        if let Some(gateway) = &self.gateway {
            report.serial(At::top("gateway"), gateway);
            if gateway.as_str() != self.sn.as_str() {
                report.push(
                    At::top("gateway"),
                    Problem::GatewayMismatch {
                        gateway: gateway.to_string(),
                        topic: self.sn.to_string(),
                    },
                );
            }
        }
        self.data.check(&mut violations);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors { violations })
        }
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let topic = self.topic();
        let mut envelope = self.canonical();
        envelope.topic = Some(&topic);
        envelope.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The topic decides how `data` is read, and may come after it (a database that
        // sorts keys puts `data` first), so the form is read whole first, refusing a
        // key written twice, as `decode` does.
        struct Whole;
        impl<'de> Visitor<'de> for Whole {
            type Value = serde_json::Map<String, serde_json::Value>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a message: an object with its topic, tid, bid, timestamp and data")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut whole = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value()?;
                    if whole.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    whole.insert(key, value);
                }
                Ok(whole)
            }
        }
        let whole = serde_json::Value::Object(d.deserialize_map(Whole)?);
        let topic = whole
            .get("topic")
            .ok_or_else(|| de::Error::missing_field("topic"))?;
        let topic = Topic::deserialize(topic).map_err(de::Error::custom)?;
        struct Read<'a> {
            topic: &'a Topic,
            whole: &'a serde_json::Value,
        }
        impl PayloadFn for Read<'_> {
            type Output = Result<Message, String>;
            fn call<P: Payload>(self) -> Self::Output {
                let mut refused = None;
                let read = read_envelope::<P, _>(self.whole, self.topic, &mut refused);
                match (read, refused) {
                    (_, Some(method)) => Err(format!(
                        "method {} does not travel on the `{}` topic",
                        method.as_str(),
                        self.topic.kind
                    )),
                    (Ok(message), None) => Ok(message),
                    (Err(e), None) => Err(e.to_string()),
                }
            }
        }
        with_payload(
            topic.kind,
            Read {
                topic: &topic,
                whole: &whole,
            },
        )
        .map_err(de::Error::custom)
    }
}

// ---- Reading the envelope, shared by `decode` and `Message`'s serde.

/// The envelope's keys, each with the spellings read (`"timestamp:"`: every published
/// example up to v1.10). `topic` is read only in a message's serde form.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Topic,
    Tid,
    Bid,
    #[serde(alias = "timestamp:")]
    Timestamp,
    Method,
    Gateway,
    NeedReply,
    Data,
    #[serde(other)]
    Other,
}

/// The envelope's `method` as read: an OTA method, or the name of another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MethodName {
    Ota(Method),
    Other(Text),
}

impl MethodName {
    fn as_str(&self) -> &str {
        match self {
            MethodName::Ota(method) => method.as_str(),
            MethodName::Other(name) => name,
        }
    }
}

impl<'de> Deserialize<'de> for MethodName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = MethodName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a method name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MethodName, E> {
                Ok(match Method::named(v) {
                    Some(method) => MethodName::Ota(method),
                    None => MethodName::Other(Text::new(v)),
                })
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

/// The envelope as read, `data` as `D`.
///
/// Its text is borrowed from the payload where it can be (no escapes) and made into ids
/// and text only once the message is known to be `P`'s: a message of another method
/// is refused without building any of it.
pub(crate) struct Envelope<'de, D> {
    pub(crate) tid: Str<'de>,
    pub(crate) bid: Str<'de>,
    pub(crate) timestamp: u64,
    pub(crate) method: Option<MethodName>,
    pub(crate) gateway: Option<Str<'de>>,
    pub(crate) need_reply: Option<bool>,
    pub(crate) data: D,
}

impl<P: Payload> Envelope<'_, P> {
    /// The message (its `method`, if any, is `P`'s: another stopped the reading).
    fn into_message(self, topic: &Topic) -> Message {
        Message {
            sn: topic.sn.clone(),
            tid: Id::from_text(&self.tid),
            bid: Id::from_text(&self.bid),
            timestamp: self.timestamp,
            gateway: self.gateway.map(|g| Text::new(&*g)),
            need_reply: self.need_reply,
            data: self.data.into(),
        }
    }
}

/// Text of the payload: borrowed where it has no escapes.
pub(crate) struct Str<'de>(Cow<'de, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Str<'de> {
    /// A string, described as `expecting` when it is not one.
    fn read<D: Deserializer<'de>>(d: D, expecting: &'static str) -> Result<Self, D::Error> {
        struct StrVisitor(&'static str);
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(StrVisitor(expecting))
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Str::read(d, "a string")
    }
}

/// A `tid` or `bid` as [`Str`], said to be an id when it is not a string.
struct IdStr<'de>(Str<'de>);

impl<'de> Deserialize<'de> for IdStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Str::read(d, Id::EXPECTING).map(IdStr)
    }
}

/// Reads the message of `topic` from `d` in one pass, `data` as `P` (from an object
/// only). The reading stops as soon as `method` is read and names another message, the
/// rest of the payload unread, as the payload of a topic that is not OTA's is left
/// unread: it then fails, with that method in `refused` (which must be `None` at the
/// call, for a caller to tell the stop from other errors).
pub(crate) fn read_envelope<'de, P: Payload, D: Deserializer<'de>>(
    d: D,
    topic: &Topic,
    refused: &mut Option<MethodName>,
) -> Result<Message, D::Error> {
    debug_assert!(refused.is_none(), "a stop from an earlier reading");
    d.deserialize_map(EnvelopeVisitor(AsPayload::<P> {
        topic,
        refused,
        payload: PhantomData,
    }))
}

/// Reads the envelope from `d` with `data` skipped whatever the method: the error path's
/// second look, for the ids and the method.
pub(crate) fn read_envelope_only<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Envelope<'de, ()>, D::Error> {
    d.deserialize_map(EnvelopeVisitor(Skip))
}

/// Reads a state push of the device `sn` from `d` in one pass: the envelope, and of
/// `data` (an object) the firmware properties only, every other property skipped.
pub(crate) fn read_state<'de, D: Deserializer<'de>>(
    d: D,
    sn: &Serial,
) -> Result<StatePush, D::Error> {
    d.deserialize_map(EnvelopeVisitor(AsState(sn)))
}

struct AsState<'s>(&'s Serial);

impl<'de> ReadData<'de> for AsState<'_> {
    type Out = FirmwareState;
    type Value = StatePush;

    fn finish(self, envelope: Envelope<'de, FirmwareState>) -> StatePush {
        StatePush {
            sn: self.0.clone(),
            tid: Id::from_text(&envelope.tid),
            bid: Id::from_text(&envelope.bid),
            timestamp: envelope.timestamp,
            gateway: envelope.gateway.map(|g| Text::new(&*g)),
            firmware: envelope.data,
        }
    }

    fn read<A: MapAccess<'de>>(map: &mut A) -> Result<FirmwareState, A::Error> {
        map.next_value_seed(ObjectSeed(PhantomData))
    }
}

/// The error a reading ends with when it stops at another message's method. (An error,
/// not a value: a result that may hold no message costs every message a copy more.)
const STOPPED: &str = "the reading stopped at another message's method";

/// How `data` is read, whether a method read stops the reading, and what is made of the
/// envelope once it is read.
trait ReadData<'de> {
    type Out;
    type Value;
    fn read<A: MapAccess<'de>>(map: &mut A) -> Result<Self::Out, A::Error>;
    /// Whether the reading goes on past `method` (with it) or stops there, the rest of
    /// the payload unread. A stop ends the reading in an error ([`STOPPED`]): a reader
    /// that stops keeps the method, to tell the stop from other errors.
    fn stop_at(&mut self, method: MethodName) -> ControlFlow<(), MethodName> {
        ControlFlow::Continue(method)
    }
    fn finish(self, envelope: Envelope<'de, Self::Out>) -> Self::Value;
}

struct AsPayload<'t, P> {
    topic: &'t Topic,
    /// The method of another message, once read.
    refused: &'t mut Option<MethodName>,
    payload: PhantomData<P>,
}

impl<'de, P: Payload> ReadData<'de> for AsPayload<'_, P> {
    type Out = P;
    type Value = Message;

    fn finish(self, envelope: Envelope<'de, P>) -> Self::Value {
        envelope.into_message(self.topic)
    }

    fn read<A: MapAccess<'de>>(map: &mut A) -> Result<P, A::Error> {
        map.next_value_seed(ObjectSeed(PhantomData))
    }

    fn stop_at(&mut self, method: MethodName) -> ControlFlow<(), MethodName> {
        if matches!(method, MethodName::Ota(m) if m == P::METHOD) {
            return ControlFlow::Continue(method);
        }
        *self.refused = Some(method);
        ControlFlow::Break(())
    }
}

struct Skip;

impl<'de> ReadData<'de> for Skip {
    type Out = ();
    type Value = Envelope<'de, ()>;

    fn finish(self, envelope: Envelope<'de, ()>) -> Self::Value {
        envelope
    }

    fn read<A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
        map.next_value::<IgnoredAny>().map(|_| ())
    }
}

/// `P` from a JSON object only.
struct ObjectSeed<P>(PhantomData<P>);

impl<'de, P: Deserialize<'de>> DeserializeSeed<'de> for ObjectSeed<P> {
    type Value = P;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<P, D::Error> {
        object::object(d)
    }
}

struct EnvelopeVisitor<R>(R);

impl<'de, R: ReadData<'de>> Visitor<'de> for EnvelopeVisitor<R> {
    type Value = R::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an OTA message: an object with tid, bid, timestamp and data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut reader = self.0;
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            name: &'static str,
            value: T,
        ) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        let (mut tid, mut bid, mut timestamp) = (None, None, None);
        let (mut method, mut gateway, mut need_reply, mut data) = (None, None, None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Tid => once(&mut tid, "tid", map.next_value::<IdStr<'de>>()?.0)?,
                Key::Bid => once(&mut bid, "bid", map.next_value::<IdStr<'de>>()?.0)?,
                Key::Timestamp => once(
                    &mut timestamp,
                    "timestamp",
                    map.next_value::<spelling::Int<u64>>()?.0,
                )?,
                Key::Method => {
                    let read: Option<MethodName> = map.next_value()?;
                    if method.is_some() {
                        return Err(de::Error::duplicate_field("method"));
                    }
                    method = Some(match read {
                        Some(name) => match reader.stop_at(name) {
                            ControlFlow::Break(()) => return Err(de::Error::custom(STOPPED)),
                            ControlFlow::Continue(name) => Some(name),
                        },
                        None => None,
                    });
                }
                Key::Gateway => once(
                    &mut gateway,
                    "gateway",
                    map.next_value::<Option<Str<'de>>>()?,
                )?,
                Key::NeedReply => once(
                    &mut need_reply,
                    "need_reply",
                    map.next_value::<spelling::OptFlag>()?.0,
                )?,
                Key::Data => {
                    let read = R::read(&mut map)?;
                    once(&mut data, "data", read)?;
                }
                Key::Topic | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(reader.finish(Envelope {
            tid: tid.ok_or_else(|| de::Error::missing_field("tid"))?,
            bid: bid.ok_or_else(|| de::Error::missing_field("bid"))?,
            timestamp: timestamp.ok_or_else(|| de::Error::missing_field("timestamp"))?,
            method: method.flatten(),
            gateway: gateway.flatten(),
            need_reply: need_reply.flatten(),
            data: data.ok_or_else(|| de::Error::missing_field("data"))?,
        }))
    }
}
