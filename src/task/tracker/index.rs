//! The tasks in flight by gateway and by device: what [`Tracker::start`] asks (is the
//! gateway busy?) and where a state push goes ([`Tracker::handle_state`]), each found
//! without looking at the other tasks.
//!
//! [`Tracker::start`]: super::Tracker::start
//! [`Tracker::handle_state`]: super::Tracker::handle_state

use std::collections::HashMap;

use crate::model::{Data, Message, Serial, Text};

use super::TaskKey;

/// The keys of the tasks in flight by gateway and by the serials of the devices they
/// upgrade, each list in the order of the keys.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// One task per gateway, but for a snapshot written before that rule.
    by_gateway: HashMap<Serial, Keys>,
    by_device: HashMap<Text, Keys>,
}

/// The keys of the tasks of one gateway or device, in their order: nearly always one,
/// kept in the map's entry itself, so that finding a device's task reads no list
/// elsewhere in memory.
#[derive(Debug, Clone)]
enum Keys {
    One(TaskKey),
    /// Two or more.
    Many(Vec<TaskKey>),
}

impl Keys {
    fn as_slice(&self) -> &[TaskKey] {
        match self {
            Keys::One(key) => std::slice::from_ref(key),
            Keys::Many(keys) => keys,
        }
    }

    /// Adds `key` in its place, unless it is there already.
    fn add(&mut self, key: &TaskKey) {
        let mut keys = match self {
            Keys::One(one) if one == key => return,
            Keys::One(one) => vec![one.clone()],
            Keys::Many(keys) => std::mem::take(keys),
        };
        if let Err(at) = keys.binary_search(key) {
            keys.insert(at, key.clone());
        }
        *self = Keys::Many(keys);
    }

    /// Removes `key`; false when no key is left.
    fn remove(&mut self, key: &TaskKey) -> bool {
        match self {
            Keys::One(one) => one != key,
            Keys::Many(keys) => {
                keys.retain(|k| k != key);
                match keys.as_slice() {
                    [] => false,
                    [last] => {
                        *self = Keys::One(last.clone());
                        true
                    }
                    _ => true,
                }
            }
        }
    }
}

impl Index {
    /// Adds a task in flight with its request.
    pub(super) fn add(&mut self, key: &TaskKey, request: &Message) {
        add(&mut self.by_gateway, key.gateway.clone(), key);
        for sn in devices(request) {
            add(&mut self.by_device, sn.clone(), key);
        }
    }

    /// Removes a task that is no longer in flight.
    pub(super) fn remove(&mut self, key: &TaskKey, request: &Message) {
        remove(&mut self.by_gateway, &key.gateway, key);
        for sn in devices(request) {
            remove(&mut self.by_device, sn, key);
        }
    }

    /// The task in flight on `gateway` (the first by key, should there be two).
    pub(super) fn on_gateway(&self, gateway: &Serial) -> Option<&TaskKey> {
        self.by_gateway
            .get(gateway)
            .and_then(|keys| keys.as_slice().first())
    }

    /// The tasks in flight that upgrade the device `sn`, in the order of their keys.
    pub(super) fn of_device(&self, sn: &str) -> &[TaskKey] {
        self.by_device.get(sn).map_or(&[], Keys::as_slice)
    }
}

/// The serials of the devices an `ota_create` upgrades.
fn devices(request: &Message) -> impl Iterator<Item = &Text> {
    let devices = match &request.data {
        Data::OtaCreate(create) => create.devices.as_slice(),
        _ => &[],
    };
    devices.iter().map(|d| &d.sn)
}

fn add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Keys>, at: K, key: &TaskKey) {
    map.entry(at)
        .and_modify(|keys| keys.add(key))
        .or_insert_with(|| Keys::One(key.clone()));
}

fn remove<K, Q>(map: &mut HashMap<K, Keys>, at: &Q, key: &TaskKey)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let Some(keys) = map.get_mut(at) else {
        return;
    };
    if !keys.remove(key) {
        map.remove(at);
    }
}

#[cfg(test)]
impl Index {
    /// How many tasks the index by gateway holds, and how many devices of tasks the
    /// index by device.
    pub(super) fn len(&self) -> (usize, usize) {
        fn count<K>(map: &HashMap<K, Keys>) -> usize {
            map.values().map(|keys| keys.as_slice().len()).sum()
        }
        (count(&self.by_gateway), count(&self.by_device))
    }
}
