//! What the MQTT examples share: command-line options, the broker's settings from them,
//! and the loops that run one upgrade on the runtime crate's `Cloud` and simulated docks
//! on its `Agent`.
//!
//! Each example uses part of this module; the rest is dead code to it.
#![allow(dead_code)]

pub mod broker;
pub mod cloud;
pub mod dock;
pub mod fleet;
pub mod mqtt;

use std::time::Duration;

use clap::Args;
use dji_cloud_ota::dock::{DockConfig, Fault, NeedReply, UPGRADE_FAILED};
use dji_cloud_ota::now_millis;
use dji_cloud_ota::tracker::TrackerConfig;
use dji_cloud_ota::{Device, ResultCode, Serial, Step, UpgradeType};

/// Exit status: the task ended `ok`.
pub const EXIT_OK: u8 = 0;
/// Exit status: the task ended otherwise (failed, refused, ...).
pub const EXIT_TASK_FAILED: u8 = 1;
/// Exit status (clap's): the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: no reply, a silent dock, or the overall time-out.
pub const EXIT_TIMED_OUT: u8 = 3;
/// Exit status: the broker could not be reached or refused the connection.
pub const EXIT_BROKER: u8 = 4;

/// A gateway serial from the command line: refused unless it is topic-safe.
pub fn gateway(text: &str) -> Result<Serial, String> {
    Serial::new(text).map_err(|e| format!("not a usable gateway serial: {e}"))
}

/// The firmware to install; the defaults are a sample package.
#[derive(Debug, Clone, Args)]
pub struct FirmwareArgs {
    /// Serial of the device to upgrade (the aircraft or the dock).
    #[arg(long, default_value = "1581F5BMD22330010X0V")]
    pub device: String,
    /// Firmware version to install.
    #[arg(long = "firmware-version", default_value = "04.01.0020")]
    pub version: String,
    /// Where the device downloads the package.
    #[arg(
        long,
        default_value = "https://firmware.example.com/wm245_04.01.0020.zip"
    )]
    pub url: String,
    /// MD5 of the package, 32 hex digits.
    #[arg(long, default_value = "6f1ed002ab5595859014ebf0951522d9")]
    pub md5: String,
    /// Size of the package in bytes.
    #[arg(long, default_value_t = 653_467_234)]
    pub size: u64,
    /// File name of the package.
    #[arg(long, default_value = "wm245_04.01.0020.zip")]
    pub file_name: String,
    /// firmware_upgrade_type: 2 consistency, 3 normal, 4 PSDK.
    #[arg(long, default_value_t = 3)]
    pub upgrade_type: i64,
}

impl FirmwareArgs {
    pub fn devices(&self) -> Vec<Device> {
        vec![
            Device::new(&self.device, &self.version, UpgradeType(self.upgrade_type)).with_file(
                &self.url,
                &self.md5,
                self.size,
                &self.file_name,
            ),
        ]
    }
}

/// How the cloud side waits.
#[derive(Debug, Clone, Args)]
pub struct TrackerArgs {
    /// How long to wait for the reply to ota_create before sending it again, in ms.
    #[arg(long, default_value_t = 3_000)]
    pub reply_timeout_ms: u64,
    /// How many times ota_create is sent again without a reply.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// How long an accepted task may send no event before it fails, in ms.
    #[arg(long, default_value_t = 300_000)]
    pub silence_timeout_ms: u64,
    /// Gives up on the whole upgrade after this many seconds.
    #[arg(long, default_value_t = 3_600)]
    pub timeout_secs: u64,
    /// After the task ends, keeps answering late events this long, in ms.
    #[arg(long, default_value_t = 500)]
    pub linger_ms: u64,
    /// Once the devices' state confirms the outcome, how long the final event is still
    /// awaited, in ms.
    #[arg(long, default_value_t = 5_000)]
    pub state_grace_ms: u64,
}

