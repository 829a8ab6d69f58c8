//! The cloud side over MQTT: upgrades started, followed and saved.
//!
//! [`Cloud::spawn`] loads the tracker's state from a [`Store`], connects, subscribes to
//! the `services_reply` and `events` topics of every gateway it has a task for and to
//! the `state` topics of the devices it upgrades (their firmware properties confirm an
//! outcome whose final event was lost: `Tracker::handle_state`), unsubscribes from
//! them once no task needs them (see [`Watch::TaskGateways`]), and
//! drives the protocol crate's [`Tracker`] in a task of its own, with real timers:
//! it publishes the requests, their retries and the replies to events, and saves the
//! tracker's state once per batch: it handles every message that is waiting (up to
//! 256), saves what they changed at once ([`Tracker::revision`] moved: a message set
//! aside changes nothing), then acknowledges them and reports their updates. Batches
//! that follow one another within [`CloudConfig::commit_delay`] (10 ms) share one
//! commit, up to [`CloudConfig::commit_at_once`] (16) messages waiting for it. A task is
//! saved before its `ota_create` is published; starts asked at once share a commit
//! ([`Cloud::start`]). What a caller sees comes out of
//! [`CloudEvents`], each update once its effect is saved.
//!
//! # Overload and outages are no verdicts
//! What has arrived is read before any deadline is judged (a reply that waits in the
//! cloud's own queue is never taken for a missing one), no deadline is judged while
//! the connection is down, and none for [`CloudConfig::resume_grace`] after a
//! reconnection or a restart that restored tasks, while the broker delivers what it
//! kept for the session. A slow store slows the acknowledgements (the broker holds
//! the messages meanwhile), not the judgments.
//!
//! The store is called in the driver's task: a [`Store`] that blocks (a file, a local
//! database) holds the driver up for as long as a save takes, which is what keeps a
//! message from being acknowledged before its effect is saved. On a multi-threaded
//! runtime (tokio's default), a store whose last commit took 2 ms or more commits in
//! `block_in_place`, so that the connection keeps turning meanwhile, on another thread;
//! a quicker one commits in place, where moving aside would cost more than the commit.
//!
//! With the feature `metrics`, `Cloud::metrics` gives what the driver counts as it
//! goes (tasks in flight by step, messages, commits and their latency, the
//! acknowledgements held for a pending commit, the outbox, the connection) as
//! OpenMetrics text.
//!
//! The crate's front page has a whole server.
//!
//! # What survives what
//! - **The server killed and started again** with the same store and client id: the
//!   tracker is restored (no second `ota_create`, the same deadlines), and the broker
//!   delivers what arrived meanwhile, since the session is persistent. A message is
//!   acknowledged only after its effect is saved (when saving fails, it waits,
//!   unacknowledged, until a save succeeds), so one that arrived just before the kill
//!   is delivered again, and then answered again if it asks for a reply.
//! - **The broker restarted**: the driver connects again on its own and subscribes
//!   again; a request lost on the way is sent again by the tracker's retries, and an
//!   event lost on the way is sent again by a dock that got no reply (the runtime's
//!   [`crate::Agent`] does).
//! - **Garbage on the topics**: a message that does not decode is acknowledged and
//!   dropped, counted in [`CloudCounters::dropped`] and reported at most once per
//!   [`CloudConfig::drop_notice_every`] ([`CloudEvent::Dropped`]); memory stays bounded.
//!   A message that names another method (an `hms` event, another service's reply) is
//!   not garbage: it is acknowledged and counted in [`CloudCounters::not_ota`],
//!   unreported. One without a method whose `data` is not an OTA message's may be a
//!   broken one: it is dropped and reported.

use std::collections::BTreeSet;
use std::time::Duration;

use dji_cloud_ota::rollout::{
    Changes, Counts, PlanError, RestoreError as RolloutRestoreError, Rollout, RolloutPlan,
    RolloutState, Verdict,
};
use dji_cloud_ota::tracker::{
    Counters, Ending, Output, RestoreError, StartError, Started, TaskKey, TaskState, Tracker,
    TrackerChanges, TrackerConfig, Update,
};
use dji_cloud_ota::{
    Data, DecodeError, Device, Message, Serial, StateTopic, TopicKind, decode, decode_state,
    now_millis,
};

use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};

use crate::ask::ask;
use crate::config::{ConfigError, MqttConfig};
use crate::judging::{Judging, Took};
use crate::link::{Arrival, Link, LinkEvent};
use crate::needs::{Delta, Needs};
use crate::probe::{Probe, Received};
use crate::store::{Commit, RolloutCommit, Store, StoreError};

/// Which gateways' topics the cloud subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Watch {
    /// The gateways of its tasks, subscribed to as tasks are started or restored: the
    /// gateways of the tasks in flight and of the recently ended ones (the last
    /// [`TrackerConfig::recent_finished`], whose events sent again are still answered;
    /// with 0, none), and the `state` topics of the devices of the tasks in flight (a
    /// push of a device of no task in flight changes nothing). What no task needs any
    /// more is unsubscribed from, so that neither this client nor, while it is away,
    /// its persistent session collects the messages of gateways it is done with.
    ///
    /// Kept up to date one task at a time: a task started or ended changes the
    /// subscriptions of its own gateway and devices (and of an older ended task the
    /// tracker no longer remembers), whatever the number of tasks. After a
    /// reconnection, everything is subscribed to again in SUBSCRIBE packets of at most
    /// 100 filters, which a broker's packet limit takes with thousands of tasks.
    ///
    /// Only what this process subscribed to is undone: a subscription made before (by
    /// a process that died before its unsubscription went out, or by a version that
    /// never unsubscribed) stays in a persistent session until a clean session
    /// ([`MqttConfig::with_persistent_session`] false, once) clears it.
    TaskGateways,
    /// Every gateway (`thing/product/+/services_reply`, `.../events` and `.../state`):
    /// for a server that answers the events of every dock, its own tasks or not.
    AllGateways,
}

