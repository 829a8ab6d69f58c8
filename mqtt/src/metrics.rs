//! The cloud driver's metrics, in the OpenMetrics text format (feature `metrics`).
//!
//! [`crate::Cloud::metrics`] hands out a [`CloudMetrics`]: a handle, cheap to clone and
//! to read from any thread, that the driver updates as it runs (atomic counters and
//! gauges, nothing awaited). [`CloudMetrics::encode`] writes them for a scrape; serve
//! that text at `/metrics` with [`CONTENT_TYPE`]. Every name starts with `dji_ota_`:
//!
//! | metric | type | what it counts |
//! |---|---|---|
//! | `dji_ota_tasks_in_flight{step}` | gauge | tasks in flight by where they stand: `awaiting_reply` (the `ota_create` is unanswered), `accepted` (no step heard yet), `download_firmware`, `upgrade_firmware`, `other_step` (a step this crate does not know) |
//! | `dji_ota_tasks_started_total` | counter | tasks started (by a caller or a rollout) |
//! | `dji_ota_tasks_ended_total{ending}` | counter | tasks ended: `ok`, `confirmed` (by the devices' state), `failed`, `refused`, `no_reply`, `silent`, `reverted` |
//! | `dji_ota_messages_received_total{kind}` | counter | messages read: `reply`, `event`, `state`, `request`, `event_reply`, `other_method` (an `hms` event, ...), `undecodable` |
//! | `dji_ota_messages_published_total{kind}` | counter | messages handed to the connection: `request` (each `ota_create`, retries included), `event_reply` |
//! | `dji_ota_commits_total` | counter | commits to the store that succeeded |
//! | `dji_ota_commit_failures_total` | counter | commits to the store that failed (tried again every second) |
//! | `dji_ota_commit_duration_seconds` | histogram | how long each successful commit took |
//! | `dji_ota_acks_held` | gauge | messages read and not yet acknowledged because the commit of their effect is pending |
//! | `dji_ota_outbox_length` | gauge | publications, acknowledgements and subscriptions waiting for room in the MQTT client's queue |
//! | `dji_ota_connected` | gauge | 1 while connected to the broker, else 0 |
//! | `dji_ota_disconnections_total` | counter | connections lost, and attempts to connect again that failed |
//! | `dji_ota_rollout_devices{rollout,outcome}` | gauge | devices of each rollout by outcome (`ok`, `failed`, `skipped`, `cancelled`, `waiting`, `in_progress`), as last saved |
//!
//! The counters are this process's (they start at 0 with the driver); the gauges say
//! how things stand, a restored task included. Labels take a handful of fixed values,
//! but for the rollouts' names.
//!
//! The metrics are kept with the `prometheus-client` crate, which is not part of this
//! crate's API: a server serves the text, or parses it into its own registry.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dji_cloud_ota::rollout::Outcome;
use dji_cloud_ota::tracker::{Change, TaskKey, Tracker};
use dji_cloud_ota::{Message, Step};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::cloud::RolloutStatus;
use crate::probe::{Ending, Received};

/// The HTTP `Content-Type` of [`CloudMetrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = [(&'static str, &'static str); 1];
type RolloutLabels = [(&'static str, String); 2];

/// The metrics of one [`crate::Cloud`]; clone it to share (every clone reads the same
/// metrics). See the [module documentation](self) for what they are.
#[derive(Clone)]
pub struct CloudMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    tasks: Family<Labels, Gauge>,
    started: Counter,
    ended: Family<Labels, Counter>,
    received: Family<Labels, Counter>,
    published: Family<Labels, Counter>,
    commits: Counter,
    commit_failures: Counter,
    commit_seconds: Histogram,
    held: Gauge,
    outbox: Gauge,
    connected: Gauge,
    disconnections: Counter,
    rollouts: Family<RolloutLabels, Gauge>,
}

impl fmt::Debug for CloudMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudMetrics").finish_non_exhaustive()
    }
}

