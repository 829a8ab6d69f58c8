//! MQTT topics: the four OTA topics of a gateway, built from its serial and parsed back.
//!
//! Every OTA message travels on `thing/product/{sn}/<kind>`, where `{sn}` is the
//! serial number of the gateway (the dock). A [`Serial`] is checked when it is made, so a
//! topic built from one can never contain an MQTT wildcard or a level separator.

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use thiserror::Error;

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

/// The characters a serial cannot hold: the MQTT level separator, the two wildcards and
/// NUL (forbidden in MQTT topics).
pub(crate) const UNSAFE_IN_SERIAL: [char; 4] = ['/', '+', '#', '\0'];

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
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(CompactString);

impl Serial {
    /// Checks `serial` and keeps it.
    ///
    /// # Errors
    /// [`TopicError::EmptySerial`] or [`TopicError::UnsafeSerial`].
    pub fn new(serial: &str) -> Result<Self, TopicError> {
        check_serial(serial)?;
        Ok(Self(CompactString::new(serial)))
    }

    /// The serial as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why `serial` cannot stand in a topic, if it cannot.
///
/// This is the one rule for topic-safe serials: [`Serial::new`], topic parsing and
/// validation all use it.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// The kind whose last level is `suffix`.
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.suffix() == suffix)
    }

    /// The topic a reply to a message on this topic goes to, if messages here get one.
    pub const fn reply(self) -> Option<TopicKind> {
        match self {
            TopicKind::Services => Some(TopicKind::ServicesReply),
            TopicKind::Events => Some(TopicKind::EventsReply),
            TopicKind::ServicesReply | TopicKind::EventsReply => None,
        }
    }

    /// A subscription filter for this kind on every gateway:
    /// `thing/product/+/<suffix>`.
    pub fn wildcard_filter(self) -> String {
        format!("{THING_PREFIX}+/{}", self.suffix())
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
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
            check_serial(serial)?;
            return Ok(Self::new(Serial(CompactString::new(serial)), kind));
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

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a serial or a topic was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_suffix() {
        for kind in TopicKind::ALL {
            assert_eq!(TopicKind::from_suffix(kind.suffix()), Some(kind));
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
