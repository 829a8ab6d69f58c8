//! `ota_progress`: the event a dock streams while it upgrades, and its reply.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::open_enum::open_str_enum;
use crate::{ResultCode, TaskStatus, object, tolerant};

/// The `data` of an `ota_progress` event (topic `events`, dock to cloud).
///
/// `status: failed` can come with `result: 0`: read both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaProgress {
    /// `0`, or the error code of a failure.
    pub result: ResultCode,
    /// The task's state and progress.
    #[serde(deserialize_with = "object::object")]
    pub output: ProgressOutput,
}

/// `output` of an `ota_progress` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ProgressOutput {
    /// The task's state. The seed document's table spells the key `stauts`.
    #[serde(alias = "stauts")]
    pub status: TaskStatus,
    /// How far the current step has come; absent in some final events.
    #[serde(
        default,
        deserialize_with = "object::opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "Progress"))]
    pub progress: Option<Progress>,
    /// Extra figures: the download rate.
    #[serde(
        default,
        deserialize_with = "object::opt_object",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "ProgressExt"))]
    pub ext: Option<ProgressExt>,
    /// A finer status that some implementations of the protocol add, such as
    /// `DOWNLOAD_FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::short_text")
    )]
    pub sub_status: Option<CompactString>,
}

/// `output.progress` of an `ota_progress` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Progress {
    /// Percent done, 0 to 100.
    #[serde(deserialize_with = "tolerant::int")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::json_schema::percent")
    )]
    pub percent: i64,
    /// The current step. Spelled `step_key` in the seed and the documentation up to
    /// v1.11, `current_step` on the current developer site; encoded as `step_key`.
    #[serde(
        default,
        rename = "step_key",
        alias = "current_step",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "Step"))]
    pub step: Option<Step>,
    /// Non-zero when the step failed (Chinese documentation v1.3.1 to v1.7).
    #[serde(
        default,
        deserialize_with = "tolerant::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "i64"))]
    pub step_result: Option<i64>,
}

/// `output.ext` of an `ota_progress` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ProgressExt {
    /// Download rate in bytes per second.
    #[serde(
        default,
        deserialize_with = "tolerant::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "u64"))]
    pub rate: Option<u64>,
}

open_str_enum! {
    /// The step an upgrade is at (`progress.step_key`).
    ///
    /// Open: a value this crate does not know is kept as [`Step::Unknown`].
    pub enum Step {
        /// Downloading the firmware package.
        DownloadFirmware = "download_firmware" => "downloading the firmware",
        /// Installing the firmware.
        UpgradeFirmware = "upgrade_firmware" => "upgrading the firmware",
    }
}

/// The `data` of a reply to an event (topic `events_reply`, cloud to dock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EventsReply {
    /// `0` when the cloud took the event.
    pub result: ResultCode,
}
