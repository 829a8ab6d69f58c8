//! `ota_create`: the service that starts a firmware upgrade, and its reply.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::payload::Payload;
use crate::model::{Method, ResultCode, TaskStatus, Text, TopicKind};
use crate::rules::check::{At, Problem, Report, Violation, is_http_url, is_md5, is_version};
use crate::rules::limits::{MAX_DEVICES, MIN_DEVICES};
use crate::rules::{object, spelling};

/// The `data` of an `ota_create` request (topic `services`, cloud to dock).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaCreate {
    /// The devices to upgrade: the aircraft, the dock, or both. 1 to 2 items, no serial
    /// twice.
    #[serde(deserialize_with = "object::objects")]
    #[cfg_attr(
        feature = "schemars",
        schemars(transform = crate::rules::schema_part::device_count)
    )]
    pub devices: Vec<Device>,
}

/// One device to upgrade, an item of `data.devices`.
///
/// The file fields are optional on the wire: the documentation's own example sends a
/// second device with only `sn`, `product_version` and `firmware_upgrade_type`. They
/// describe one firmware package, so they come all together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schemars",
    schemars(transform = crate::rules::schema_part::all_or_none_of_optional)
)]
pub struct Device {
    /// The device's serial number.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::serial")
    )]
    pub sn: Text,
    /// The firmware version to install: dot-separated digits such as `1.00.223` or
    /// `04.01.0020`.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::version")
    )]
    pub product_version: Text,
    /// Where the device downloads the firmware package: an `http://` or `https://`
    /// address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::http_url")
    )]
    pub file_url: Option<Text>,
    /// MD5 of the package: 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::md5")
    )]
    pub md5: Option<Text>,
    /// Size of the package in bytes, not zero.
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::file_size")
    )]
    #[serde(
        default,
        deserialize_with = "spelling::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_size: Option<u64>,
    /// File name of the package, such as `wm245_1.00.223.zip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::text")
    )]
    pub file_name: Option<Text>,
    /// How the device upgrades.
    pub firmware_upgrade_type: UpgradeType,
}

impl Device {
    /// A device entry without a package: serial, target version and upgrade type.
    pub fn new(
        sn: impl Into<Text>,
        product_version: impl Into<Text>,
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
        url: impl Into<Text>,
        md5: impl Into<Text>,
        size: u64,
        name: impl Into<Text>,
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
/// assert_eq!(UpgradeType::NORMAL.to_string(), "3");
/// assert_eq!("3".parse(), Ok(UpgradeType::NORMAL));
/// assert_eq!(UpgradeType::NORMAL.description(), Some("normal upgrade"));
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

/// The wire value: `3`. [`UpgradeType::description`] says what it means.
impl fmt::Display for UpgradeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The wire value written in decimal, known or not.
impl FromStr for UpgradeType {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Self)
    }
}

impl Serialize for UpgradeType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for UpgradeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        spelling::int(d).map(UpgradeType)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for UpgradeType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UpgradeType".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::rules::schema_part::open_enum(
            generator,
            "UpgradeType",
            "`firmware_upgrade_type`: how a device upgrades.",
            serde_json::json!({ "type": "integer" }),
            Self::KNOWN.iter().map(|known| {
                let meaning = known.description().unwrap_or_default();
                (known.0.into(), meaning.to_owned())
            }),
            crate::rules::schema_part::UNKNOWN_REFUSED,
        )
    }
}

impl Payload for OtaCreate {
    const METHOD: Method = Method::OtaCreate;
    const TOPIC: TopicKind = TopicKind::Services;
    const REPLY: Option<TopicKind> = Some(OtaCreateReply::TOPIC);

    fn check(&self, violations: &mut Vec<Violation>) {
        let report = &mut Report(violations);
        let count = self.devices.len();
        if !(MIN_DEVICES..=MAX_DEVICES).contains(&count) {
            report.push(At::top("data.devices"), Problem::DeviceCount { count });
        }
        for (i, device) in self.devices.iter().enumerate() {
            device.check(report, i);
            if self.devices[..i].iter().any(|d| d.sn == device.sn) {
                report.push(
                    At::device(i, "sn"),
                    Problem::DuplicateDevice {
                        sn: device.sn.to_string(),
                    },
                );
            }
        }
    }
}

impl Device {
    /// The rules for the `i`th device: a topic-safe serial, a version of dot-separated
    /// digits, a known upgrade type, and either no package or a whole one.
    fn check(&self, report: &mut Report, i: usize) {
        report.serial(At::device(i, "sn"), &self.sn);
        let version = At::device(i, "product_version");
        report.text(version, &self.product_version);
        if !self.product_version.is_empty() && !is_version(&self.product_version) {
            report.push(
                version,
                Problem::BadVersion {
                    value: self.product_version.to_string(),
                },
            );
        }
        let upgrade = self.firmware_upgrade_type;
        report.known(
            At::device(i, "firmware_upgrade_type"),
            upgrade.is_known(),
            &upgrade,
        );

        let mut missing = Vec::new();
        match &self.file_url {
            Some(url) => {
                let at = At::device(i, "file_url");
                report.max_chars(at, url);
                if !is_http_url(url) {
                    report.push(at, Problem::NotHttpUrl);
                }
            }
            None => missing.push("file_url"),
        }
        match &self.md5 {
            Some(md5) if !is_md5(md5) => {
                let at = At::device(i, "md5");
                report.max_chars(at, md5);
                report.push(
                    at,
                    Problem::NotMd5 {
                        value: md5.to_string(),
                    },
                );
            }
            Some(_) => {}
            None => missing.push("md5"),
        }
        match self.file_size {
            Some(0) => report.push(At::device(i, "file_size"), Problem::EmptyFile),
            Some(_) => {}
            None => missing.push("file_size"),
        }
        match &self.file_name {
            Some(name) => report.text(At::device(i, "file_name"), name),
            None => missing.push("file_name"),
        }
        // No package at all is allowed (the documentation's own example sends a device
        // so); half a package is not. `missing` allocates only once something is missing.
        if !missing.is_empty() && missing.len() < 4 {
            report.push(At::device(i, ""), Problem::PartialPackage { missing });
        }
    }
}

/// The `data` of the reply to `ota_create` (topic `services_reply`, dock to cloud).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaCreateOutput {
    /// The task's state, usually `in_progress`.
    pub status: TaskStatus,
}

impl Payload for OtaCreateReply {
    const METHOD: Method = Method::OtaCreate;
    const TOPIC: TopicKind = TopicKind::ServicesReply;
    const REPLY: Option<TopicKind> = None;

    fn check(&self, violations: &mut Vec<Violation>) {
        let report = &mut Report(violations);
        if let Some(output) = &self.output {
            report.known(
                At::top("data.output.status"),
                output.status.is_known(),
                &output.status,
            );
        }
    }
}
