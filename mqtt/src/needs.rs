//! What the cloud's tasks need subscribed to ([`Watch::TaskGateways`]), kept up to date
//! one task at a time: a task started, a task ended, an ended task no longer
//! remembered. Each filter is counted by the tasks that need it, so that what one task
//! changes is found without going through the others.
//!
//! [`Watch::TaskGateways`]: crate::Watch::TaskGateways

use std::collections::{HashMap, HashSet, VecDeque};

use dji_cloud_ota::tracker::{TaskKey, Tracker};
use dji_cloud_ota::{Data, Message, Serial, StateTopic, Topic, TopicKind};

/// The filters to subscribe to and to unsubscribe from after a change.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    /// Filters no task needed before.
    pub(crate) subscribe: Vec<String>,
    /// Filters no task needs any more.
    pub(crate) unsubscribe: Vec<String>,
}

/// How many tasks need each filter: a gateway's topics are needed by its tasks in
/// flight and by its recently ended ones (whose final events, sent again, are still
/// answered), a device's `state` topic by the tasks in flight that upgrade it.
#[derive(Debug, Default)]
pub(crate) struct Needs {
    count: HashMap<String, usize>,
    /// The `state` filters of each task in flight.
    devices: HashMap<TaskKey, Vec<String>>,
    /// The ended tasks the tracker remembers, in the order it remembers them (it
    /// forgets the oldest first).
    ended: VecDeque<TaskKey>,
    remembered: HashSet<TaskKey>,
}

impl Needs {
    /// What the tracker's tasks need now, in flight and remembered (once, at start).
    pub(crate) fn of(tracker: &Tracker) -> Self {
        let mut needs = Self::default();
        let mut ignored = Delta::default();
        for (key, _) in tracker.tasks() {
            if let Some(request) = tracker.request(&key) {
                needs.add_in_flight(&key, request, &mut ignored);
            }
        }
        for (key, _) in tracker.ended() {
            needs.add_ended(key, &mut ignored);
        }
        needs
    }

    /// Every filter some task needs.
    pub(crate) fn filters(&self) -> impl Iterator<Item = &String> {
        self.count.keys()
    }

    /// A task started with `request`.
    pub(crate) fn started(&mut self, key: &TaskKey, request: &Message) -> Delta {
        let mut delta = Delta::default();
        self.add_in_flight(key, request, &mut delta);
        delta
    }

    /// A task in flight ended (or was forgotten): its devices' topics are no longer
    /// needed by it, its gateway's are while the tracker remembers it, and any ended
    /// task the tracker forgot to make room for it no longer needs its gateway's.
    pub(crate) fn ended(&mut self, key: &TaskKey, tracker: &Tracker) -> Delta {
        let mut delta = Delta::default();
        let Some(devices) = self.devices.remove(key) else {
            return delta;
        };
        for filter in devices {
            self.release(filter, &mut delta);
        }
        let remembered = tracker.ending(key).is_some();
        if remembered && !self.remembered.contains(key) {
            // From in flight to remembered: its gateway's count stays.
            self.remembered.insert(key.clone());
            self.ended.push_back(key.clone());
        } else {
            // Not remembered, or already counted as such (a `bid` used again).
            for filter in gateway_filters(&key.gateway) {
                self.release(filter, &mut delta);
            }
        }
        // The tracker forgets its oldest ended tasks first, as they are kept here.
        while let Some(oldest) = self.ended.front() {
            if tracker.ending(oldest).is_some() {
                break;
            }
            let oldest = self.ended.pop_front().expect("a front");
            self.remembered.remove(&oldest);
            for filter in gateway_filters(&oldest.gateway) {
                self.release(filter, &mut delta);
            }
        }
        delta
    }

