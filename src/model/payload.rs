//! The binding of each message to its method, topic and reply: [`Payload`], and the one
//! list of payload types, from which [`Data`] and every dispatch by topic are made.

use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{EventsReply, OtaCreate, OtaCreateReply, OtaProgress, TopicKind};
use crate::rules::check::Violation;

/// The two OTA methods. The one place their names are written.
///
/// ```
/// use dji_cloud_ota::Method;
///
/// assert_eq!(Method::OtaProgress.to_string(), "ota_progress");
/// assert_eq!("ota_create".parse(), Ok(Method::OtaCreate));
/// assert!("hms".parse::<Method>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `ota_create`: the service that starts an upgrade (`services`, replied on
    /// `services_reply`).
    OtaCreate,
    /// `ota_progress`: the event that reports an upgrade's progress (`events`, replied on
    /// `events_reply` when asked).
    OtaProgress,
}

impl Method {
    /// Both methods.
    pub const ALL: [Method; 2] = [Method::OtaCreate, Method::OtaProgress];

    /// The method's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::OtaCreate => "ota_create",
            Method::OtaProgress => "ota_progress",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method name that is not an OTA method (`hms`, say), from [`Method`]'s `FromStr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMethod {
    /// The name given.
    pub name: String,
}

impl fmt::Display for UnknownMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an OTA method (", self.name)?;
        for (i, method) in Method::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{method}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownMethod {}

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Method::named(name).ok_or_else(|| UnknownMethod { name: name.into() })
    }
}

impl Method {
    /// The method of this name, found without allocating (`FromStr`'s error keeps the
    /// name).
    pub(crate) fn named(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl serde::de::Visitor<'_> for NameVisitor {
            type Value = Method;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an OTA method name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Method, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

/// The `data` of one OTA message, bound to where it travels.
///
/// Each message is one implementation: its method, its topic, the topic of its reply,
/// and its own validation rules. Decoding, dispatch by topic, the builders, validation
/// and the JSON Schemas are written once, over this trait.
///
/// ```
/// use dji_cloud_ota::{Method, OtaProgress, Payload, TopicKind};
///
/// assert_eq!(OtaProgress::METHOD, Method::OtaProgress);
/// assert_eq!(OtaProgress::TOPIC, TopicKind::Events);
/// assert_eq!(OtaProgress::REPLY, Some(TopicKind::EventsReply));
/// ```
pub trait Payload:
    fmt::Debug + Clone + Eq + Hash + Serialize + DeserializeOwned + Into<Data> + 'static
{
    /// The envelope's `method`.
    const METHOD: Method;
    /// The topic it travels on.
    const TOPIC: TopicKind;
    /// The topic its reply travels on, if it gets one.
    const REPLY: Option<TopicKind>;

    /// Pushes every rule of the protocol this payload breaks, each at its path from the
    /// message's root (`data.devices[1].md5`).
    fn check(&self, violations: &mut Vec<Violation>);
}

/// Something to do with the payload type of a topic, given by [`with_payload`].
pub(crate) trait PayloadFn {
    type Output;
    fn call<P: Payload>(self) -> Self::Output;
}

/// Lists the payload types once: the [`Data`] enum, conversions, and the dispatch from
/// a topic to its payload type all come from this list.
macro_rules! payloads {
    ($( $(#[$doc:meta])* $variant:ident($ty:ident), )+) => {
        /// The payload of an OTA message, one variant per topic.
        ///
        /// Alone, a payload does not say which topic it travels on (the two replies have
        /// the same shape), so its serde form names it: `{"ota_progress": {...}}`, the
        /// variant's name in snake case around the payload's canonical JSON. Inside a
        /// [`crate::Message`] it is written plain, as `data`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Data {
            $(
                $(#[$doc])*
                #[serde(deserialize_with = "crate::rules::object::object")]
                $variant($ty),
            )+
        }

        impl Data {
            /// The topic this payload travels on.
            pub const fn topic_kind(&self) -> TopicKind {
                match self {
                    $( Data::$variant(_) => <$ty as Payload>::TOPIC, )+
                }
            }

            /// The method of this payload.
            pub const fn method(&self) -> Method {
                match self {
                    $( Data::$variant(_) => <$ty as Payload>::METHOD, )+
                }
            }

            /// Pushes the rules this payload breaks (see [`Payload::check`]).
            pub(crate) fn check(&self, violations: &mut Vec<Violation>) {
                match self {
                    $( Data::$variant(data) => data.check(violations), )+
                }
            }

            /// The payload written plain, as the message's `data`.
            pub(crate) fn serialize_plain<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Data::$variant(data) => data.serialize(s), )+
                }
            }
        }

        $(
            impl From<$ty> for Data {
                fn from(data: $ty) -> Self {
                    Data::$variant(data)
                }
            }
        )+

        /// Calls `f` with the payload type that travels on `kind`'s topic.
        pub(crate) fn with_payload<F: PayloadFn>(kind: TopicKind, f: F) -> F::Output {
            $(
                if <$ty as Payload>::TOPIC == kind {
                    return f.call::<$ty>();
                }
            )+
            unreachable!("every topic kind has a payload (tested)")
        }

        /// [`with_payload`] for work that needs the payload's JSON Schema too.
        #[cfg(feature = "schemars")]
        pub(crate) fn with_schema_payload<F: SchemaPayloadFn>(kind: TopicKind, f: F) -> F::Output {
            $(
                if <$ty as Payload>::TOPIC == kind {
                    return f.call::<$ty>();
                }
            )+
            unreachable!("every topic kind has a payload (tested)")
        }
    };
}

/// [`PayloadFn`] for work that needs the payload's JSON Schema.
#[cfg(feature = "schemars")]
pub(crate) trait SchemaPayloadFn {
    type Output;
    fn call<P: Payload + schemars::JsonSchema>(self) -> Self::Output;
}

payloads! {
    /// `ota_create` on `services`.
    OtaCreate(OtaCreate),
    /// `ota_create` reply on `services_reply`.
    OtaCreateReply(OtaCreateReply),
    /// `ota_progress` on `events`.
    OtaProgress(OtaProgress),
    /// `ota_progress` reply on `events_reply`.
    OtaProgressReply(EventsReply),
}

/// A payload written plain, as a message's `data`.
pub(crate) struct Plain<'a>(pub(crate) &'a Data);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_plain(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Topic;
    impl PayloadFn for Topic {
        type Output = TopicKind;
        fn call<P: Payload>(self) -> TopicKind {
            P::TOPIC
        }
    }

    #[test]
    fn every_topic_kind_has_its_payload() {
        for kind in TopicKind::ALL {
            assert_eq!(with_payload(kind, Topic), kind);
        }
    }
}
