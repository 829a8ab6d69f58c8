//! Validation: the protocol's rules, checked strictly and all at once.
//!
//! Decoding is tolerant and keeps whatever a peer sent; [`Message::validate`] then says
//! everything that is wrong with it, each violation with its JSON path, so a server can
//! refuse a bad `ota_create` before a dock receives it and log a bad event precisely.

use std::fmt;

use thiserror::Error;

use crate::limits::{
    MAX_DEVICES, MAX_PERCENT, MAX_TEXT_CHARS, MAX_TIMESTAMP_MS, MD5_HEX_DIGITS, MIN_DEVICES,
    MIN_TIMESTAMP_MS,
};
use crate::message::{Data, Message};
use crate::topic::check_serial;
use crate::{Device, Id, OtaCreateReply, OtaProgress, TopicError};

/// Every rule a message broke. `Display` lists them one per line, `path: problem`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ValidationErrors {
    /// The violations, in the order of the message's fields.
    pub violations: Vec<Violation>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.violations.len();
        write!(f, "{count} violation{}", if count == 1 { "" } else { "s" })?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

/// One broken rule and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path of the offending value, as in [`crate::DataError::path`]: `tid`,
    /// `data.devices[1].md5`; `topic` for the topic's gateway serial.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// What a [`Violation`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Problem {
    /// `tid` or `bid` is not a UUID.
    #[error("{value:?} is not a UUID (8-4-4-4-12 hex digits)")]
    NotUuid {
        /// The id as sent.
        value: String,
    },
    /// The timestamp is not milliseconds between 2015 and 2100.
    #[error(
        "{value} is not a time in milliseconds between 2015 and 2100 (seconds sent by mistake?)"
    )]
    ImplausibleTimestamp {
        /// The timestamp as sent.
        value: u64,
    },
    /// A serial that cannot stand in a topic.
    #[error("{0}")]
    UnsafeSerial(TopicError),
    /// The envelope's `gateway` names another gateway than the topic.
    #[error("{gateway:?} differs from the topic's gateway {topic:?}")]
    GatewayMismatch {
        /// The `gateway` field.
        gateway: String,
        /// The serial in the topic.
        topic: String,
    },
    /// Not 1 to 2 devices.
    #[error("{count} devices; an ota_create upgrades {MIN_DEVICES} to {MAX_DEVICES}")]
    DeviceCount {
        /// How many were sent.
        count: usize,
    },
    /// Two devices with the same serial.
    #[error("serial {sn:?} is listed twice")]
    DuplicateDevice {
        /// The repeated serial.
        sn: String,
    },
    /// A text field that must not be empty is.
    #[error("must not be empty")]
    Empty,
    /// A text field longer than [`MAX_TEXT_CHARS`].
    #[error("{chars} characters; at most {MAX_TEXT_CHARS}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// `md5` is not 32 hex digits.
    #[error("{value:?} is not an MD5 digest ({MD5_HEX_DIGITS} hex digits)")]
    NotMd5 {
        /// The value as sent.
        value: String,
    },
    /// `file_url` is not an `http://` or `https://` address without spaces.
    #[error("not an http:// or https:// address without spaces or control characters")]
    NotHttpUrl,
    /// `product_version` is not dot-separated digits such as `1.00.223`.
    #[error("{value:?} is not a version of dot-separated digits such as 04.01.0020")]
    BadVersion {
        /// The value as sent.
        value: String,
    },
    /// `file_size` is zero.
    #[error("a firmware package cannot be empty")]
    EmptyFile,
    /// Some of `file_url`, `md5`, `file_size`, `file_name` are given but not all.
    #[error("a firmware package needs file_url, md5, file_size and file_name together; missing {}", missing.join(", "))]
    PartialPackage {
        /// The fields left out.
        missing: Vec<&'static str>,
    },
    /// A value of an open enum this crate does not know.
    #[error("{value:?} is not a known value")]
    UnknownValue {
        /// The value as sent.
        value: String,
    },
    /// `percent` outside 0..=100.
    #[error("{value} is outside 0..={MAX_PERCENT}")]
    PercentOutOfRange {
        /// The value as sent.
        value: i64,
    },
}