/// How a [`Cloud`] connects, tracks and reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CloudConfig {
    /// The broker.
    pub mqtt: MqttConfig,
    /// Retries, time-outs and memory bounds of the tracker.
    pub tracker: TrackerConfig,
    /// Which gateways' topics to subscribe to.
    pub watch: Watch,
    /// Messages dropped (they did not decode) are reported at most this often.
    pub drop_notice_every: Duration,
    /// After a reconnection, and after a start that restored tasks from the store, no
    /// deadline is judged (no retry sent, no task ended for want of a reply or an
    /// event) for this long, so that what the broker kept for the session is read
    /// first: a dock that answered while the cloud was away is not reported silent.
    /// While disconnected, no deadline is judged at all.
    pub resume_grace: Duration,
    /// With a store, a batch of messages that changed something is committed once this
    /// long has passed since its first change, or at once when
    /// [`commit_at_once`](Self::commit_at_once) messages wait for it: messages that
    /// arrive meanwhile join the same commit. A longer delay means fewer commits (each
    /// one synced to the disk) for the same messages, and their acknowledgements and
    /// replies that much later; `Duration::ZERO` commits each batch as soon as it is
    /// read.
    pub commit_delay: Duration,
    /// With a store, this many messages waiting for a commit make it due at once,
    /// whatever [`commit_delay`](Self::commit_delay) says; 16 by default. Keep it below
    /// the broker's limit of messages it sends a client and holds unacknowledged
    /// (Mosquitto's `max_inflight_messages`, 20 by default): at that limit the broker
    /// sends nothing more until the commit, which then waits for the delay, and the
    /// messages come no faster than the limit each delay. Under a higher limit, a
    /// larger value makes fewer commits of more messages each: fewer syncs, which
    /// counts on a disk whose sync is slow, and CPU even on a fast one (LOAD.md: up
    /// to 0.35 ms a commit at 1,000 docks). Below 1, taken as 1.
    pub commit_at_once: usize,
}

impl CloudConfig {
    /// `mqtt` and `tracker`, watching the gateways of its tasks, reporting dropped
    /// messages at most every 5 s, judging deadlines 5 s after a reconnection at the
    /// earliest, committing a batch 10 ms after its first change at the latest, or at
    /// once when 16 messages wait for it.
    pub fn new(mqtt: MqttConfig, tracker: TrackerConfig) -> Self {
        Self {
            mqtt,
            tracker,
            watch: Watch::TaskGateways,
            drop_notice_every: Duration::from_secs(5),
            resume_grace: Duration::from_secs(5),
            commit_delay: Duration::from_millis(10),
            commit_at_once: 16,
        }
    }
}

/// What a [`Cloud`] reports, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloudEvent {
    /// Connected (again) and subscribed. With a session the broker kept, what arrived
    /// while the cloud was away is delivered at once, and its updates can come before
    /// this event.
    Connected {
        /// True when the broker still had the session: what arrived while the cloud
        /// was away is delivered.
        session_present: bool,
    },
    /// The connection was lost; the driver connects again on its own.
    Disconnected {
        /// What went wrong.
        reason: String,
    },
    /// The connection cannot be made (refused login, no broker at first contact): the
    /// driver has stopped.
    Failed {
        /// What went wrong.
        reason: String,
    },
    /// A task changed, as the tracker reported it.
    Update(Update),
    /// A rollout changed (devices started or ended, a threshold crossed, ...): its
    /// status once saved.
    Rollout(RolloutStatus),
    /// Messages were dropped because they did not decode: how many since the last such
    /// report, and the last one's topic and error.
    Dropped {
        /// How many since the last report.
        count: u64,
        /// The last one's topic.
        topic: String,
        /// Why the last one did not decode.
        reason: String,
    },
    /// The state could not be saved. The driver goes on (publishing what the tracker
    /// asks), tries again every second, and acknowledges the messages received
    /// meanwhile only once a save succeeds: if the process dies first, the broker sends
    /// them again to its next session.
    StoreFailed {
        /// What the store said.
        reason: String,
    },
}

/// What a [`Cloud`] counted since it started (the tracker's counters are carried
/// across restarts; the others are this process's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloudCounters {
    /// The tracker's counters.
    pub tracker: Counters,
    /// Messages received, decoded or not.
    pub received: u64,
    /// `ota_progress` events received (decoded).
    pub events: u64,
    /// Messages dropped because they did not decode.
    pub dropped: u64,
    /// Messages that name another method on the same topics (an `hms` event, another
    /// service's reply: [`DecodeError::NotOta`] with its method), passed over: not
    /// faults, so not reported.
    pub not_ota: u64,
    /// Messages published: requests, retries, replies to events.
    pub published: u64,
    /// Times the state was saved.
    pub saves: u64,
    /// Times saving failed.
    pub store_failures: u64,
    /// Times the connection was lost, or an attempt to connect again failed.
    pub disconnections: u64,
}

/// The tasks and counters of a [`Cloud`] at one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CloudStatus {
    /// The tasks in flight, in the order of their keys.
    pub tasks: Vec<(TaskKey, TaskState)>,
    /// The recently ended tasks, the oldest first.
    pub ended: Vec<(TaskKey, Ending)>,
    /// The topic filters this process has subscribed to and not unsubscribed from
    /// (asked of the broker, perhaps not yet answered), sorted.
    pub subscriptions: Vec<String>,
    /// What was counted.
    pub counters: CloudCounters,
    /// The rollouts this driver follows.
    pub rollouts: Vec<RolloutStatus>,
}

/// A rollout followed by a [`Cloud`], at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolloutStatus {
    /// Its name.
    pub name: String,
    /// Whether new tasks start.
    pub state: RolloutState,
    /// How many devices have each outcome.
    pub counts: Counts,
    /// Tasks in flight.
    pub in_flight: usize,
    /// How it ended, once nothing is in flight and nothing more will start.
    pub verdict: Option<Verdict>,
}

impl RolloutStatus {
    /// A rollout's status from its counts, while tasks are in flight or to start (no
    /// verdict yet).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn from_counts(
        name: &str,
        state: RolloutState,
        counts: Counts,
        in_flight: usize,
    ) -> Self {
        Self {
            name: name.to_string(),
            state,
            counts,
            in_flight,
            verdict: None,
        }
    }

    pub(crate) fn of(name: &str, rollout: &Rollout) -> Self {
        Self {
            name: name.to_string(),
            state: rollout.state(),
            counts: rollout.counts(),
            in_flight: rollout.in_flight(),
            verdict: rollout.verdict(),
        }
    }
}

