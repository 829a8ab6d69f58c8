//! The firmware properties a device pushes on `thing/product/{device_sn}/state`:
//! [`StatePush`], [`FirmwareState`], [`FirmwareUpgradeStatus`], [`CompatibleStatus`],
//! and the topic, [`StateTopic`].
//!
//! A device publishes its "push mode 1" properties on its `state` topic when they
//! change; a push holds whichever changed, among many that have nothing to do with
//! firmware. Three concern firmware: `firmware_version`, `firmware_upgrade_status` and
//! `compatible_status`. They are a second witness of an upgrade's outcome, besides the
//! final `ota_progress` event (see [`crate::tracker::Tracker::handle_state`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::topic::THING_PREFIX;
use crate::model::{Device, Encoded, Id, Message, Serial, Text, UpgradeType};
use crate::rules::check::TopicError;
use crate::rules::spelling;

/// `firmware_upgrade_status`: whether the device is upgrading.
///
/// Open: any integer is kept; `true` and `false` (as Java peers write 0/1 properties)
/// read as 1 and 0.
///
/// ```
/// use dji_cloud_ota::FirmwareUpgradeStatus;
///
/// assert_eq!("1".parse(), Ok(FirmwareUpgradeStatus::UPGRADING));
/// assert_eq!(FirmwareUpgradeStatus::UPGRADING.to_string(), "1");
/// assert_eq!(FirmwareUpgradeStatus(0).description(), Some("not upgrading"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FirmwareUpgradeStatus(pub i64);

impl FirmwareUpgradeStatus {
    /// `0`: not upgrading.
    pub const NOT_UPGRADING: Self = Self(0);
    /// `1`: upgrading.
    pub const UPGRADING: Self = Self(1);
    /// Every known value.
    pub const KNOWN: &'static [Self] = &[Self::NOT_UPGRADING, Self::UPGRADING];

    /// What the value means, in English, if the crate knows it.
    pub const fn description(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("not upgrading"),
            1 => Some("upgrading"),
            _ => None,
        }
    }
}

/// `compatible_status`: whether a consistency upgrade is needed, because some module's
/// firmware does not match the system's version.
///
/// Open: any integer is kept; `true` and `false` (DJI's Java server reads it as a
/// boolean) read as 1 and 0.
///
/// ```
/// use dji_cloud_ota::CompatibleStatus;
///
/// assert!(CompatibleStatus(1).needs_consistency_upgrade());
/// assert_eq!(CompatibleStatus::CONSISTENT.to_string(), "0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompatibleStatus(pub i64);

impl CompatibleStatus {
    /// `0`: no consistency upgrade needed.
    pub const CONSISTENT: Self = Self(0);
    /// `1`: a consistency upgrade is needed.
    pub const NEEDS_CONSISTENCY_UPGRADE: Self = Self(1);
    /// Every known value.
    pub const KNOWN: &'static [Self] = &[Self::CONSISTENT, Self::NEEDS_CONSISTENCY_UPGRADE];

    /// What the value means, in English, if the crate knows it.
    pub const fn description(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("no consistency upgrade needed"),
            1 => Some("consistency upgrade needed"),
            _ => None,
        }
    }

    /// True for 1: the device asks for a consistency upgrade.
    pub const fn needs_consistency_upgrade(self) -> bool {
        self.0 == 1
    }
}

macro_rules! int_property {
    ($name:ident, $wire:literal) => {
        /// The wire value. `description` says what it means.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// The wire value written in decimal, known or not.
        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                Self(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                spelling::int_or_flag(d).map(Self)
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                crate::rules::schema_part::open_enum(
                    generator,
                    stringify!($name),
                    $wire,
                    serde_json::json!({ "type": "integer" }),
                    Self::KNOWN.iter().map(|known| {
                        let meaning = known.description().unwrap_or_default();
                        (known.0.into(), meaning.to_owned())
                    }),
                    crate::rules::schema_part::UNKNOWN_KEPT,
                )
            }
        }
    };
}

int_property!(
    FirmwareUpgradeStatus,
    "`firmware_upgrade_status`: whether the device is upgrading (also read: `true`, `false`, a decimal string)."
);
int_property!(
    CompatibleStatus,
    "`compatible_status`: whether a consistency upgrade is needed (also read: `true`, `false`, a decimal string)."
);