/// Where a value is: an envelope or payload path, or a field of one device. Written out
/// only when a violation is reported, so that validating a valid message allocates
/// nothing.
#[derive(Clone, Copy)]
struct At {
    device: Option<usize>,
    field: &'static str,
}

impl At {
    const fn top(path: &'static str) -> Self {
        Self {
            device: None,
            field: path,
        }
    }

    /// `data.devices[i].field`, or `data.devices[i]` for an empty `field`.
    const fn device(i: usize, field: &'static str) -> Self {
        Self {
            device: Some(i),
            field,
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.device, self.field) {
            (None, path) => f.write_str(path),
            (Some(i), "") => write!(f, "data.devices[{i}]"),
            (Some(i), field) => write!(f, "data.devices[{i}].{field}"),
        }
    }
}

/// Collects violations with their paths.
struct Report(Vec<Violation>);

impl Report {
    fn push(&mut self, at: At, problem: Problem) {
        self.0.push(Violation {
            path: at.to_string(),
            problem,
        });
    }

    fn id(&mut self, path: At, id: &Id) {
        if id.as_uuid().is_none() {
            self.push(
                path,
                Problem::NotUuid {
                    value: id.to_string(),
                },
            );
        }
    }

    fn serial(&mut self, path: At, serial: &str) {
        self.text(path, serial);
        if let Err(e) = check_serial(serial) {
            // An empty serial was reported by `text` already.
            if e != TopicError::EmptySerial {
                self.push(path, Problem::UnsafeSerial(e));
            }
        }
    }

    /// A required text field: not empty, at most MAX_TEXT_CHARS.
    fn text(&mut self, path: At, text: &str) {
        if text.is_empty() {
            self.push(path, Problem::Empty);
        }
        self.max_chars(path, text);
    }

    fn max_chars(&mut self, path: At, text: &str) {
        // Only text longer in bytes than the limit can be longer in characters.
        if text.len() > MAX_TEXT_CHARS {
            let chars = text.chars().count();
            if chars > MAX_TEXT_CHARS {
                self.push(path, Problem::TooLong { chars });
            }
        }
    }

    fn known(&mut self, path: At, known: bool, value: &dyn fmt::Display) {
        if !known {
            self.push(
                path,
                Problem::UnknownValue {
                    value: value.to_string(),
                },
            );
        }
    }
}

impl Message {
    /// Checks every rule of the protocol and reports every violation with its path.
    ///
    /// The rules: `tid` and `bid` are UUIDs; `timestamp` is milliseconds between 2015
    /// and 2100; the topic's serial and `gateway` are topic-safe and agree; `ota_create`
    /// has 1 to 2 devices with distinct, topic-safe serials, a version of dot-separated
    /// digits, text fields of at most 10240 characters, a known upgrade type, and either
    /// no package or all of `file_url` (http or https), `md5` (32 hex digits), a
    /// non-zero `file_size` and `file_name`; statuses and steps are known values;
    /// `percent` is 0 to 100.
    ///
    /// The seed document's examples decode but do not validate: their ids and MD5 are
    /// placeholders.
    ///
    /// # Errors
    /// [`ValidationErrors`], listing every violation.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut report = Report(Vec::new());
        if let Err(e) = check_serial(self.sn.as_str()) {
            report.push(At::top("topic"), Problem::UnsafeSerial(e));
        }
        report.id(At::top("tid"), &self.tid);
        report.id(At::top("bid"), &self.bid);
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
        match &self.data {
            Data::OtaCreate(create) => {
                let count = create.devices.len();
                if !(MIN_DEVICES..=MAX_DEVICES).contains(&count) {
                    report.push(At::top("data.devices"), Problem::DeviceCount { count });
                }
                for (i, device) in create.devices.iter().enumerate() {
                    validate_device(&mut report, i, device);
                    if create.devices[..i].iter().any(|d| d.sn == device.sn) {
                        report.push(
                            At::device(i, "sn"),
                            Problem::DuplicateDevice {
                                sn: device.sn.to_string(),
                            },
                        );
                    }
                }
            }
            Data::OtaCreateReply(reply) => validate_create_reply(&mut report, reply),
            Data::OtaProgress(progress) => validate_progress(&mut report, progress),
            Data::OtaProgressReply(_) => {}
        }
        if report.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors {
                violations: report.0,
            })
        }
    }
}

