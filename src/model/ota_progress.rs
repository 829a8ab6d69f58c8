//! `ota_progress`: the event a dock streams while it upgrades, and its reply.

use serde::{Deserialize, Serialize};

use crate::model::open_enum::open_str_enum;
use crate::model::payload::Payload;
use crate::model::{Method, ResultCode, TaskStatus, Text, TopicKind};
use crate::rules::check::{At, Problem, Report, Violation};
use crate::rules::limits::MAX_PERCENT;
use crate::rules::{object, spelling};

/// The `data` of an `ota_progress` event (topic `events`, dock to cloud).
///
/// `status: failed` can come with `result: 0`: read both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OtaProgress {
    /// `0`, or the error code of a failure.
    pub result: ResultCode,
    /// The task's state and progress.
    #[serde(deserialize_with = "object::object")]
    pub output: ProgressOutput,
}

impl OtaProgress {
    /// An event with `status`, result 0 and nothing else; the `with_*` methods add the
    /// rest. A dock agent sends it with [`crate::Message::progress_event`].
    pub fn new(status: TaskStatus) -> Self {
        Self {
            result: ResultCode::SUCCESS,
            output: ProgressOutput {
                status,
                progress: None,
                ext: None,
                sub_status: None,
            },
        }
    }

    /// The same event with `result`: the error code of a failure.
    pub fn with_result(mut self, result: ResultCode) -> Self {
        self.result = result;
        self
    }

    /// The same event at `percent` of `step`.
    pub fn with_progress(mut self, step: Step, percent: i64) -> Self {
        self.output.progress = Some(Progress {
            percent,
            step: Some(step),
            step_result: None,
        });
        self
    }

    /// The same event with the download rate, in bytes per second.
    pub fn with_rate(mut self, rate: u64) -> Self {
        self.output.ext = Some(ProgressExt { rate: Some(rate) });
        self
    }

    /// The task's status (`output.status`). With [`OtaProgress::step`],
    /// [`OtaProgress::percent`] and [`OtaProgress::rate`], it reads the nested fields:
    ///
    /// ```
    /// use dji_cloud_ota::{Data, Step, TaskStatus, decode};
    ///
    /// let payload = br#"{"tid":"6a7bfe89-c386-4043-b600-b518e10096cc",
    ///   "bid":"42a19f36-5117-4520-bd13-fd61d818d52e","timestamp":1654070968655,
    ///   "data":{"result":0,"output":{"status":"in_progress",
    ///   "progress":{"percent":10,"step_key":"download_firmware"},"ext":{"rate":2048}}}}"#;
    /// let message = decode("thing/product/4TADKAQ000002J/events", payload)?;
    /// let Data::OtaProgress(event) = &message.data else { unreachable!() };
    /// assert_eq!(event.status(), &TaskStatus::InProgress);
    /// assert_eq!((event.step(), event.percent()), (Some(&Step::DownloadFirmware), Some(10)));
    /// assert_eq!(event.rate(), Some(2048));
    /// # Ok::<(), dji_cloud_ota::DecodeError>(())
    /// ```
    pub fn status(&self) -> &TaskStatus {
        &self.output.status
    }

    /// The step, when the event names one (`output.progress.step_key`).
    pub fn step(&self) -> Option<&Step> {
        self.output.progress.as_ref()?.step.as_ref()
    }

    /// Percent of the step done, when the event carries it (`output.progress.percent`).
    /// An `i64`, as received: `validate` checks it is 0 to 100.
    pub fn percent(&self) -> Option<i64> {
        self.output.progress.as_ref().map(|p| p.percent)
    }

    /// The download rate in bytes per second, when the event carries it
    /// (`output.ext.rate`).
    pub fn rate(&self) -> Option<u64> {
        self.output.ext.as_ref()?.rate
    }
}

/// `output` of an `ota_progress` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
        schemars(schema_with = "crate::rules::schema_part::short_text")
    )]
    pub sub_status: Option<Text>,
}

/// `output.progress` of an `ota_progress` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Progress {
    /// Percent done, 0 to 100.
    #[serde(deserialize_with = "spelling::int")]
    #[cfg_attr(
        feature = "schemars",
        schemars(schema_with = "crate::rules::schema_part::percent")
    )]
    pub percent: i64,
    /// The current step. Spelled `step_key` in the seed and the documentation up to
    /// v1.11, `current_step` on the current developer site and by DJI's Java SDK (which
    /// writes it as a number: `1`, `2`); encoded as `step_key`.
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
        deserialize_with = "spelling::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "i64"))]
    pub step_result: Option<i64>,
}

/// `output.ext` of an `ota_progress` event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ProgressExt {
    /// Download rate in bytes per second.
    #[serde(
        default,
        deserialize_with = "spelling::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schemars", schemars(with = "u64"))]
    pub rate: Option<u64>,
}

open_str_enum! {
    /// The step an upgrade is at (`progress.step_key`).
    ///
    /// Open: a value this crate does not know is kept as [`Step::Unknown`]. DJI's Java
    /// SDK writes the step as a number: `1` is [`Step::DownloadFirmware`], `2`
    /// [`Step::UpgradeFirmware`]; any other number is kept as an unknown step of its
    /// decimal text (`7` becomes `"7"`), never a reason to refuse the event. The
    /// canonical encoding writes the step's name.
    ///
    /// ```
    /// use dji_cloud_ota::Step;
    ///
    /// assert_eq!("upgrade_firmware".parse(), Ok(Step::UpgradeFirmware));
    /// assert_eq!(Step::DownloadFirmware.to_string(), "download_firmware");
    /// assert_eq!(serde_json::from_str::<Step>("2").unwrap(), Step::UpgradeFirmware);
    /// assert_eq!(serde_json::from_str::<Step>("7").unwrap().to_string(), "7");
    /// ```
    pub enum Step {
        /// Downloading the firmware package.
        DownloadFirmware = "download_firmware" => "downloading the firmware",
        /// Installing the firmware.
        UpgradeFirmware = "upgrade_firmware" => "upgrading the firmware",
    }
    codes = [1 => DownloadFirmware, 2 => UpgradeFirmware];
}

impl Payload for OtaProgress {
    const METHOD: Method = Method::OtaProgress;
    const TOPIC: TopicKind = TopicKind::Events;
    const REPLY: Option<TopicKind> = Some(EventsReply::TOPIC);

    fn check(&self, violations: &mut Vec<Violation>) {
        let report = &mut Report(violations);
        let output = &self.output;
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
}

/// The `data` of a reply to an event (topic `events_reply`, cloud to dock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
// Named after its message in the schemas (`OtaProgressReplyMessage`), as the others are.
#[cfg_attr(feature = "schemars", schemars(rename = "OtaProgressReply"))]
pub struct EventsReply {
    /// `0` when the cloud took the event.
    pub result: ResultCode,
}

impl Payload for EventsReply {
    const METHOD: Method = Method::OtaProgress;
    const TOPIC: TopicKind = TopicKind::EventsReply;
    const REPLY: Option<TopicKind> = None;

    fn check(&self, _: &mut Vec<Violation>) {}
}
