//! MQTT topics: the four OTA topics of a gateway, built from its serial and parsed back.
//!
//! Every OTA message travels on `thing/product/{sn}/<kind>`, where `{sn}` is the
//! serial number of the gateway (the dock). A [`Serial`] is checked when it is made, so a
//! topic built from one can never contain an MQTT wildcard or a level separator.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::payload::{Payload, PayloadFn, with_payload};
use crate::model::{Method, Text};
use crate::rules::check::{TopicError, check_serial};

/// The prefix every device topic of the DJI Cloud API shares.
pub(crate) const THING_PREFIX: &str = "thing/product/";

/// The status topic family, which never carries OTA messages.
const SYS_PREFIX: &str = "sys/product/";

/// Topic suffixes of the `thing/product/{sn}/` family that do not carry OTA messages.
///
/// A message on one of these is reported as [`crate::DecodeError::NotOta`] without its
/// payload being read.
pub const OTHER_THING_SUFFIXES: &[&str] = &[
    "osd",
    "state",
    "requests",
    "requests_reply",
    "property/set",
    "property/set_reply",
    "drc/up",
    "drc/down",
];

/// A gateway serial number that is safe to put in a topic.
///
/// It is not empty and holds none of `/` (the MQTT level separator), `+` and `#` (the
/// wildcards) and NUL (forbidden in MQTT topics). Real serials look like
/// `4TADKAQ000002J` or `1581F5BMD22330010X0V`.
///
/// ```
/// use dji_cloud_ota::{Serial, TopicError};
///
/// assert_eq!(Serial::new("4TADKAQ000002J")?.as_str(), "4TADKAQ000002J");
/// assert_eq!(Serial::new("+"), Err(TopicError::UnsafeSerial { serial: "+".into(), found: '+' }));
/// assert_eq!(Serial::new(""), Err(TopicError::EmptySerial));
/// # Ok::<(), TopicError>(())
/// ```
///
/// It is a map key: `Ord`, and `Hash` and `Borrow<str>` as `str`, so a map of serials
/// is looked up by `&str`; in serde it is a string, checked when read.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Serial(Text);

impl Serial {
    /// Checks `serial` and keeps it.
    ///
    /// # Errors
    /// [`TopicError::EmptySerial`] or [`TopicError::UnsafeSerial`].
    pub fn new(serial: &str) -> Result<Self, TopicError> {
        check_serial(serial)?;
        Ok(Self(Text::new(serial)))
    }

    /// The serial as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Serial {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Hash for Serial {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for Serial {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<String> for Serial {
    type Error = TopicError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        check_serial(&s)?;
        Ok(Self(Text::from(s)))
    }
}

impl From<Serial> for Text {
    fn from(serial: Serial) -> Self {
        serial.0
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(d)?;
        check_serial(&text).map_err(serde::de::Error::custom)?;
        Ok(Self(text))
    }
}

impl TryFrom<&str> for Serial {
    type Error = TopicError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for Serial {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Which of the four OTA topics of a gateway a message travels on.
///
/// ```
/// use dji_cloud_ota::{Method, TopicKind};
///
/// assert_eq!(TopicKind::EventsReply.to_string(), "events_reply");
/// assert_eq!("services_reply".parse(), Ok(TopicKind::ServicesReply));
/// assert_eq!(TopicKind::ServicesReply.method(), Method::OtaCreate);
/// assert_eq!(TopicKind::Events.reply(), Some(TopicKind::EventsReply));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicKind {
    /// `thing/product/{sn}/services`: cloud to dock, the `ota_create` request.
    Services,
    /// `thing/product/{sn}/services_reply`: dock to cloud, the `ota_create` reply.
    ServicesReply,
    /// `thing/product/{sn}/events`: dock to cloud, `ota_progress` events.
    Events,
    /// `thing/product/{sn}/events_reply`: cloud to dock, the reply to an event that asked
    /// for one.
    EventsReply,
}

impl TopicKind {
    /// Every kind, in the order of the protocol's flow.
    pub const ALL: [TopicKind; 4] = [
        TopicKind::Services,
        TopicKind::ServicesReply,
        TopicKind::Events,
        TopicKind::EventsReply,
    ];

    /// The last level of the topic: `services`, `services_reply`, `events` or
    /// `events_reply`.
    pub const fn suffix(self) -> &'static str {
        match self {
            TopicKind::Services => "services",
            TopicKind::ServicesReply => "services_reply",
            TopicKind::Events => "events",
            TopicKind::EventsReply => "events_reply",
        }
    }

    /// The OTA method that travels on this topic: each OTA topic carries exactly one.
    pub fn method(self) -> Method {
        struct MethodOf;
        impl PayloadFn for MethodOf {
            type Output = Method;
            fn call<P: Payload>(self) -> Method {
                P::METHOD
            }
        }
        with_payload(self, MethodOf)
    }