/// The firmware properties of one state push: each present only when the push carries
/// it (a push holds what changed). Every other property of the push is skipped without
/// being built.
///
/// In serde it is an object of the three properties, each omitted when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FirmwareState {
    /// `firmware_version`, e.g. `10.01.0504`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "String", length(max = 64)))]
    pub firmware_version: Option<Text>,
    /// `firmware_upgrade_status`: 0 not upgrading, 1 upgrading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "FirmwareUpgradeStatus"))]
    pub firmware_upgrade_status: Option<FirmwareUpgradeStatus>,
    /// `compatible_status`: 1 when a consistency upgrade is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "CompatibleStatus"))]
    pub compatible_status: Option<CompatibleStatus>,
}

impl FirmwareState {
    /// True when the push carried none of the three properties: nothing for an upgrade.
    pub fn is_empty(&self) -> bool {
        self.firmware_version.is_none()
            && self.firmware_upgrade_status.is_none()
            && self.compatible_status.is_none()
    }
}

/// A device's state push, with its firmware properties: what [`crate::decode_state`]
/// makes of a message on `thing/product/{device_sn}/state`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatePush {
    /// The device's own serial, from the topic: the dock's for the dock, the aircraft's
    /// for the aircraft.
    pub sn: Serial,
    /// Transaction id.
    pub tid: Id,
    /// Business id.
    pub bid: Id,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The envelope's `gateway`: the dock, when the device is its aircraft.
    pub gateway: Option<Text>,
    /// The firmware properties the push carried.
    pub firmware: FirmwareState,
}

impl StatePush {
    /// A push of the device `sn` behind `gateway`, with fresh ids and the current time:
    /// what a dock (or a simulated one) publishes.
    pub fn new(sn: Serial, gateway: Option<Serial>, firmware: FirmwareState) -> Self {
        Self {
            sn,
            tid: Id::new_v4(),
            bid: Id::new_v4(),
            timestamp: crate::model::now_millis(),
            gateway: gateway.map(|g| Text::new(g.as_str())),
            firmware,
        }
    }

    /// The push's topic and canonical payload: `tid`, `bid`, `timestamp`, `gateway` (if
    /// any) and `data` with the properties it carries, in that order.
    ///
    /// ```
    /// use dji_cloud_ota::{FirmwareState, FirmwareUpgradeStatus, Serial, StatePush, decode_state};
    ///
    /// let firmware = FirmwareState {
    ///     firmware_upgrade_status: Some(FirmwareUpgradeStatus::UPGRADING),
    ///     ..FirmwareState::default()
    /// };
    /// let push = StatePush::new(Serial::new("4TADKAQ000002J")?, None, firmware);
    /// let encoded = push.encode();
    /// assert_eq!(encoded.topic, "thing/product/4TADKAQ000002J/state");
    /// assert_eq!(decode_state(&encoded.topic, &encoded.payload)?, push);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self) -> Encoded {
        let payload =
            serde_json::to_vec(&self.canonical()).expect("ids, numbers and text always serialize");
        Encoded {
            topic: StateTopic::new(self.sn.clone()).to_string(),
            payload,
        }
    }

    /// Serializes the canonical payload, what [`StatePush::encode`] writes, into any
    /// serde format: the same keys in the same order, with the same values.
    ///
    /// # Errors
    /// Whatever `serializer` returns; the push itself always serializes.
    pub fn serialize_canonical<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.canonical(), serializer)
    }

    fn canonical(&self) -> CanonicalState<'_> {
        CanonicalState {
            tid: &self.tid,
            bid: &self.bid,
            timestamp: self.timestamp,
            gateway: &self.gateway,
            data: &self.firmware,
        }
    }

    /// The gateway (dock) the device is behind: the envelope's `gateway` when it is a
    /// usable serial, else the device itself (a dock pushes its own state).
    pub fn gateway_serial(&self) -> Serial {
        self.gateway
            .as_deref()
            .and_then(|g| Serial::new(g).ok())
            .unwrap_or_else(|| self.sn.clone())
    }

    /// True when the push says the device needs a consistency upgrade
    /// (`compatible_status` 1).
    pub fn needs_consistency_upgrade(&self) -> bool {
        self.firmware
            .compatible_status
            .is_some_and(CompatibleStatus::needs_consistency_upgrade)
    }

    /// The `ota_create` that fixes what `compatible_status` 1 reports: a consistency
    /// upgrade (`firmware_upgrade_type` 2) of this device to `product_version`, sent to
    /// its gateway. `None` when the push does not ask for one. Add the package's file
    /// fields to its device (`Device::with_file`) if the device needs them.
    ///
    /// ```
    /// use dji_cloud_ota::{Data, UpgradeType, decode_state};
    ///
    /// let push = decode_state(
    ///     "thing/product/1581F5BMD22330010X0V/state",
    ///     br#"{"tid":"t","bid":"b","timestamp":1707048089244,"gateway":"4TADKAQ000002J",
    ///         "data":{"compatible_status":true}}"#,
    /// )?;
    /// let fix = push.consistency_upgrade("10.01.0504").expect("asked for");
    /// assert_eq!(fix.sn.as_str(), "4TADKAQ000002J");
    /// let Data::OtaCreate(create) = &fix.data else { unreachable!() };
    /// assert_eq!(create.devices[0].firmware_upgrade_type, UpgradeType::CONSISTENCY);
    /// assert_eq!(create.devices[0].sn.as_str(), "1581F5BMD22330010X0V");
    /// # Ok::<(), dji_cloud_ota::DecodeError>(())
    /// ```
    pub fn consistency_upgrade(&self, product_version: impl Into<Text>) -> Option<Message> {
        self.needs_consistency_upgrade().then(|| {
            let device = Device::new(
                self.sn.as_str(),
                product_version.into(),
                UpgradeType::CONSISTENCY,
            );
            Message::ota_create(self.gateway_serial(), vec![device])
        })
    }
}

