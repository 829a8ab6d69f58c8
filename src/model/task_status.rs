//! Task status, shared by the `ota_create` reply and the `ota_progress` event.

use crate::model::open_enum::open_str_enum;

open_str_enum! {
    /// The state of an upgrade task (`output.status`).
    ///
    /// Open: a value this crate does not know is kept as [`TaskStatus::Unknown`] and
    /// re-encodes unchanged. [`TaskStatus::is_final`] tells whether the task is over.
    ///
    /// ```
    /// use dji_cloud_ota::TaskStatus;
    ///
    /// assert!(TaskStatus::Ok.is_final());
    /// assert!(!TaskStatus::InProgress.is_final());
    /// let newer: TaskStatus = "queued".parse().unwrap();
    /// assert_eq!((newer.is_known(), newer.to_string()), (false, "queued".to_owned()));
    /// assert_eq!("ok".parse(), Ok(TaskStatus::Ok));
    /// ```
    pub enum TaskStatus {
        /// Sent to the device.
        Sent = "sent" => "sent to the device",
        /// Running.
        InProgress = "in_progress" => "in progress",
        /// Finished successfully.
        Ok = "ok" => "finished successfully",
        /// Paused.
        Paused = "paused" => "paused",
        /// Refused by the device.
        Rejected = "rejected" => "rejected by the device",
        /// Failed.
        Failed = "failed" => "failed",
        /// Canceled or terminated.
        Canceled = "canceled" => "canceled or terminated",
        /// Timed out.
        Timeout = "timeout" => "timed out",
        /// Partly done: known to older DJI code, not in the OTA documentation.
        PartiallyDone = "partially_done" => "partially done",
    }
    schema_note = TaskStatus::final_note;
}

impl TaskStatus {
    /// True when the task is over: `ok`, `rejected`, `failed`, `canceled`, `timeout`, or
    /// `partially_done` (final in DJI's own code).
    ///
    /// An unknown status is not final: a tracker should wait for a known final status or
    /// its own timeout rather than guess.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TaskStatus::Ok
                | TaskStatus::Rejected
                | TaskStatus::Failed
                | TaskStatus::Canceled
                | TaskStatus::Timeout
                | TaskStatus::PartiallyDone
        )
    }

    /// True only for `ok`. A final status other than `ok` is a failure of some kind;
    /// read [`crate::ResultCode`] too, since `failed` can come with result `0`.
    pub fn is_success(&self) -> bool {
        matches!(self, TaskStatus::Ok)
    }

    /// What the JSON Schema adds to a final value's meaning.
    #[cfg(feature = "schemars")]
    fn final_note(&self) -> Option<&'static str> {
        self.is_final().then_some("final: the task is over")
    }
}