    /// The topic a reply to a message on this topic goes to, if messages here get one.
    pub fn reply(self) -> Option<TopicKind> {
        struct ReplyOf;
        impl PayloadFn for ReplyOf {
            type Output = Option<TopicKind>;
            fn call<P: Payload>(self) -> Option<TopicKind> {
                P::REPLY
            }
        }
        with_payload(self, ReplyOf)
    }

    /// A subscription filter for this kind on every gateway:
    /// `thing/product/+/<suffix>`.
    pub fn wildcard_filter(self) -> String {
        format!("{THING_PREFIX}+/{}", self.suffix())
    }
}

/// The topic's last level: `events_reply`.
impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// The kind whose last level is the text: `services`, `services_reply`, `events` or
/// `events_reply`.
impl FromStr for TopicKind {
    type Err = TopicError;

    fn from_str(suffix: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.suffix() == suffix)
            .ok_or(TopicError::Unrecognised)
    }
}

/// One OTA topic: a gateway serial and a [`TopicKind`].
///
/// ```
/// use dji_cloud_ota::{Serial, Topic, TopicKind};
///
/// let topic = Topic::new(Serial::new("4TADKAQ000002J")?, TopicKind::Events);
/// assert_eq!(topic.to_string(), "thing/product/4TADKAQ000002J/events");
/// assert_eq!(Topic::parse("thing/product/4TADKAQ000002J/events")?, topic);
/// # Ok::<(), dji_cloud_ota::TopicError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The gateway serial.
    pub sn: Serial,
    /// Which OTA topic of that gateway.
    pub kind: TopicKind,
}

impl Topic {
    /// The topic of `kind` for the gateway `sn`.
    pub fn new(sn: Serial, kind: TopicKind) -> Self {
        Self { sn, kind }
    }

    /// Reads an OTA topic.
    ///
    /// # Errors
    /// - [`TopicError::NotOta`] for a well-formed topic of the DJI Cloud API that carries
    ///   no OTA message (`thing/product/{sn}/osd`, `sys/product/{sn}/status`, ...);
    /// - [`TopicError::EmptySerial`] or [`TopicError::UnsafeSerial`] for an OTA topic whose
    ///   serial level is empty or a wildcard;
    /// - [`TopicError::Unrecognised`] for anything else.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let Some(rest) = topic.strip_prefix(THING_PREFIX) else {
            return match topic.strip_prefix(SYS_PREFIX) {
                Some(rest) if rest.ends_with("/status") => Err(TopicError::NotOta),
                _ => Err(TopicError::Unrecognised),
            };
        };
        // The serial is everything before the last level; a serial with a `/` is refused
        // below rather than read as a topic of another shape.
        let ota = TopicKind::ALL.into_iter().find_map(|kind| {
            let serial = rest.strip_suffix(kind.suffix())?.strip_suffix('/')?;
            Some((serial, kind))
        });
        if let Some((serial, kind)) = ota {
            return Ok(Self::new(Serial::new(serial)?, kind));
        }
        let is_other = OTHER_THING_SUFFIXES.iter().any(|other| {
            rest.strip_suffix(other)
                .and_then(|head| head.strip_suffix('/'))
                .is_some_and(|sn| !sn.is_empty())
        });
        if is_other {
            Err(TopicError::NotOta)
        } else {
            Err(TopicError::Unrecognised)
        }
    }
}

impl Topic {
    /// The pieces of the topic's text: `thing/product/`, the serial, `/`, the kind.
    fn pieces(&self) -> [&str; 4] {
        [THING_PREFIX, self.sn.as_str(), "/", self.kind.suffix()]
    }

    /// The topic's text in one allocation of the right size (what `to_string` gives).
    pub(crate) fn to_text(&self) -> String {
        let pieces = self.pieces();
        let mut text = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
        pieces.iter().for_each(|p| text.push_str(p));
        text
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pieces().iter().try_for_each(|p| f.write_str(p))
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor::<Topic>::new("an OTA topic"))
    }
}

impl Serialize for TopicKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.suffix())
    }
}

impl<'de> Deserialize<'de> for TopicKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor::<TopicKind>::new("an OTA topic's last level"))
    }
}

/// Reads a string through `T`'s `FromStr`.
struct ParseVisitor<T> {
    expecting: &'static str,
    parsed: std::marker::PhantomData<T>,
}

impl<T> ParseVisitor<T> {
    const fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            parsed: std::marker::PhantomData,
        }
    }
}

impl<T: FromStr<Err: fmt::Display>> serde::de::Visitor<'_> for ParseVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_suffix() {
        for kind in TopicKind::ALL {
            assert_eq!(kind.suffix().parse(), Ok(kind));
        }
    }

    #[test]
    fn other_topic_with_empty_serial_is_unrecognised() {
        assert_eq!(
            Topic::parse("thing/product//osd"),
            Err(TopicError::Unrecognised)
        );
    }
}