/// A state push as it is written: canonical key names in a fixed order. The JSON Schema
/// of a state push describes this very struct (`wire::json_schema`); its field docs are
/// the schema's descriptions.
#[derive(Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub(crate) struct CanonicalState<'a> {
    /// Transaction id.
    pub(crate) tid: &'a Id,
    /// Business id.
    pub(crate) bid: &'a Id,
    /// When the push was sent, in milliseconds since the Unix epoch.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::timestamp")
    )]
    pub(crate) timestamp: u64,
    /// The gateway (dock) serial: the dock, for a push of its aircraft.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::serial")
    )]
    pub(crate) gateway: &'a Option<Text>,
    /// The properties that changed: of those, the three firmware properties are
    /// described here; the device's many others are allowed and not described.
    pub(crate) data: &'a FirmwareState,
}

/// A device's state topic, `thing/product/{device_sn}/state`.
///
/// ```
/// use dji_cloud_ota::{Serial, StateTopic};
///
/// let topic = StateTopic::new(Serial::new("4TADKAQ000002J")?);
/// assert_eq!(topic.to_string(), "thing/product/4TADKAQ000002J/state");
/// assert_eq!("thing/product/4TADKAQ000002J/state".parse::<StateTopic>()?, topic);
/// # Ok::<(), dji_cloud_ota::TopicError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateTopic {
    /// The device's serial.
    pub sn: Serial,
}

impl StateTopic {
    /// The last level of a state topic.
    pub const SUFFIX: &'static str = "state";

    /// The state topic of the device `sn`.
    pub fn new(sn: Serial) -> Self {
        Self { sn }
    }

    /// A subscription filter for the state topics of every device:
    /// `thing/product/+/state`.
    pub fn wildcard_filter() -> String {
        format!("{THING_PREFIX}+/{}", Self::SUFFIX)
    }

    /// Reads a state topic.
    ///
    /// # Errors
    /// [`TopicError::NotState`] for any other topic; [`TopicError::EmptySerial`] or
    /// [`TopicError::UnsafeSerial`] for a state topic whose serial level is empty or a
    /// wildcard.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let serial = topic
            .strip_prefix(THING_PREFIX)
            .and_then(|rest| rest.strip_suffix(Self::SUFFIX))
            .and_then(|rest| rest.strip_suffix('/'))
            .ok_or(TopicError::NotState)?;
        Ok(Self::new(Serial::new(serial)?))
    }
}

impl fmt::Display for StateTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{THING_PREFIX}{}/{}", self.sn, Self::SUFFIX)
    }
}

impl FromStr for StateTopic {
    type Err = TopicError;

    fn from_str(topic: &str) -> Result<Self, Self::Err> {
        Self::parse(topic)
    }
}