/// What an operator does to a running rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RolloutControl {
    /// No new start until resumed.
    Pause,
    /// Starts again after a pause or an abort.
    Resume,
    /// No new start, ever; the waiting devices end cancelled.
    Cancel,
}

impl RolloutControl {
    /// The name a group keeps it under in the database.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            RolloutControl::Pause => "pause",
            RolloutControl::Resume => "resume",
            RolloutControl::Cancel => "cancel",
        }
    }

    /// The control named `text` by [`RolloutControl::as_str`].
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn parse(text: &str) -> Option<Self> {
        [Self::Pause, Self::Resume, Self::Cancel]
            .into_iter()
            .find(|c| c.as_str() == text)
    }

    /// Applies it to `rollout` at `now_ms`; false when that changed nothing.
    pub(crate) fn apply(self, rollout: &mut Rollout, now_ms: u64) -> bool {
        match self {
            RolloutControl::Pause => rollout.pause(),
            RolloutControl::Resume => rollout.resume(),
            RolloutControl::Cancel => rollout.cancel(now_ms),
        }
    }

    /// The state it leads a rollout in `state` to; `None` when it changes nothing.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) const fn from(self, state: RolloutState) -> Option<RolloutState> {
        match self {
            RolloutControl::Pause => state.paused(),
            RolloutControl::Resume => state.resumed(),
            RolloutControl::Cancel => state.cancelled(),
        }
    }
}