impl CloudMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("dji_ota");
        let tasks = Family::<Labels, Gauge>::default();
        registry.register(
            "tasks_in_flight",
            "Tasks in flight, by where they stand (step)",
            tasks.clone(),
        );
        let started = Counter::default();
        registry.register(
            "tasks_started",
            "Tasks started, by a caller or a rollout",
            started.clone(),
        );
        let ended = Family::<Labels, Counter>::default();
        registry.register("tasks_ended", "Tasks ended, by how (ending)", ended.clone());
        let received = Family::<Labels, Counter>::default();
        registry.register(
            "messages_received",
            "MQTT messages read, by kind",
            received.clone(),
        );
        let published = Family::<Labels, Counter>::default();
        registry.register(
            "messages_published",
            "MQTT messages handed to the connection, by kind (requests include retries)",
            published.clone(),
        );
        let commits = Counter::default();
        registry.register(
            "commits",
            "Commits of the state to the store that succeeded",
            commits.clone(),
        );
        let commit_failures = Counter::default();
        registry.register(
            "commit_failures",
            "Commits of the state to the store that failed",
            commit_failures.clone(),
        );
        // From 0.5 ms to about 16 s.
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register_with_unit(
            "commit_duration",
            "How long a successful commit to the store took",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let held = Gauge::default();
        registry.register(
            "acks_held",
            "Messages read and not yet acknowledged: the commit of their effect is pending",
            held.clone(),
        );
        let outbox = Gauge::default();
        registry.register(
            "outbox_length",
            "Publications, acknowledgements and subscriptions waiting for room in the MQTT client's queue",
            outbox.clone(),
        );
        let connected = Gauge::default();
        registry.register(
            "connected",
            "1 while connected to the broker, else 0",
            connected.clone(),
        );
        let disconnections = Counter::default();
        registry.register(
            "disconnections",
            "Connections lost, and attempts to connect again that failed",
            disconnections.clone(),
        );
        let rollouts = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_devices",
            "Devices of each rollout by outcome, as last saved",
            rollouts.clone(),
        );
        // The label values known in advance are shown at 0 from the start.
        for step in [AWAITING_REPLY, ACCEPTED, DOWNLOAD, UPGRADE] {
            tasks.get_or_create(&[("step", step)]).set(0);
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                tasks,
                started,
                ended,
                received,
                published,
                commits,
                commit_failures,
                commit_seconds,
                held,
                outbox,
                connected,
                disconnections,
                rollouts,
            }),
        }
    }

    /// Writes every metric in the OpenMetrics text format, `# EOF` last: what a
    /// scrape of `/metrics` is answered with (`Content-Type`: [`CONTENT_TYPE`]).
    ///
    /// # Errors
    /// Only what `out` returns (a `String` never fails).
    pub fn encode(&self, out: &mut impl fmt::Write) -> fmt::Result {
        encode(out, &self.inner.registry)
    }

    /// [`CloudMetrics::encode`] into a new string.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.encode(&mut out);
        out
    }
}

const AWAITING_REPLY: &str = "awaiting_reply";
const ACCEPTED: &str = "accepted";
const DOWNLOAD: &str = "download_firmware";
const UPGRADE: &str = "upgrade_firmware";
const OTHER_STEP: &str = "other_step";

/// The driver's side: the handle, and the step of each task in flight as counted.
pub(crate) struct Probe {
    metrics: CloudMetrics,
    steps: HashMap<TaskKey, &'static str>,
}

impl Probe {
    pub(crate) fn new() -> Self {
        Self {
            metrics: CloudMetrics::new(),
            steps: HashMap::new(),
        }
    }

    pub(crate) fn handle(&self) -> CloudMetrics {
        self.metrics.clone()
    }

    /// Counts the tasks in flight of a tracker just restored.
    pub(crate) fn restored(&mut self, tracker: &Tracker) {
        for (key, _) in tracker.tasks() {
            self.task(tracker, &key);
        }
    }

    pub(crate) fn started(&mut self, tracker: &Tracker, key: &TaskKey) {
        self.metrics.inner.started.inc();
        self.task(tracker, key);
    }

    /// Moves `key` to where the tracker now has it (nowhere once it ended).
    pub(crate) fn task(&mut self, tracker: &Tracker, key: &TaskKey) {
        let now = tracker.task(key).map(|state| {
            if !state.accepted {
                AWAITING_REPLY
            } else {
                match &state.step {
                    None => ACCEPTED,
                    Some(step) if *step == Step::DownloadFirmware => DOWNLOAD,
                    Some(step) if *step == Step::UpgradeFirmware => UPGRADE,
                    Some(_) => OTHER_STEP,
                }
            }
        });
        let before = match now {
            Some(step) => self.steps.insert(key.clone(), step),
            None => self.steps.remove(key),
        };
        if before == now {
            return;
        }
        let tasks = &self.metrics.inner.tasks;
        if let Some(step) = before {
            tasks.get_or_create(&[("step", step)]).dec();
        }
        if let Some(step) = now {
            tasks.get_or_create(&[("step", step)]).inc();
        }
    }

    pub(crate) fn ended(&self, change: &Change) {
        let ending = match Ending::of(change) {
            Some(ending) => ending.as_str(),
            None => return,
        };
        self.metrics
            .inner
            .ended
            .get_or_create(&[("ending", ending)])
            .inc();
    }

    pub(crate) fn received(&self, kind: Received) {
        self.metrics
            .inner
            .received
            .get_or_create(&[("kind", kind.as_str())])
            .inc();
    }

    pub(crate) fn published(&self, message: &Message) {
        self.metrics
            .inner
            .published
            .get_or_create(&[("kind", Received::of(&message.data).as_str())])
            .inc();
    }

    pub(crate) fn committed(&self, took: Duration) {
        self.metrics.inner.commits.inc();
        self.metrics
            .inner
            .commit_seconds
            .observe(took.as_secs_f64());
    }

    pub(crate) fn commit_failed(&self) {
        self.metrics.inner.commit_failures.inc();
    }

    pub(crate) fn connected(&self, up: bool) {
        self.metrics.inner.connected.set(i64::from(up));
    }

    pub(crate) fn disconnected(&self) {
        self.metrics.inner.disconnections.inc();
    }

    pub(crate) fn queues(&self, held: usize, outbox: usize) {
        let inner = &self.metrics.inner;
        inner.held.set(gauge(held));
        inner.outbox.set(gauge(outbox));
    }

    pub(crate) fn rollout(&self, status: &RolloutStatus) {
        for outcome in Outcome::ALL {
            self.metrics
                .inner
                .rollouts
                .get_or_create(&[
                    ("rollout", status.name.clone()),
                    ("outcome", outcome.as_str().to_string()),
                ])
                .set(gauge(status.counts.of(outcome)));
        }
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
