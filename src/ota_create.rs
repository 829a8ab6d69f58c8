//! `ota_create`: the service that starts a firmware upgrade, and its reply.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ResultCode, TaskStatus, object, tolerant};

/// The `data` of an `ota_create` request (topic `services`, cloud to dock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaCreate {
    /// The devices to upgrade: the aircraft, the dock, or both. 1 to 2 items, no serial
    /// twice.
    #[serde(deserialize_with = "object::objects")]
    #[cfg_attr(
        feature = "schemars",
        schemars(length(min = crate::limits::MIN_DEVICES, max = crate::limits::MAX_DEVICES))
    )]
    pub devices: Vec<Device>,
}

/// One device to upgrade, an item of `data.devices`.
///
/// The file fields are optional on the wire: the documentation's own example sends a
/// second device with only `sn`, `product_version` and `firmware_upgrade_type`. They
/// describe one firmware package, so they come all together or not at all. Text is held
/// in [`CompactString`]s, which keep up to 24 bytes (a serial, a version) without a heap
/// allocation and deref to `&str`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schemars",
    schemars(transform = crate::json_schema::all_or_none_of_optional)
)]
pub struct Device {
    /// The device's serial number.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::serial")
    )]
    pub sn: CompactString,
    /// The firmware version to install: dot-separated digits such as `1.00.223` or
    /// `04.01.0020`.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::version")
    )]
    pub product_version: CompactString,
    /// Where the device downloads the firmware package: an `http://` or `https://`
    /// address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::http_url")
    )]
    pub file_url: Option<CompactString>,
    /// MD5 of the package: 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::md5")
    )]
    pub md5: Option<CompactString>,
    /// Size of the package in bytes, not zero.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::file_size")
    )]
    #[serde(
        default,
        deserialize_with = "tolerant::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_size: Option<u64>,
    /// File name of the package, such as `wm245_1.00.223.zip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::text")
    )]
    pub file_name: Option<CompactString>,
    /// How the device upgrades.
    pub firmware_upgrade_type: UpgradeType,
}

impl Device {
    /// A device entry without a package: serial, target version and upgrade type.
    pub fn new(
        sn: impl Into<CompactString>,
        product_version: impl Into<CompactString>,
        upgrade: UpgradeType,
    ) -> Self {
        Self {
            sn: sn.into(),
            product_version: product_version.into(),
            file_url: None,
            md5: None,
            file_size: None,
            file_name: None,
            firmware_upgrade_type: upgrade,
        }
    }

    /// The same entry with its firmware package: download address, MD5 (32 hex digits),
    /// size in bytes and file name.
    pub fn with_file(
        mut self,
        url: impl Into<CompactString>,
        md5: impl Into<CompactString>,
        size: u64,
        name: impl Into<CompactString>,
    ) -> Self {
        self.file_url = Some(url.into());
        self.md5 = Some(md5.into());
        self.file_size = Some(size);
        self.file_name = Some(name.into());
        self
    }
}

/// `firmware_upgrade_type`: how a device upgrades.
///
/// Open: any integer is kept and re-encodes unchanged; the known values are the
/// associated constants. (DJI's Java server names 2 and 3 the other way round; the wire
/// values are what count.)
///
/// ```
/// use dji_cloud_ota::UpgradeType;
///
/// assert_eq!(UpgradeType::from(3), UpgradeType::NORMAL);
/// assert_eq!(UpgradeType(5).description(), None);
/// assert!(!UpgradeType(5).is_known());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpgradeType(pub i64);

impl UpgradeType {
    /// `2`: consistency upgrade, bringing a device to the version its peer expects.
    pub const CONSISTENCY: UpgradeType = UpgradeType(2);
    /// `3`: normal upgrade.
    pub const NORMAL: UpgradeType = UpgradeType(3);
    /// `4`: PSDK (payload) upgrade, added with Dock 3.
    pub const PSDK: UpgradeType = UpgradeType(4);
    /// Every known value.
    pub const KNOWN: &'static [UpgradeType] = &[Self::CONSISTENCY, Self::NORMAL, Self::PSDK];

    /// What the value means, in English, if the crate knows it.
    pub const fn description(self) -> Option<&'static str> {
        match self.0 {
            2 => Some("consistency upgrade"),
            3 => Some("normal upgrade"),
            4 => Some("PSDK (payload) upgrade"),
            _ => None,
        }
    }

    /// True for 2, 3 and 4.
    pub const fn is_known(self) -> bool {
        self.description().is_some()
    }
}

impl From<i64> for UpgradeType {
    fn from(value: i64) -> Self {
        Self(value)
    }
}

impl fmt::Display for UpgradeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(text) => write!(f, "{} ({text})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for UpgradeType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for UpgradeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tolerant::int(d).map(UpgradeType)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for UpgradeType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UpgradeType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::json_schema::open_enum(
            "`firmware_upgrade_type`: how a device upgrades.",
            serde_json::json!({ "type": "integer" }),
            Self::KNOWN.iter().map(|known| {
                let meaning = known.description().unwrap_or_default();
                (known.0.into(), meaning.to_owned())
            }),
            crate::json_schema::UNKNOWN_REFUSED,
        )
    }
}

/// The `data` of the reply to `ota_create` (topic `services_reply`, dock to cloud).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaCreateReply {
    /// `0` when the dock took the task.
    pub result: ResultCode,
    /// The task's state; a dock may leave it out when it refuses.
    #[serde(
        default,
        deserialize_with = "object::opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "OtaCreateOutput"))]
    pub output: Option<OtaCreateOutput>,
}

/// `output` of the `ota_create` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaCreateOutput {
    /// The task's state, usually `in_progress`.
    pub status: TaskStatus,
}
