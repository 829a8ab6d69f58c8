//! The columns of a rollout's rows, shared by the SQL stores ([`crate::SqliteStore`],
//! and `PgStore` with the feature `postgres`): one place for what each column holds.

use dji_cloud_ota::rollout::{DeviceRecord, FleetDevice, Outcome, RolloutState};
use dji_cloud_ota::{Id, ResultCode, Serial, Text};

/// The columns of a device's row, in this order (the row's key aside).
pub(crate) const DEVICE_COLUMNS: &str = "gateway, sn, model, outcome, result, attempts, task,
    retry_at_ms, started_ms, ended_ms, reported_version";

/// A device's row as read, before it is checked.
pub(crate) struct DeviceRow {
    pub(crate) gateway: String,
    pub(crate) sn: String,
    pub(crate) model: String,
    pub(crate) outcome: String,
    pub(crate) result: Option<i64>,
    pub(crate) attempts: i64,
    pub(crate) task: Option<String>,
    pub(crate) retry_at_ms: Option<i64>,
    pub(crate) started_ms: Option<i64>,
    pub(crate) ended_ms: Option<i64>,
    pub(crate) reported_version: Option<String>,
}

impl DeviceRow {
    /// The record; the error says what in the row is not one.
    pub(crate) fn into_record(self) -> Result<DeviceRecord, String> {
        let serial = |s: &str| Serial::new(s).map_err(|e| format!("device {s:?}: {e}"));
        let sn = &self.sn;
        Ok(DeviceRecord {
            device: FleetDevice::new(serial(&self.gateway)?, serial(sn)?, self.model),
            outcome: self
                .outcome
                .parse::<Outcome>()
                .map_err(|e| format!("device {sn}: {e}"))?,
            result: self.result.map(ResultCode),
            attempts: u32::try_from(self.attempts).map_err(|e| format!("device {sn}: {e}"))?,
            task: self.task.as_deref().map(Id::from_text),
            retry_at_ms: self.retry_at_ms.map(|v| v as u64),
            started_ms: self.started_ms.map(|v| v as u64),
            ended_ms: self.ended_ms.map(|v| v as u64),
            reported_version: self.reported_version.map(Text::from),
        })
    }
}

/// The changing columns of a device's row, as written.
pub(crate) struct DeviceValues<'a> {
    pub(crate) outcome: &'static str,
    pub(crate) result: Option<i64>,
    pub(crate) attempts: i64,
    pub(crate) task: Option<String>,
    pub(crate) retry_at_ms: Option<i64>,
    pub(crate) started_ms: Option<i64>,
    pub(crate) ended_ms: Option<i64>,
    pub(crate) reported_version: Option<&'a str>,
}

impl<'a> DeviceValues<'a> {
    pub(crate) fn of(r: &'a DeviceRecord) -> Self {
        Self {
            outcome: r.outcome.as_str(),
            result: r.result.map(|c| c.0),
            attempts: i64::from(r.attempts),
            task: r.task.as_ref().map(|t| t.to_string()),
            retry_at_ms: r.retry_at_ms.map(|v| v as i64),
            started_ms: r.started_ms.map(|v| v as i64),
            ended_ms: r.ended_ms.map(|v| v as i64),
            reported_version: r.reported_version.as_deref(),
        }
    }
}

/// A rollout's state from its column.
pub(crate) fn parse_state(text: &str) -> Option<RolloutState> {
    [
        RolloutState::Running,
        RolloutState::Paused,
        RolloutState::Aborted,
        RolloutState::Cancelled,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
}

/// A column's JSON text.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}
