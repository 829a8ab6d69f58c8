//! Replies to `ota_create` and `ota_progress` events, each matched to its task by
//! gateway and `bid` (see the [module documentation](super) for the rules).

use crate::model::{Message, OtaCreateReply, OtaProgress, ResultCode, TaskStatus};

use super::task::{Phase, Position};
use super::{Change, Ending, Ignored, Output, TaskKey, Tracker, Update};

impl Tracker {
    pub(super) fn on_reply(
        &mut self,
        message: &Message,
        reply: &OtaCreateReply,
        now_ms: u64,
        out: &mut Output,
    ) {
        let key = TaskKey::of(message);
        let tid = message.tid.clone();
        let Some(task) = self.tasks.get_mut(&key).map(|t| &mut t.task) else {
            let ignored = match self.ended.get(&key) {
                Some(ended) => Ignored::Late {
                    tid,
                    ended: ended.ending.clone(),
                },
                None => Ignored::Unknown { tid },
            };
            out.ignore(key, ignored);
            return;
        };
        if !task.attempts.contains(&tid) {
            out.ignore(key, Ignored::UnmatchedReply { tid });
            return;
        }
        if task.phase == Phase::Accepted {
            let result = reply.result;
            out.ignore(key, Ignored::ExtraReply { tid, result });
            return;
        }
        task.last_heard_ms = now_ms;
        let status = reply.output.as_ref().map(|o| o.status.clone());
        let refused = !reply.result.is_success()
            || status
                .as_ref()
                .is_some_and(|s| s.is_final() && !s.is_success());
        if refused {
            let result = reply.result;
            let change = Change::Refused { result, status };
            self.conclude(key, change, Ending::Refused { result }, out);
        } else if let Some(status) = status.clone().filter(TaskStatus::is_final) {
            self.finished(key, status, reply.result, out);
        } else {
            task.phase = Phase::Accepted;
            task.status.clone_from(&status);
            self.changed.touch(&key);
            out.updates.push(Update {
                task: key,
                change: Change::Accepted {
                    status,
                    by_event: false,
                },
            });
        }
    }

    pub(super) fn on_event(
        &mut self,
        message: &Message,
        event: &OtaProgress,
        now_ms: u64,
        out: &mut Output,
    ) {
        let key = TaskKey::of(message);
        let tid = message.tid.clone();
        let window = self.config.seen_events_per_task;
        let Some(task) = self.tasks.get_mut(&key).map(|t| &mut t.task) else {
            let ignored = match self.ended.get_mut(&key) {
                Some(ended) if ended.seen.contains(&tid) => Ignored::Duplicate { tid },
                Some(ended) => {
                    ended.seen.remember(tid.clone(), window);
                    self.changed.touch(&key);
                    Ignored::Late {
                        tid,
                        ended: ended.ending.clone(),
                    }
                }
                None => Ignored::Unknown { tid },
            };
            out.answer(message, now_ms);
            out.ignore(key, ignored);
            return;
        };
        if task.seen.contains(&tid) {
            out.answer(message, now_ms);
            out.ignore(key, Ignored::Duplicate { tid });
            return;
        }
        task.seen.remember(tid.clone(), window);
        self.changed.touch(&key);
        out.answer(message, now_ms);
        task.last_heard_ms = now_ms;
        let status = event.status().clone();
        let result = event.result;
        if status.is_final() {
            self.finished(key, status, result, out);
            return;
        }
        if task.phase != Phase::Accepted {
            task.phase = Phase::Accepted;
            out.updates.push(Update {
                task: key.clone(),
                change: Change::Accepted {
                    status: Some(status.clone()),
                    by_event: true,
                },
            });
        }
        let position = Position::of(message, event);
        if task
            .last_event
            .as_ref()
            .is_some_and(|last| position.is_before(last))
        {
            let percent = position.percent;
            out.ignore(key, Ignored::OutOfOrder { tid, percent });
            return;
        }
        task.status = Some(status.clone());
        task.last_event = Some(position.clone());
        out.updates.push(Update {
            task: key,
            change: Change::Progress {
                status,
                result,
                step: position.step,
                percent: position.percent,
                rate: event.rate(),
            },
        });
    }

    /// Ends a task with a final status.
    fn finished(
        &mut self,
        task: TaskKey,
        status: TaskStatus,
        result: ResultCode,
        out: &mut Output,
    ) {
        let ending = Ending::Finished {
            status: status.clone(),
            result,
        };
        self.conclude(task, Change::Finished { status, result }, ending, out);
    }
}