    fn add_in_flight(&mut self, key: &TaskKey, request: &Message, delta: &mut Delta) {
        if self.devices.contains_key(key) {
            return;
        }
        for filter in gateway_filters(&key.gateway) {
            self.need(filter, delta);
        }
        let devices = state_filters(request);
        for filter in &devices {
            self.need(filter.clone(), delta);
        }
        self.devices.insert(key.clone(), devices);
    }

    fn add_ended(&mut self, key: TaskKey, delta: &mut Delta) {
        if !self.remembered.insert(key.clone()) {
            return;
        }
        for filter in gateway_filters(&key.gateway) {
            self.need(filter, delta);
        }
        self.ended.push_back(key);
    }

    fn need(&mut self, filter: String, delta: &mut Delta) {
        match self.count.get_mut(&filter) {
            Some(count) => *count += 1,
            None => {
                self.count.insert(filter.clone(), 1);
                delta.subscribe.push(filter);
            }
        }
    }

    fn release(&mut self, filter: String, delta: &mut Delta) {
        let Some(count) = self.count.get_mut(&filter) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.count.remove(&filter);
            delta.unsubscribe.push(filter);
        }
    }
}

/// The topics the cloud subscribes to for one gateway.
fn gateway_filters(gateway: &Serial) -> [String; 2] {
    [TopicKind::ServicesReply, TopicKind::Events]
        .map(|kind| Topic::new(gateway.clone(), kind).to_string())
}

/// The state topics of the devices `request` upgrades.
fn state_filters(request: &Message) -> Vec<String> {
    let Data::OtaCreate(create) = &request.data else {
        return Vec::new();
    };
    create
        .devices
        .iter()
        .filter_map(|d| Serial::new(d.sn.as_str()).ok())
        .map(|sn| StateTopic::new(sn).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use dji_cloud_ota::tracker::TrackerConfig;
    use dji_cloud_ota::{Device, OtaProgress, TaskStatus, UpgradeType};

    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn sorted<'a>(filters: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
        filters.cloned().collect()
    }

    /// Tasks started and ended at random on a few gateways, some devices shared: the
    /// filters kept up to date one task at a time are always those counted afresh, and
    /// each change subscribes to what was not needed and unsubscribes from what is no
    /// longer.
    #[test]
    fn kept_up_to_date_task_by_task_it_agrees_with_a_count_afresh() {
        for recent_finished in [0, 1, 3] {
            let mut tracker = Tracker::new(TrackerConfig {
                recent_finished,
                ..TrackerConfig::default()
            });
            let mut needs = Needs::of(&tracker);
            let mut watching = BTreeSet::new();
            let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
            let mut below = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut in_flight: Vec<Message> = Vec::new();
            for step in 0..2_000 {
                let delta = if below(2) == 0 || in_flight.is_empty() {
                    let gateway = Serial::new(&format!("DOCK{}", below(5))).unwrap();
                    let device = format!("UAV{}", below(7));
                    let device = Device::new(device, "1.0.2", UpgradeType::NORMAL);
                    let Ok(started) = tracker.start(gateway, vec![device], T0 + step) else {
                        continue;
                    };
                    in_flight.push(started.request.clone());
                    needs.started(&started.task, &started.request)
                } else {
                    let request = in_flight.swap_remove(below(in_flight.len() as u64) as usize);
                    let key = TaskKey::of(&request);
                    if below(3) == 0 {
                        tracker.forget(&key);
                    } else {
                        let event = OtaProgress::new(TaskStatus::Ok);
                        let event = request.progress_event(event, false).unwrap();
                        tracker.handle(&event, T0 + step);
                    }
                    needs.ended(&key, &tracker)
                };
                for filter in &delta.subscribe {
                    assert!(watching.insert(filter.clone()), "{filter} twice");
                }
                for filter in &delta.unsubscribe {
                    assert!(watching.remove(filter), "{filter} not subscribed");
                }
                let afresh = Needs::of(&tracker);
                assert_eq!(watching, sorted(afresh.filters()));
                assert_eq!(sorted(needs.filters()), watching);
            }
        }
    }
}