fn validate_device(report: &mut Report, i: usize, device: &Device) {
    report.serial(At::device(i, "sn"), &device.sn);
    let version = At::device(i, "product_version");
    report.text(version, &device.product_version);
    if !device.product_version.is_empty() && !is_version(&device.product_version) {
        report.push(
            version,
            Problem::BadVersion {
                value: device.product_version.to_string(),
            },
        );
    }
    let upgrade = device.firmware_upgrade_type;
    report.known(
        At::device(i, "firmware_upgrade_type"),
        upgrade.is_known(),
        &upgrade.0,
    );

    let mut missing = Vec::new();
    match &device.file_url {
        Some(url) => {
            let at = At::device(i, "file_url");
            report.max_chars(at, url);
            if !is_http_url(url) {
                report.push(at, Problem::NotHttpUrl);
            }
        }
        None => missing.push("file_url"),
    }
    match &device.md5 {
        Some(md5) => {
            if md5.len() != MD5_HEX_DIGITS || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                let at = At::device(i, "md5");
                report.max_chars(at, md5);
                report.push(
                    at,
                    Problem::NotMd5 {
                        value: md5.to_string(),
                    },
                );
            }
        }
        None => missing.push("md5"),
    }
    match device.file_size {
        Some(0) => report.push(At::device(i, "file_size"), Problem::EmptyFile),
        Some(_) => {}
        None => missing.push("file_size"),
    }
    match &device.file_name {
        Some(name) => report.text(At::device(i, "file_name"), name),
        None => missing.push("file_name"),
    }
    // No package at all is allowed (the documentation's own example sends a device so);
    // half a package is not. `missing` allocates only once something is missing.
    if !missing.is_empty() && missing.len() < 4 {
        report.push(At::device(i, ""), Problem::PartialPackage { missing });
    }
}

fn validate_create_reply(report: &mut Report, reply: &OtaCreateReply) {
    if let Some(output) = &reply.output {
        report.known(
            At::top("data.output.status"),
            output.status.is_known(),
            &output.status,
        );
    }
}

fn validate_progress(report: &mut Report, event: &OtaProgress) {
    let output = &event.output;
    report.known(
        At::top("data.output.status"),
        output.status.is_known(),
        &output.status,
    );
    if let Some(progress) = &output.progress {
        if !(0..=MAX_PERCENT).contains(&progress.percent) {
            report.push(
                At::top("data.output.progress.percent"),
                Problem::PercentOutOfRange {
                    value: progress.percent,
                },
            );
        }
        if let Some(step) = &progress.step {
            report.known(
                At::top("data.output.progress.step_key"),
                step.is_known(),
                step,
            );
        }
    }
    if let Some(sub_status) = &output.sub_status {
        report.max_chars(At::top("data.output.sub_status"), sub_status);
    }
}

/// Dot-separated groups of ASCII digits, at least two: `1.00.223`, `04.01.0020`.
fn is_version(text: &str) -> bool {
    let mut groups = 0;
    for group in text.split('.') {
        if group.is_empty() || !group.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        groups += 1;
    }
    groups >= 2
}

/// An `http://` or `https://` address with a host and no whitespace or control
/// characters.
fn is_http_url(text: &str) -> bool {
    let after_scheme = |scheme: &str| {
        text.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| &text[scheme.len()..])
    };
    let Some(rest) = after_scheme("https://").or_else(|| after_scheme("http://")) else {
        return false;
    };
    !rest.is_empty() && !rest.starts_with('/') && !text.chars().any(is_forbidden_in_url)
}

/// True for a character a `file_url` cannot hold: whitespace or a control character.
pub(crate) fn is_forbidden_in_url(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}