/// Why a [`Cloud`] could not start or do what it was asked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CloudError {
    /// The connection settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The saved state could not be loaded.
    #[error("cannot load the saved state: {0}")]
    Load(#[from] StoreError),
    /// The saved state cannot be restored.
    #[error("cannot restore the saved state: {0}")]
    Restore(#[from] RestoreError),
    /// The tracker refused the task.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The task started but its state could not be saved; it was not sent.
    #[error("the task could not be saved, and was not sent: {0}")]
    Save(StoreError),
    /// The driver has stopped (closed, or the connection failed for good).
    #[error("the cloud driver has stopped")]
    Stopped,
    /// The rollout's plan cannot run.
    #[error("the rollout cannot run: {0}")]
    Plan(#[from] PlanError),
    /// The plan differs from the rollout of that name the store holds.
    #[error("the plan differs from the saved rollout: {0}")]
    RolloutDiffers(String),
    /// No rollout of that name is followed.
    #[error("no rollout named {0:?}")]
    NoRollout(String),
    /// The settings of a group (`GroupConfig`, feature `postgres`) are unusable.
    #[error("the group's settings are unusable: {0}")]
    Group(String),
}

/// The events a [`Cloud`] reports; read them, or they pile up.
#[derive(Debug)]
pub struct CloudEvents {
    rx: mpsc::UnboundedReceiver<CloudEvent>,
}

impl CloudEvents {
    /// The next event; `None` once the driver has stopped.
    pub async fn next(&mut self) -> Option<CloudEvent> {
        self.rx.recv().await
    }
}

/// Where the driver answers a command.
type Reply<T> = oneshot::Sender<Result<T, CloudError>>;

pub(crate) enum Command {
    Start(Message, Reply<Started>),
    Rollout(
        String,
        RolloutPlan,
        oneshot::Sender<Result<RolloutStatus, CloudError>>,
    ),
    Control(
        String,
        RolloutControl,
        oneshot::Sender<Result<bool, CloudError>>,
    ),
    Forget(TaskKey, oneshot::Sender<bool>),
    Status(oneshot::Sender<CloudStatus>),
    Close(oneshot::Sender<()>),
}

/// A handle on the cloud driver; clone it to share. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Cloud {
    commands: mpsc::UnboundedSender<Command>,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::CloudMetrics,
}

impl Cloud {
    /// Loads the state saved in `store` (if any), connects as `config.mqtt` says, and
    /// drives the tracker in a task of its own. Call it within a tokio runtime.
    ///
    /// # Errors
    /// [`CloudError::Config`], [`CloudError::Load`] or [`CloudError::Restore`]: nothing
    /// was started. A broker that cannot be reached is reported by
    /// [`CloudEvent::Failed`].
    pub fn spawn(
        config: CloudConfig,
        store: impl Store + Send + 'static,
    ) -> Result<(Self, CloudEvents), CloudError> {
        Self::spawn_with(config, Some(Box::new(store)))
    }

    /// As [`Cloud::spawn`], keeping the state nowhere: a restart loses the tasks in
    /// flight. For a server whose upgrades need not survive it (a test, a one-off run),
    /// or with so many tasks that saving them all at every change would cost too much.
    ///
    /// # Errors
    /// [`CloudError::Config`].
    pub fn spawn_without_store(config: CloudConfig) -> Result<(Self, CloudEvents), CloudError> {
        Self::spawn_with(config, None)
    }

    fn spawn_with(
        config: CloudConfig,
        store: Option<Box<dyn Store + Send>>,
    ) -> Result<(Self, CloudEvents), CloudError> {
        let options = config.mqtt.options()?;
        let saved = match &store {
            Some(store) => store.load()?,
            None => None,
        };
        let tracker = match saved {
            Some(snapshot) => Tracker::restore(config.tracker.clone(), snapshot)?,
            None => Tracker::new(config.tracker.clone()),
        };
        let needs = match config.watch {
            Watch::AllGateways => None,
            Watch::TaskGateways => Some(Needs::of(&tracker)),
        };
        let watching: BTreeSet<String> = match &needs {
            Some(needs) => needs.filters().cloned().collect(),
            None => {
                let mut all: BTreeSet<String> = [TopicKind::ServicesReply, TopicKind::Events]
                    .map(TopicKind::wildcard_filter)
                    .into();
                all.insert(StateTopic::wildcard_filter());
                all
            }
        };
        let filters = watching.iter().cloned().collect();
        let link = Link::open(options, filters, config.mqtt.reconnect_delay);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, rx) = mpsc::unbounded_channel();
        let restored = !tracker.is_empty();
        let mut probe = Probe::new();
        probe.restored(&tracker);
        probe.connected(false);
        #[cfg(feature = "metrics")]
        let metrics = probe.handle();
        let driver = Driver {
            rollouts: Vec::new(),
            requests: Vec::new(),
            statuses: Vec::new(),
            saved_revision: 0,
            tracker_unsaved: TrackerChanges::default(),
            held: Vec::new(),
            updates: Vec::new(),
            judging: Judging::new(config.resume_grace, restored),
            commit_delay: config.commit_delay,
            commit_at_once: config.commit_at_once.max(1),
            commit_due: None,
            // Until a commit shows otherwise, the store may be slow.
            last_commit: Duration::MAX,
            tracker,
            store,
            link,
            watching,
            needs,
            events: events_tx,
            counters: CloudCounters::default(),
            drops: DropNotice {
                every: config.drop_notice_every,
                ..DropNotice::default()
            },
            probe,
        };
        tokio::spawn(driver.run(commands_rx));
        Ok(Self::from_parts(
            commands,
            #[cfg(feature = "metrics")]
            metrics,
            rx,
        ))
    }

    /// The handle on a driver that reads `commands` and reports on `events`.
    pub(crate) fn from_parts(
        commands: mpsc::UnboundedSender<Command>,
        #[cfg(feature = "metrics")] metrics: crate::metrics::CloudMetrics,
        events: mpsc::UnboundedReceiver<CloudEvent>,
    ) -> (Self, CloudEvents) {
        let cloud = Self {
            commands,
            #[cfg(feature = "metrics")]
            metrics,
        };
        (cloud, CloudEvents { rx: events })
    }

    /// Starts a task that upgrades `devices` behind `gateway`: subscribes to the
    /// gateway's topics if needed, saves the task, then publishes its `ota_create`.
    /// One task runs on a gateway at a time: while one is in flight there, another is
    /// refused, with nothing saved or sent.
    ///
    /// Starts asked at once (from tasks of their own, a `JoinSet` say, while the
    /// driver is busy) share one commit, up to 256: starting a fleet's tasks that way
    /// costs a few commits, where awaiting each start before asking the next costs
    /// one commit (and one sync to the disk) a task. Each is answered once the commit
    /// holding it is done, as it would be asked alone after the starts before it; if
    /// that commit fails, none of its starts is sent, and each is answered with the
    /// error. Thousands of tasks started in one instant make their docks report in
    /// step, thousands of events at once: a rollout (`Cloud::rollout`) spreads the
    /// starts within its limits of tasks in flight and starts per minute (LOAD.md:
    /// 10,000 docks started at once, each reporting every 500 ms, were more than a
    /// 2-core machine carried).
    ///
    /// ```no_run
    /// # async fn fleet(cloud: dji_cloud_ota_mqtt::Cloud, gateways: Vec<dji_cloud_ota::Serial>,
    /// #     devices: Vec<dji_cloud_ota::Device>) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut starting = tokio::task::JoinSet::new();
    /// for gateway in gateways {
    ///     let (cloud, devices) = (cloud.clone(), devices.clone());
    ///     starting.spawn(async move { cloud.start(gateway, devices).await });
    /// }
    /// while let Some(started) = starting.join_next().await {
    ///     let started = started??; // saved, and its request published
    ///     println!("started {}", started.task);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`CloudError::Start`] for a request the tracker refuses (invalid, too many tasks
    /// in flight, or [`StartError::GatewayBusy`] naming the task in flight on the
    /// gateway), [`CloudError::Save`] when it could not be saved (nothing was sent),
    /// [`CloudError::Stopped`].
    pub async fn start(
        &self,
        gateway: Serial,
        devices: Vec<Device>,
    ) -> Result<Started, CloudError> {
        self.start_request(Message::ota_create(gateway, devices))
            .await
    }

    /// Starts a task from an `ota_create` the caller built, as [`Cloud::start`].
    ///
    /// # Errors
    /// As [`Cloud::start`].
    pub async fn start_request(&self, request: Message) -> Result<Started, CloudError> {
        ask(&self.commands, |tx| Command::Start(request, tx))
            .await
            .ok_or(CloudError::Stopped)?
    }

    /// Follows the rollout `name` of `plan`: taken up where the store left it if it
    /// holds a rollout of that name (the plan must list the same devices, in the same
    /// order, with the same firmware; its policy replaces the saved one), else created.
    /// From then on the driver starts its tasks as its policy allows, within the
    /// connection's life (nothing starts while disconnected), saves them with what
    /// caused them, and reports [`CloudEvent::Rollout`] at each change.
    ///
    /// # Errors
    /// [`CloudError::Plan`], [`CloudError::RolloutDiffers`], [`CloudError::Load`] or
    /// [`CloudError::Save`] (the store cannot read or write it; a store without
    /// rollouts refuses it), [`CloudError::Stopped`].
    pub async fn rollout(
        &self,
        name: &str,
        plan: RolloutPlan,
    ) -> Result<RolloutStatus, CloudError> {
        ask(&self.commands, |tx| {
            Command::Rollout(name.to_string(), plan, tx)
        })
        .await
        .ok_or(CloudError::Stopped)?
    }

    /// Pauses, resumes or cancels the rollout `name`; false when that changes nothing:
    /// pausing a rollout that is not running, resuming one that is running or
    /// cancelled, cancelling one cancelled already (see `RolloutState::paused`,
    /// `resumed` and `cancelled`). In a group (`Cloud::spawn_in_group`, feature
    /// `postgres`) the control is asked of the lease's holder, which applies it in its
    /// next round, and its effect shows in the statuses reported after; it is judged
    /// from the rollout's state in the database after the controls asked before it and
    /// not applied yet, which the holder applies first, in the order they were asked.
    ///
    /// # Errors
    /// [`CloudError::NoRollout`], [`CloudError::Stopped`]; in a group,
    /// [`CloudError::Save`] when the database could not be asked.
    pub async fn control(&self, name: &str, control: RolloutControl) -> Result<bool, CloudError> {
        ask(&self.commands, |tx| {
            Command::Control(name.to_string(), control, tx)
        })
        .await
        .ok_or(CloudError::Stopped)?
    }

    /// Stops following a task in flight; false if there was none.
    ///
    /// # Errors
    /// [`CloudError::Stopped`].
    pub async fn forget(&self, task: TaskKey) -> Result<bool, CloudError> {
        ask(&self.commands, |tx| Command::Forget(task, tx))
            .await
            .ok_or(CloudError::Stopped)
    }

    /// The tasks and counters now.
    ///
    /// # Errors
    /// [`CloudError::Stopped`].
    pub async fn status(&self) -> Result<CloudStatus, CloudError> {
        ask(&self.commands, Command::Status)
            .await
            .ok_or(CloudError::Stopped)
    }

    /// The driver's metrics (feature `metrics`): a handle, updated as the driver runs,
    /// that writes them as OpenMetrics text for a `/metrics` endpoint. Every clone of
    /// this `Cloud` gives the same metrics; they stay readable after [`Cloud::close`].
    /// See [`crate::metrics`] for what they are.
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> crate::metrics::CloudMetrics {
        self.metrics.clone()
    }

    /// Hands what was published to the connection, disconnects (rumqttc sends what it
    /// holds first), and stops the driver; waits a second at most. The state stays
    /// saved: a new [`Cloud`] on the same store takes up the tasks in flight.
    pub async fn close(self) {
        ask(&self.commands, Command::Close).await;
    }
}