impl TrackerArgs {
    pub fn config(&self) -> TrackerConfig {
        TrackerConfig {
            reply_timeout_ms: self.reply_timeout_ms,
            retries: self.retries,
            silence_timeout_ms: Some(self.silence_timeout_ms),
            state_grace_ms: self.state_grace_ms,
            ..TrackerConfig::default()
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// How the simulated dock behaves, and what it does wrong.
#[derive(Debug, Clone, Args)]
pub struct DockArgs {
    /// Time between two progress events, in ms.
    #[arg(long, default_value_t = 500)]
    pub interval_ms: u64,
    /// Percent added at each event of a step.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..=100))]
    pub percent_step: i64,
    /// Which events ask for an events_reply: never, final or every.
    #[arg(long, default_value = "final", value_parser = need_reply)]
    pub need_reply: NeedReply,
    /// Refuses every ota_create with this result code (312015: the dock is busy).
    #[arg(long, value_name = "CODE")]
    pub reject: Option<i64>,
    /// Fails at this point: PERCENT of the upgrade, or download:PERCENT.
    #[arg(long, value_name = "[STEP:]PERCENT", value_parser = step_percent)]
    pub fail_at: Option<(Step, i64)>,
    /// The result code of --fail-at's final event.
    #[arg(long, value_name = "CODE", default_value_t = UPGRADE_FAILED.0)]
    pub fail_code: i64,
    /// Never answers: no reply, no event (the cloud retries, then gives up).
    #[arg(long)]
    pub no_reply: bool,
    /// Accepts, then goes silent at this point: PERCENT of the upgrade, or
    /// download:PERCENT.
    #[arg(long, value_name = "[STEP:]PERCENT", value_parser = step_percent)]
    pub silent_at: Option<(Step, i64)>,
    /// Sends every event twice, as an MQTT redelivery would.
    #[arg(long)]
    pub duplicate_events: bool,
    /// Sends the last progress event after the final one.
    #[arg(long)]
    pub late_event: bool,
    /// Never sends the final event, as if it were lost; the devices' state pushes still
    /// tell the outcome.
    #[arg(long)]
    pub drop_final: bool,
    /// Pushes no firmware properties on the devices' state topics.
    #[arg(long)]
    pub no_state_pushes: bool,
    /// An event that asked for a reply and got none is sent again after this many ms.
    #[arg(long, default_value_t = 5_000)]
    pub resend_after_ms: u64,
    /// How many times such an event is sent again, at most.
    #[arg(long, default_value_t = 6)]
    pub resend_limit: u32,
}

impl DockArgs {
    pub fn config(&self) -> DockConfig {
        let fault = if self.no_reply {
            Fault::NoReply
        } else if let Some(code) = self.reject {
            Fault::Reject(ResultCode(code))
        } else if let Some((step, percent)) = self.fail_at.clone() {
            Fault::FailAt {
                step,
                percent,
                result: ResultCode(self.fail_code),
            }
        } else if let Some((step, percent)) = self.silent_at.clone() {
            Fault::SilentAt { step, percent }
        } else {
            Fault::None
        };
        DockConfig {
            interval_ms: self.interval_ms,
            percent_step: self.percent_step,
            need_reply: self.need_reply,
            fault,
            duplicate_events: self.duplicate_events,
            late_event: self.late_event,
            drop_final_event: self.drop_final,
            state_pushes: !self.no_state_pushes,
            ..DockConfig::default()
        }
    }
}

impl DockArgs {
    pub fn resend(&self) -> dock::Resend {
        dock::Resend {
            after: Duration::from_millis(self.resend_after_ms),
            limit: self.resend_limit,
        }
    }
}

fn need_reply(text: &str) -> Result<NeedReply, String> {
    match text {
        "never" => Ok(NeedReply::Never),
        "final" => Ok(NeedReply::Final),
        "every" => Ok(NeedReply::Every),
        _ => Err("expected never, final or every".into()),
    }
}

fn step_percent(text: &str) -> Result<(Step, i64), String> {
    let (step, percent) = match text.split_once(':') {
        Some(("download", p)) => (Step::DownloadFirmware, p),
        Some(("upgrade", p)) => (Step::UpgradeFirmware, p),
        Some(_) => return Err("the step is download or upgrade".into()),
        None => (Step::UpgradeFirmware, text),
    };
    match percent.parse() {
        Ok(p @ 0..=100) => Ok((step, p)),
        _ => Err("the percent is 0 to 100".into()),
    }
}

/// The figures both sides print last, as `summary key=value ...`, for people and for
/// the tests that run the examples.
pub fn summary(pairs: &[(&str, String)]) -> String {
    let mut line = String::from("summary");
    for (key, value) in pairs {
        line.push_str(&format!(" {key}={value}"));
    }
    line
}

/// The process's peak resident memory in KiB (`VmHWM`), where the system tells it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The moment the millisecond clock the tracker and the docks are given (Unix time)
/// reads `at_ms`, as a tokio instant to sleep until.
pub fn instant_at(at_ms: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_millis(at_ms.saturating_sub(now_millis()))
}