#[derive(Debug, Default)]
pub(crate) struct DropNotice {
    pub(crate) every: Duration,
    pub(crate) last: Option<Instant>,
    pub(crate) count: u64,
    pub(crate) topic: String,
    pub(crate) reason: String,
}

/// How long the driver waits before it tries again to save a state it could not.
const SAVE_RETRY: Duration = Duration::from_secs(1);

/// Most messages handled before their changes are saved at once and they are
/// acknowledged.
const BATCH: usize = 256;

/// A commit quicker than this (the local SQLite file's, typically tens of
/// microseconds) runs in place, in the driver's task: moving it to another thread
/// (`block_in_place`) would cost more than it takes. A store whose last commit took
/// longer commits through `block_in_place`, so that the connection keeps turning.
const QUICK_COMMIT: Duration = Duration::from_millis(2);

/// A rollout the driver follows, and what of it the store does not have yet.
struct Running {
    name: String,
    rollout: Rollout,
    unsaved: Changes,
}

struct Driver {
    rollouts: Vec<Running>,
    /// Requests of tasks a rollout started, published once saved.
    requests: Vec<Message>,
    /// Rollouts whose change is saved, to report.
    statuses: Vec<RolloutStatus>,
    /// The tracker's revision the store holds (see [`Tracker::revision`]).
    saved_revision: u64,
    /// The tracker's changes taken for a commit that failed, to commit with the next.
    tracker_unsaved: TrackerChanges,
    /// Messages whose effect waits for a save before they are acknowledged.
    held: Vec<Arrival>,
    /// Updates whose effect waits for a save before they are reported.
    updates: Vec<Update>,
    /// Deadlines are judged from this instant on; `None` while disconnected.
    judging: Judging,
    commit_delay: Duration,
    /// Messages waiting for a commit that make it due at once.
    commit_at_once: usize,
    /// When the changes not yet committed are, at the latest.
    commit_due: Option<Instant>,
    /// How long the last commit took.
    last_commit: Duration,
    tracker: Tracker,
    store: Option<Box<dyn Store + Send>>,
    link: Link,
    /// The topic filters subscribed to.
    watching: BTreeSet<String>,
    /// What the tasks need subscribed to, with [`Watch::TaskGateways`].
    needs: Option<Needs>,
    events: mpsc::UnboundedSender<CloudEvent>,
    counters: CloudCounters,
    drops: DropNotice,
    /// The metrics (feature `metrics`; nothing without it).
    probe: Probe,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let far = Duration::from_secs(24 * 3600);
        loop {
            // Deadlines are judged once connected (and the grace after a reconnection
            // is over), and only when no message waits: the biased `select!` takes
            // what arrived first.
            let next = self.judging.from().and_then(|from| {
                let tracker = self.tracker.next_deadline();
                let rollouts = self
                    .rollouts
                    .iter()
                    .filter_map(|r| r.rollout.next_deadline())
                    .min();
                [tracker, rollouts]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|at| instant_at(at).max(from))
            });
            let unsaved = self.unsaved() || self.rollouts_unsaved();
            let notice_due = (self.drops.count > 0).then(|| {
                self.drops
                    .last
                    .map_or_else(Instant::now, |t| t + self.drops.every)
            });
            tokio::select! {
                biased;
                event = self.link.recv() => {
                    if !self.link_event(event) {
                        self.save_before_stopping();
                        return;
                    }
                    // Every message already waiting, then one save for them all.
                    for _ in 1..BATCH {
                        match self.link.try_recv() {
                            Some(event) => if !self.link_event(Some(event)) {
                                self.save_before_stopping();
                                return;
                            },
                            None => break,
                        }
                    }
                    self.end_batch();
                }
                command = commands.recv() => {
                    let mut command = command;
                    // Starts asked together (and waiting now) share one commit.
                    let starts_taken = matches!(command, Some(Command::Start(..)));
                    if starts_taken {
                        let mut starts = Vec::new();
                        while let Some(Command::Start(request, done)) = command {
                            starts.push((request, done));
                            command = if starts.len() < BATCH {
                                commands.try_recv().ok()
                            } else {
                                None
                            };
                        }
                        self.start_all(starts);
                    }
                    match command {
                        Some(Command::Close(done)) => {
                            self.report_drops();
                            self.save_before_stopping();
                            self.link.close(Duration::from_secs(1)).await;
                            self.probe.connected(false);
                            let _ = done.send(());
                            return;
                        }
                        Some(command) => self.command(command),
                        // After starts: nothing else waits (the channel is open).
                        None if starts_taken => {}
                        None => {
                            self.save_before_stopping();
                            self.link.close(Duration::from_secs(1)).await;
                            return;
                        }
                    }
                },
                () = sleep_until(next.unwrap_or_else(|| Instant::now() + far)), if next.is_some() => {
                    let out = self.tracker.poll(now_millis());
                    self.apply(out, None);
                    self.end_batch();
                }
                () = sleep_until(notice_due.unwrap_or_else(|| Instant::now() + far)), if notice_due.is_some() => {
                    self.report_drops();
                }
                () = sleep_until(self.commit_due.unwrap_or_else(|| Instant::now() + far)), if self.commit_due.is_some() => {
                    self.save();
                }
                // Changes with no commit due (none of the paths above left them so):
                // saved within SAVE_RETRY all the same. A commit due waits for its time.
                () = sleep(SAVE_RETRY), if unsaved && self.commit_due.is_none() => {
                    self.save();
                }
                () = sleep(Duration::from_millis(10)), if self.link.backlog() > 0 => {}
            }
            self.link.flush();
            self.probe.queues(self.held.len(), self.link.backlog());
        }
    }

    /// Takes what the connection reported; false when the driver must stop.
    fn link_event(&mut self, event: Option<LinkEvent>) -> bool {
        match self.judging.take(event, &mut self.counters, &self.probe) {
            Took::Arrived(arrival) => self.arrived(arrival),
            Took::Report(event) => self.emit(event),
            Took::Stop(event) => {
                self.emit(event);
                return false;
            }
        }
        true
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Start(request, done) => self.start_all(vec![(request, done)]),
            Command::Rollout(name, plan, done) => {
                let result = self.follow_rollout(name, plan);
                let _ = done.send(result);
            }
            Command::Control(name, control, done) => {
                let now = now_millis();
                let result = match self.rollouts.iter_mut().find(|r| r.name == name) {
                    Some(running) => Ok(control.apply(&mut running.rollout, now)),
                    None => Err(CloudError::NoRollout(name)),
                };
                self.end_batch();
                let _ = done.send(result);
            }
            Command::Forget(key, done) => {
                let known = self.tracker.forget(&key);
                self.probe.task(&self.tracker, &key);
                if known {
                    self.save();
                    self.watch_ended(&key);
                }
                let _ = done.send(known);
            }
            Command::Status(done) => {
                let mut counters = self.counters;
                counters.tracker = *self.tracker.counters();
                let _ = done.send(CloudStatus {
                    tasks: self.tracker.tasks(),
                    ended: self.tracker.ended(),
                    subscriptions: self.watching.iter().cloned().collect(),
                    counters,
                    rollouts: self
                        .rollouts
                        .iter()
                        .map(|r| RolloutStatus::of(&r.name, &r.rollout))
                        .collect(),
                });
            }
            Command::Close(_) => {}
        }
    }

    /// Starts the tasks of `starts` in the tracker, saves them in one commit, then
    /// publishes their requests and answers each. If the commit fails, none is sent:
    /// each is forgotten and answered with the error. Each start is answered as if it
    /// had been asked alone, after those before it: one the tracker refuses while
    /// tasks of the batch wait for their commit (a second start on one gateway, or
    /// one over the limit of tasks in flight) is tried again once they are committed,
    /// or forgotten.
    fn start_all(&mut self, starts: Vec<(Message, Reply<Started>)>) {
        let mut batch = Vec::with_capacity(starts.len());
        for (request, done) in starts {
            let again = (!batch.is_empty()).then(|| request.clone());
            let refused = match self.begin(request) {
                Ok(started) => {
                    batch.push((started, done));
                    continue;
                }
                Err(e) => e,
            };
            let result = match again {
                Some(request) => {
                    self.commit_starts(std::mem::take(&mut batch));
                    self.begin(request)
                }
                None => Err(refused),
            };
            match result {
                Ok(started) => batch.push((started, done)),
                Err(e) => {
                    let _ = done.send(Err(e.into()));
                }
            }
        }
        self.commit_starts(batch);
    }

    /// Starts `request` in the tracker, its subscriptions queued before its request,
    /// so in place before its reply comes.
    fn begin(&mut self, request: Message) -> Result<Started, StartError> {
        let started = self.tracker.start_request(request, now_millis())?;
        if let Some(needs) = &mut self.needs {
            let delta = needs.started(&started.task, &started.request);
            self.subscriptions(delta);
        }
        Ok(started)
    }

    /// Saves the tasks of `batch`, just started, in one commit, then publishes their
    /// requests and answers each; if the commit fails, forgets each and answers each
    /// with the error.
    fn commit_starts(&mut self, batch: Vec<(Started, Reply<Started>)>) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.try_save() {
            // A copy of the error to each but the last, which takes the error itself.
            let mut errors: Vec<StoreError> = (1..batch.len()).map(|_| e.again()).collect();
            errors.push(e);
            for ((started, done), e) in batch.into_iter().zip(errors) {
                self.tracker.forget(&started.task);
                // Forgotten, it is among the ended tasks, and may have pushed one out.
                self.watch_ended(&started.task);
                let _ = done.send(Err(CloudError::Save(e)));
            }
            return;
        }
        // What waited for a save (after a failed one) is saved with the tasks.
        self.release();
        for (started, done) in batch {
            self.probe.started(&self.tracker, &started.task);
            self.link.publish(&started.request);
            self.counters.published += 1;
            self.probe.published(&started.request);
            let _ = done.send(Ok(started));
        }
    }

    fn arrived(&mut self, arrival: Arrival) {
        self.counters.received += 1;
        let publish = &arrival.publish;
        if StateTopic::parse(&publish.topic).is_ok() {
            match decode_state(&publish.topic, &publish.payload) {
                Ok(push) => {
                    self.probe.received(Received::State);
                    let now = now_millis();
                    for running in &mut self.rollouts {
                        running.rollout.handle_state(&push, now);
                    }
                    let out = self.tracker.handle_state(&push, now);
                    self.apply(out, Some(arrival));
                }
                Err(e) => self.drop_message(arrival, &e),
            }
            return;
        }
        match decode(&publish.topic, &publish.payload) {
            Ok(message) => {
                self.probe.received(Received::of(&message.data));
                if matches!(message.data, Data::OtaProgress(_)) {
                    self.counters.events += 1;
                }
                let out = self.tracker.handle(&message, now_millis());
                self.apply(out, Some(arrival));
            }
            Err(DecodeError::NotOta { method: Some(_) }) => {
                self.counters.not_ota += 1;
                self.probe.received(Received::OtherMethod);
                self.acknowledge(arrival);
            }
            Err(e) => self.drop_message(arrival, &e),
        }
    }

    /// Counts a message that did not decode, for the next notice, and acknowledges it.
    fn drop_message(&mut self, arrival: Arrival, error: &DecodeError) {
        self.counters.dropped += 1;
        self.probe.received(Received::Undecodable);
        let notice = &mut self.drops;
        notice.count += 1;
        notice.topic.clone_from(&arrival.publish.topic);
        notice.reason = error.to_string();
        self.acknowledge(arrival);
    }

    /// Publishes what the tracker asks, and keeps `cause` and the updates for the end
    /// of the batch ([`Driver::end_batch`]).
    fn apply(&mut self, out: Output, cause: Option<Arrival>) {
        // Published before the save: if the process dies before it, the message that
        // caused them is delivered again (it was not acknowledged), and handled (and
        // answered) again.
        for message in &out.publish {
            self.link.publish(message);
            self.counters.published += 1;
            self.probe.published(message);
        }
        if let Some(arrival) = cause {
            self.held.push(arrival);
        }
        for update in &out.updates {
            self.probe.task(&self.tracker, &update.task);
            self.probe.ended(&update.change);
        }
        let finals: Vec<TaskKey> = out
            .updates
            .iter()
            .filter(|u| u.change.is_final())
            .map(|u| u.task.clone())
            .collect();
        if !finals.is_empty() {
            let now = now_millis();
            for update in out.updates.iter().filter(|u| u.change.is_final()) {
                for running in &mut self.rollouts {
                    if running
                        .rollout
                        .task_ended(&update.task, &update.change, now)
                    {
                        break;
                    }
                }
            }
            for task in &finals {
                self.watch_ended(task);
            }
        }
        self.updates.extend(out.updates);
    }

    /// Saves what the batch changed, in one save, then acknowledges its messages and
    /// reports its updates; if the save fails, they wait for one that succeeds.
    fn end_batch(&mut self) {
        self.start_rollout_tasks();
        self.watch_rollouts();
        for running in &mut self.rollouts {
            let changes = running.rollout.take_changes();
            running.unsaved.merge(changes);
        }
        if !(self.unsaved() || self.rollouts_unsaved()) {
            self.release();
            return;
        }
        let now = Instant::now();
        let due = *self.commit_due.get_or_insert(now + self.commit_delay);
        if self.store.is_none() || self.held.len() >= self.commit_at_once || now >= due {
            self.save();
        }
    }

    /// Starts in the tracker what the rollouts want started now, while connected (and
    /// past the grace after a connection); their requests go out once saved.
    fn start_rollout_tasks(&mut self) {
        if !self.judging.now() {
            return;
        }
        let now = now_millis();
        let mut started_tasks = Vec::new();
        for running in &mut self.rollouts {
            for start in running.rollout.poll(now) {
                match self.tracker.start_request(start.request, now) {
                    Ok(started) => {
                        started_tasks.push((started.task, started.request.clone()));
                        self.requests.push(started.request);
                    }
                    // Busy with a task of another caller, say: tried again later.
                    Err(_) => {
                        running.rollout.start_failed(&start.task, now);
                    }
                }
            }
        }
        // Subscribed before the requests go out, so in place before their replies.
        for (task, request) in started_tasks {
            self.probe.started(&self.tracker, &task);
            if let Some(needs) = &mut self.needs {
                let delta = needs.started(&task, &request);
                self.subscriptions(delta);
            }
        }
    }

    fn rollouts_unsaved(&self) -> bool {
        self.rollouts.iter().any(|r| !r.unsaved.is_empty())
    }

    /// Takes up the rollout `name` from the store, or creates it.
    fn follow_rollout(
        &mut self,
        name: String,
        plan: RolloutPlan,
    ) -> Result<RolloutStatus, CloudError> {
        if self.rollouts.iter().any(|r| r.name == name) {
            return Err(CloudError::RolloutDiffers(format!(
                "a rollout named {name:?} is already followed"
            )));
        }
        let saved = match &self.store {
            Some(store) => store.load_rollout(&name)?,
            None => None,
        };
        let now = now_millis();
        let (rollout, unsaved) = match saved {
            Some(saved) => {
                if saved.firmware != plan.firmware {
                    return Err(CloudError::RolloutDiffers(
                        "the firmware differs from the saved rollout's".into(),
                    ));
                }
                let mut rollout = Rollout::restore(plan, saved.snapshot).map_err(|e| match e {
                    RolloutRestoreError::Plan(e) => CloudError::Plan(e),
                    other => CloudError::RolloutDiffers(other.to_string()),
                })?;
                // The tasks that ended while nobody followed the rollout (before this
                // call, after a restart): their endings, as the tracker has them.
                let keys: Vec<TaskKey> = rollout.tasks_in_flight().cloned().collect();
                for key in keys {
                    if self.tracker.task(&key).is_some() {
                        continue;
                    }
                    match self.tracker.ending(&key).cloned() {
                        Some(ending) => {
                            rollout.task_ending(&key, &ending, now);
                        }
                        // Not known: tried again later.
                        None => {
                            rollout.start_failed(&key, now);
                        }
                    }
                }
                // The header holds the policy, which may have changed.
                let mut unsaved = Changes {
                    header: true,
                    devices: Vec::new(),
                };
                unsaved.merge(rollout.take_changes());
                (rollout, unsaved)
            }
            None => {
                let mut rollout = Rollout::new(plan.clone())?;
                if let Some(store) = &self.store {
                    blocking(|| store.create_rollout(&name, &plan, &rollout))
                        .map_err(CloudError::Save)?;
                }
                // All written by the creation.
                let _ = rollout.take_changes();
                (rollout, Changes::default())
            }
        };
        self.rollouts.push(Running {
            name,
            rollout,
            unsaved,
        });
        self.end_batch();
        let running = self.rollouts.last().expect("pushed");
        let status = RolloutStatus::of(&running.name, &running.rollout);
        self.probe.rollout(&status);
        Ok(status)
    }

    /// Acknowledges the messages and reports the updates whose effect is saved.
    fn release(&mut self) {
        for request in std::mem::take(&mut self.requests) {
            self.link.publish(&request);
            self.counters.published += 1;
            self.probe.published(&request);
        }
        for arrival in std::mem::take(&mut self.held) {
            self.link.ack(arrival);
        }
        for update in std::mem::take(&mut self.updates) {
            self.emit(CloudEvent::Update(update));
        }
        for status in std::mem::take(&mut self.statuses) {
            self.emit(CloudEvent::Rollout(status));
        }
    }

    /// With [`Watch::TaskGateways`], unsubscribes from what a task that ended (or was
    /// forgotten) no longer needs, nor an older ended task the tracker no longer
    /// remembers: found from that task alone, whatever the number of tasks.
    fn watch_ended(&mut self, task: &TaskKey) {
        if let Some(needs) = &mut self.needs {
            let delta = needs.ended(task, &self.tracker);
            self.subscriptions(delta);
        }
    }

    /// With [`Watch::TaskGateways`], every device's state topic while a rollout runs:
    /// a rollout skips the devices already at their target version, and reads the
    /// pushes of every device, not only of those upgrading.
    fn watch_rollouts(&mut self) {
        if self.needs.is_none() {
            return;
        }
        let wildcard = StateTopic::wildcard_filter();
        let wanted = self.rollouts.iter().any(|r| !r.rollout.is_done());
        let have = self.watching.contains(&wildcard);
        let delta = match (wanted, have) {
            (true, false) => Delta {
                subscribe: vec![wildcard],
                unsubscribe: Vec::new(),
            },
            (false, true) => Delta {
                subscribe: Vec::new(),
                unsubscribe: vec![wildcard],
            },
            _ => return,
        };
        self.subscriptions(delta);
    }

    /// Subscribes and unsubscribes as `delta` says.
    fn subscriptions(&mut self, delta: Delta) {
        for filter in &delta.unsubscribe {
            self.watching.remove(filter);
        }
        self.watching.extend(delta.subscribe.iter().cloned());
        self.link.unsubscribe(delta.unsubscribe);
        self.link.subscribe(delta.subscribe);
    }

    /// True while the tracker holds changes the store does not have.
    fn unsaved(&self) -> bool {
        self.tracker.revision() != self.saved_revision
    }

    /// Acknowledges `arrival` with the rest of its batch.
    fn acknowledge(&mut self, arrival: Arrival) {
        self.held.push(arrival);
    }

    fn try_save(&mut self) -> Result<(), StoreError> {
        if let Some(store) = &self.store {
            let commits: Vec<RolloutCommit<'_>> = self
                .rollouts
                .iter()
                .filter(|r| !r.unsaved.is_empty())
                .map(|r| RolloutCommit {
                    name: &r.name,
                    rollout: &r.rollout,
                    changes: &r.unsaved,
                })
                .collect();
            let changes = self.tracker.take_changes();
            self.tracker_unsaved.merge(changes);
            let commit = Commit {
                tracker: &self.tracker,
                changes: &self.tracker_unsaved,
                rollouts: &commits,
            };
            // A store whose last commit was quick commits in place; one that took long
            // (a slow disk, a remote database) moves aside (`block_in_place`).
            let began = Instant::now();
            let result = if self.last_commit < QUICK_COMMIT {
                store.commit(&commit)
            } else {
                blocking(|| store.commit(&commit))
            };
            self.last_commit = began.elapsed();
            result?;
            self.probe.committed(self.last_commit);
            self.tracker_unsaved = TrackerChanges::default();
            self.counters.saves += 1;
        }
        self.saved_revision = self.tracker.revision();
        self.commit_due = None;
        for running in &mut self.rollouts {
            if !std::mem::take(&mut running.unsaved).is_empty() {
                let status = RolloutStatus::of(&running.name, &running.rollout);
                self.probe.rollout(&status);
                self.statuses.push(status);
            }
        }
        Ok(())
    }

    /// Saves the state; on success, acknowledges what waited for it. On failure the
    /// state stays to save, and the driver tries again every [`SAVE_RETRY`].
    fn save(&mut self) -> bool {
        match self.try_save() {
            Ok(()) => {
                self.release();
                true
            }
            Err(e) => {
                // Tried again in SAVE_RETRY.
                self.commit_due = Some(Instant::now() + SAVE_RETRY);
                self.counters.store_failures += 1;
                self.probe.commit_failed();
                self.emit(CloudEvent::StoreFailed {
                    reason: e.to_string(),
                });
                false
            }
        }
    }

    /// Commits what is not committed yet (the counters of what changed no task
    /// included), before the driver stops.
    fn save_before_stopping(&mut self) {
        if self.store.is_some() {
            self.save();
        }
    }

    fn report_drops(&mut self) {
        let notice = &mut self.drops;
        if notice.count == 0 {
            return;
        }
        notice.last = Some(Instant::now());
        let event = CloudEvent::Dropped {
            count: std::mem::take(&mut notice.count),
            topic: std::mem::take(&mut notice.topic),
            reason: std::mem::take(&mut notice.reason),
        };
        self.emit(event);
    }

    fn emit(&self, event: CloudEvent) {
        // Nobody listening is not an error: the driver goes on.
        let _ = self.events.send(event);
    }
}

/// Runs `f`, which blocks (a store's save), without holding up the other tasks of a
/// multi-threaded runtime: they move to another thread meanwhile (the connection's
/// task among them, which would otherwise wait, unable to read what the broker sends,
/// as long as the driver keeps saving). On a current-thread runtime, `f` just runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The tokio instant at which the Unix-millisecond clock reads `at_ms`.
pub(crate) fn instant_at(at_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(at_ms.saturating_sub(now_millis()))
}
