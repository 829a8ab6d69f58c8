//! Several cloud processes sharing one fleet (feature `postgres`): the state in
//! PostgreSQL, the messages spread over the processes by MQTT shared subscriptions.
//!
//! [`Cloud::spawn_in_group`] starts a process of the group `name`: it subscribes to
//! `$share/{name}/thing/product/+/services_reply` and `.../events`, so that the broker
//! hands each message to one process of the group, and handles whatever it is given,
//! of any task: in one transaction, it locks the rows of the batch's tasks
//! ([`PgStore`]), restores them into a tracker, handles the messages, writes the rows
//! that changed and commits; then it publishes the replies and acknowledges the
//! messages. Two processes handling messages of one task at once take turns on its
//! row: neither change is lost. A message whose effect was committed and that is
//! delivered again (its acknowledgement lost with a killed process) is recognised by
//! its `tid` in the task's row, as one process recognises a duplicate.
//!
//! What must happen once is done by the holder of the group's lease (a row in
//! `ota_leases`, renewed every fifth of [`GroupConfig::lease`]): judging the deadlines
//! (the reply windows and silence limits, through the tasks' `due_ms` column), starting
//! the rollouts' tasks, applying their controls (pause, resume, cancel, asked of any
//! process) and reading the devices' state pushes (it alone subscribes to
//! `thing/product/+/state`), for the rollouts and for every task in flight, found by
//! the push's gateway. Each of its rounds checks the lease in its transaction, so
//! a holder held up past its lease does nothing once another has taken it. When it
//! dies, another process takes the lease over once it has expired: within
//! [`GroupConfig::lease`] and a fifth (12 s by default); one that closes gives it up
//! at once.
//!
//! # Sessions
//! With a persistent session, Mosquitto and EMQX go on handing a shared subscriber its
//! share of the messages while it is disconnected, and keep them in its session until
//! it comes back: a process killed and not restarted would take a share of the
//! messages with it. With a clean session (what `ota-fleet` uses in a group), the
//! broker hands new messages to the processes connected; what the killed process had
//! received and not acknowledged is lost with it (Mosquitto), or handed to another
//! member (EMQX 5, with its default `shared_subscription_redispatch`). The protocol
//! recovers it: a dock sends an unanswered event again, and the tracker sends an
//! unanswered `ota_create` again (the same `bid`, which the dock takes for the task it
//! runs).
//!
//! Every process of a group must have the same tracker configuration, and the clocks
//! of their machines must agree (NTP): deadlines are Unix times in the rows.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dji_cloud_ota::rollout::{
    Outcome, RestoreError as RolloutRestoreError, Rollout, RolloutPlan, RolloutState,
};
use dji_cloud_ota::tracker::{
    Counters, Output, StartError, Started, TaskKey, Tracker, TrackerConfig, TrackerSnapshot, Update,
};
use dji_cloud_ota::{
    Data, DecodeError, Message, Serial, StatePush, StateTopic, TopicKind, decode, decode_state,
    now_millis,
};
use postgres::Transaction;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use crate::cloud::{
    Cloud, CloudConfig, CloudCounters, CloudError, CloudEvent, CloudEvents, CloudStatus, Command,
    DropNotice, RolloutStatus,
};
use crate::judging::{Judging, Took};
use crate::link::{Arrival, Link, LinkEvent};
use crate::pg::{self, Failure, NewRollout, PgStore, RolloutRows, TaskRows};
use crate::probe::{Probe, Received};
use crate::store::StoreError;

/// How a process joins a group: see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupConfig {
    /// The group's name: the shared subscriptions' `$share/{name}/...` and the lease's.
    /// Every process of the group gives the same; letters, digits, `-` and `_`.
    pub name: String,
    /// This process's name, unique in the group (its MQTT client id must be unique
    /// too): the lease's holder.
    pub instance: String,
    /// How long the lease lasts once renewed: how long a dead holder's work waits,
    /// at most, before another process takes it over (plus a fifth, the renewal's
    /// period).
    pub lease: Duration,
    /// How often the lease's holder judges the deadlines and starts the rollouts'
    /// tasks.
    pub tick: Duration,
}

impl GroupConfig {
    /// The process `instance` of the group `name`, with a lease of 10 s and a tick of
    /// 200 ms.
    pub fn new(name: impl Into<String>, instance: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            instance: instance.into(),
            lease: Duration::from_secs(10),
            tick: Duration::from_millis(200),
        }
    }

    fn check(&self) -> Result<(), CloudError> {
        let fine = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !fine(&self.name) {
            return Err(CloudError::Group(format!(
                "the group's name {:?} must be letters, digits, - and _",
                self.name
            )));
        }
        if self.instance.is_empty() {
            return Err(CloudError::Group("the instance's name is empty".into()));
        }
        if self.lease < Duration::from_secs(1) || self.tick.is_zero() {
            return Err(CloudError::Group(
                "the lease must last 1 s or more, and the tick more than 0".into(),
            ));
        }
        Ok(())
    }

    /// The shared form of `filter`.
    fn share(&self, filter: &str) -> String {
        format!("$share/{}/{filter}", self.name)
    }

    /// The name of the lease of the work done once.
    fn lease_name(&self) -> String {
        format!("{}/leader", self.name)
    }
}

/// Most due tasks judged in one round.
const DUE_PER_ROUND: usize = 500;
/// Most messages handled in one transaction.
const BATCH: usize = 256;
/// How soon a process handles the messages whose tasks another process held.
const BUSY_AGAIN: Duration = Duration::from_millis(2);
/// How long a process waits before it tries again a batch whose commit failed.
const RETRY: Duration = Duration::from_secs(1);
/// How often a process that does not hold the lease reads the rollouts' state.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// How many ended tasks [`Cloud::status`] shows in a group.
const ENDED_SHOWN: usize = 1_024;

impl Cloud {
    /// Starts a process of a group (feature `postgres`): see the [group
    /// module](crate::group). `store` is the group's database, `config.mqtt` this
    /// process's connection (a client id of its own, and preferably a clean session:
    /// see [Sessions](crate::group#sessions)); `config.watch`,
    /// `config.commit_delay` and `config.commit_at_once` do not apply (every process
    /// handles every gateway's messages, and commits each batch). The handle is the same as
    /// [`Cloud::spawn`]'s: [`Cloud::rollout`] joins the rollout of that name (created
    /// by the first process that asks, with the same devices, firmware and policy for
    /// every process), [`Cloud::control`] asks it of the lease's holder, [`Cloud::status`]
    /// reads the database. The holder runs the rollouts it has joined itself: every
    /// process of the group joins every rollout (as `ota-fleet` does), so that whichever
    /// holds the lease runs them all.
    ///
    /// # Errors
    /// [`CloudError::Config`] or [`CloudError::Group`]: nothing was started.
    pub fn spawn_in_group(
        config: CloudConfig,
        store: PgStore,
        group: GroupConfig,
    ) -> Result<(Self, CloudEvents), CloudError> {
        group.check()?;
        let options = config.mqtt.options()?;
        let filters: Vec<String> = [TopicKind::ServicesReply, TopicKind::Events]
            .map(|kind| group.share(&kind.wildcard_filter()))
            .into();
        let link = Link::open(options, filters.clone(), config.mqtt.reconnect_delay);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events, rx) = mpsc::unbounded_channel();
        let probe = Probe::new();
        probe.connected(false);
        #[cfg(feature = "metrics")]
        let metrics = probe.handle();
        let member = Member {
            tracker: config.tracker,
            store: Arc::new(store),
            link,
            subscriptions: filters.into_iter().collect(),
            events,
            counters: CloudCounters::default(),
            drops: DropNotice {
                every: config.drop_notice_every,
                ..DropNotice::default()
            },
            probe,
            judging: Judging::new(config.resume_grace, false),
            waiting: Vec::new(),
            retry_at: None,
            store_failed: false,
            followed: Vec::new(),
            lead: Lead::default(),
            next_lease: Instant::now(),
            next_status: Instant::now(),
            group,
        };
        tokio::spawn(member.run(commands_rx));
        Ok(Self::from_parts(
            commands,
            #[cfg(feature = "metrics")]
            metrics,
            rx,
        ))
    }
}

/// A rollout this process follows: its plan, and what it last reported of it.
struct Followed {
    name: String,
    plan: RolloutPlan,
    reported: Option<RolloutStatus>,
}

/// What the lease's holder keeps: the rollouts it runs, and the state pushes read since
/// its last round.
#[derive(Default)]
struct Lead {
    /// True while this process holds the lease (as far as it knows).
    holds: bool,
    /// The rollouts it runs, read from the database when it took the lease (and after
    /// a round that failed); `None` until then.
    rollouts: Option<Vec<(String, Rollout)>>,
    pushes: Vec<StatePush>,
    /// The latest `seq` of an ended task read, and the rounds since the rollouts'
    /// tasks in flight were looked at whole: the endings are read since that `seq`,
    /// and whole every [`WHOLE_EVERY`] rounds (and at the first).
    ended_seq: Option<i64>,
    rounds: u32,
}

/// Every how many rounds the holder looks at its rollouts' tasks in flight whole, for
/// an ending committed after a later one it read (5 s with the default tick).
const WHOLE_EVERY: u32 = 25;

/// A message read and waiting for its batch's commit.
struct Waiting {
    arrival: Arrival,
    message: Message,
}

struct Member {
    group: GroupConfig,
    tracker: TrackerConfig,
    store: Arc<PgStore>,
    link: Link,
    subscriptions: BTreeSet<String>,
    events: mpsc::UnboundedSender<CloudEvent>,
    counters: CloudCounters,
    drops: DropNotice,
    probe: Probe,
    /// When deadlines are judged (by the lease's holder).
    judging: Judging,
    /// Messages read, to handle in the next batch (kept after a commit that failed).
    /// None is acknowledged before its batch commits, so the broker sends no more than
    /// its window of unacknowledged messages (Mosquitto's `max_inflight_messages`): that
    /// bounds it while the database is away.
    waiting: Vec<Waiting>,
    /// When to try again a batch whose commit failed.
    retry_at: Option<Instant>,
    /// A call on the database failed since the last one that succeeded.
    store_failed: bool,
    followed: Vec<Followed>,
    lead: Lead,
    next_lease: Instant,
    next_status: Instant,
}

impl Member {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let far = Duration::from_secs(24 * 3600);
        let mut tick = tokio::time::interval(self.group.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let notice_due = (self.drops.count > 0).then(|| {
                self.drops
                    .last
                    .map_or_else(Instant::now, |t| t + self.drops.every)
            });
            tokio::select! {
                biased;
                // First, so that a steady stream of messages never holds the lease's
                // renewal up; what has arrived is read and handled before the round.
                _ = tick.tick() => {
                    if !self.read_arrived() {
                        self.close().await;
                        return;
                    }
                    if self.retry_at.is_none() {
                        self.handle_waiting().await;
                    }
                    self.round().await;
                }
                event = self.link.recv() => {
                    if !self.link_event(event) {
                        self.close().await;
                        return;
                    }
                    for _ in 1..BATCH {
                        match self.link.try_recv() {
                            Some(event) => if !self.link_event(Some(event)) {
                                self.close().await;
                                return;
                            },
                            None => break,
                        }
                    }
                    if self.retry_at.is_none() {
                        self.handle_waiting().await;
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Close(done)) => {
                        self.close().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(command).await,
                    None => {
                        self.close().await;
                        return;
                    }
                },
                () = sleep_until(self.retry_at.unwrap_or_else(|| Instant::now() + far)), if self.retry_at.is_some() => {
                    self.retry_at = None;
                    self.handle_waiting().await;
                }
                () = sleep_until(notice_due.unwrap_or_else(|| Instant::now() + far)), if notice_due.is_some() => {
                    self.report_drops();
                }
                () = sleep(Duration::from_millis(10)), if self.link.backlog() > 0 => {}
            }
            self.link.flush();
            self.probe.queues(self.waiting.len(), self.link.backlog());
        }
    }

    /// Reads what has arrived, without waiting; false when the driver must stop.
    fn read_arrived(&mut self) -> bool {
        for _ in 0..BATCH {
            match self.link.try_recv() {
                Some(event) => {
                    if !self.link_event(Some(event)) {
                        return false;
                    }
                }
                None => break,
            }
        }
        true
    }

    /// Gives the lease up (the next process takes it at once) and disconnects.
    async fn close(mut self) {
        self.report_drops();
        if self.lead.holds {
            let (name, holder) = (self.group.lease_name(), self.group.instance.clone());
            let _ = self
                .store
                .transaction(move |tx| pg::release_lease(tx, &name, &holder))
                .await;
            self.lead = Lead::default();
        }
        self.probe.connected(false);
        self.link.close(Duration::from_secs(1)).await;
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

    fn arrived(&mut self, arrival: Arrival) {
        self.counters.received += 1;
        let publish = &arrival.publish;
        if StateTopic::parse(&publish.topic).is_ok() {
            match decode_state(&publish.topic, &publish.payload) {
                Ok(push) => {
                    self.probe.received(Received::State);
                    // Read by the lease's holder in its next round; a push is sent
                    // again and again, so one missed at a change of holder is no loss.
                    if self.lead.holds {
                        self.lead.pushes.push(push);
                    }
                    self.link.ack(arrival);
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
                self.waiting.push(Waiting { arrival, message });
            }
            Err(DecodeError::NotOta { method: Some(_) }) => {
                self.counters.not_ota += 1;
                self.probe.received(Received::OtherMethod);
                self.link.ack(arrival);
            }
            Err(e) => self.drop_message(arrival, &e),
        }
    }

    fn drop_message(&mut self, arrival: Arrival, error: &DecodeError) {
        self.counters.dropped += 1;
        self.probe.received(Received::Undecodable);
        let notice = &mut self.drops;
        notice.count += 1;
        notice.topic.clone_from(&arrival.publish.topic);
        notice.reason = error.to_string();
        self.link.ack(arrival);
    }

    /// Handles the messages waiting, in one transaction on their tasks' rows; then
    /// publishes what the tracker asks and acknowledges them. If the commit fails,
    /// they wait (unacknowledged) and are tried again.
    async fn handle_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let messages: Vec<Message> = self.waiting.iter().map(|w| w.message.clone()).collect();
        let config = self.tracker.clone();
        let began = Instant::now();
        let handled = self
            .store
            .transaction(move |tx| {
                let mut keys: Vec<TaskKey> = messages.iter().map(TaskKey::of).collect();
                keys.sort();
                keys.dedup();
                let (records, busy) = pg::lock_free_tasks(tx, &keys)?;
                let mut tracker = restore(&config, records)?;
                // The time once the rows are held.
                let now = now_millis();
                let outs: Vec<Option<Output>> = messages
                    .iter()
                    .map(|m| (!busy.contains(&TaskKey::of(m))).then(|| tracker.handle(m, now)))
                    .collect();
                write(tx, &mut tracker)?;
                Ok(outs)
            })
            .await;
        match handled {
            Ok(outs) => {
                self.committed(began);
                let mut left = Vec::new();
                for (waiting, out) in std::mem::take(&mut self.waiting).into_iter().zip(outs) {
                    match out {
                        Some(out) => {
                            self.link.ack(waiting.arrival);
                            self.apply(out);
                        }
                        // Its task's row is another process's now: in the next batch.
                        None => left.push(waiting),
                    }
                }
                if !left.is_empty() {
                    self.waiting = left;
                    self.retry_at = Some(Instant::now() + BUSY_AGAIN);
                }
            }
            Err(e) => self.failed(e),
        }
    }

    /// Publishes what the tracker asks, and reports its updates.
    fn apply(&mut self, out: Output) {
        for message in &out.publish {
            self.link.publish(message);
            self.counters.published += 1;
            self.probe.published(message);
        }
        for update in out.updates {
            self.probe.ended(&update.change);
            self.emit(CloudEvent::Update(update));
        }
    }

    fn committed(&mut self, began: Instant) {
        self.counters.saves += 1;
        self.probe.committed(began.elapsed());
        if std::mem::take(&mut self.store_failed) {
            self.hold_judgments();
        }
    }

    /// After the database was away, or the lease taken anew: no deadline is judged
    /// until the processes have committed what they read meanwhile (each tries again
    /// every [`RETRY`]), so that a dock that answered is not taken for silent.
    fn hold_judgments(&mut self) {
        self.judging.hold(RETRY * 2);
    }

    fn failed(&mut self, error: StoreError) {
        self.store_failed = true;
        self.counters.store_failures += 1;
        self.probe.commit_failed();
        self.retry_at = Some(Instant::now() + RETRY);
        self.emit(CloudEvent::StoreFailed {
            reason: error.to_string(),
        });
    }

    /// One round: the lease renewed (or taken), then, for its holder, the rollouts and
    /// the deadlines; for the others, the rollouts' state read now and then.
    async fn round(&mut self) {
        let now = Instant::now();
        if now >= self.next_lease {
            self.next_lease = now + self.group.lease / 5;
            self.renew_lease().await;
        }
        if self.lead.holds {
            self.lead_round().await;
        } else if now >= self.next_status && !self.followed.is_empty() {
            self.next_status = now + STATUS_EVERY;
            self.read_status().await;
        }
    }

    async fn renew_lease(&mut self) {
        let (name, holder, ttl) = (
            self.group.lease_name(),
            self.group.instance.clone(),
            self.group.lease,
        );
        let held = self
            .store
            .transaction(move |tx| pg::renew_lease(tx, &name, &holder, ttl))
            .await;
        let (holds, kept) = match held {
            Ok(held) => {
                if std::mem::take(&mut self.store_failed) {
                    self.hold_judgments();
                }
                held
            }
            Err(_) => {
                self.store_failed = true;
                (false, false)
            }
        };
        if holds && !kept {
            // Taken anew (perhaps back from another): what it kept is stale, and what
            // the others read meanwhile may not be committed yet.
            self.lead.rollouts = None;
            self.lead.pushes.clear();
            self.hold_judgments();
        }
        if holds != self.lead.holds {
            let state = StateTopic::wildcard_filter();
            if holds {
                self.link.subscribe(vec![state.clone()]);
                self.subscriptions.insert(state);
            } else {
                self.link.unsubscribe(vec![state.clone()]);
                self.subscriptions.remove(&state);
            }
            self.lead = Lead {
                holds,
                ..Lead::default()
            };
        }
    }

    /// The holder's round, in one transaction that holds the lease: the rollouts'
    /// controls and ended tasks, the due deadlines judged, the state pushes read, the
    /// rollouts' new tasks started; then their requests and replies published.
    async fn lead_round(&mut self) {
        let judging = self.judging.now();
        let rollouts = self.lead.rollouts.take();
        let plans: Vec<(String, RolloutPlan)> = self
            .followed
            .iter()
            .map(|f| (f.name.clone(), f.plan.clone()))
            .collect();
        let pushes = std::mem::take(&mut self.lead.pushes);
        let since = if self.lead.rounds % WHOLE_EVERY == 0 || rollouts.is_none() {
            None
        } else {
            self.lead.ended_seq
        };
        let (lease, holder) = (self.group.lease_name(), self.group.instance.clone());
        let config = self.tracker.clone();
        let began = Instant::now();
        let round = self
            .store
            .transaction(move |tx| {
                if !pg::hold_lease(tx, &lease, &holder)? {
                    return Ok(None);
                }
                let now = now_millis();
                let rollouts = match rollouts {
                    Some(rollouts) => rollouts,
                    None => read_rollouts(tx, &plans)?,
                };
                lead(tx, &config, rollouts, pushes, since, judging, now).map(Some)
            })
            .await;
        match round {
            Ok(Some(done)) => {
                self.committed(began);
                for request in &done.requests {
                    self.link.publish(request);
                    self.counters.published += 1;
                    self.probe.published(request);
                }
                self.apply(done.deadlines);
                for (name, rollout) in &done.rollouts {
                    let status = RolloutStatus::of(name, rollout);
                    self.report(status);
                }
                self.lead.rollouts = Some(done.rollouts);
                self.lead.ended_seq = Some(done.ended_seq);
                self.lead.rounds = self.lead.rounds.wrapping_add(1);
            }
            // The lease ran out: renewed (or lost) in the next round.
            Ok(None) => {
                self.lead = Lead::default();
                self.next_lease = Instant::now();
            }
            // Read again from the database in the next round.
            Err(e) => self.failed(e),
        }
    }

    /// Reads the rollouts' counts from the database (their rows whole once nothing is
    /// left to do, for the verdict), and reports those that changed.
    async fn read_status(&mut self) {
        let plans: Vec<(String, RolloutPlan)> = self
            .followed
            .iter()
            .map(|f| (f.name.clone(), f.plan.clone()))
            .collect();
        let read = self
            .store
            .transaction(move |tx| {
                let mut statuses = Vec::new();
                for (name, plan) in &plans {
                    let Some((state, counts, in_flight)) = pg::rollout_counts(tx, name)? else {
                        continue;
                    };
                    let settled =
                        in_flight == 0 && (counts.waiting == 0 || state != RolloutState::Running);
                    if settled {
                        let whole = read_rollouts(tx, &[(name.clone(), plan.clone())])?;
                        statuses.extend(whole.iter().map(|(n, r)| RolloutStatus::of(n, r)));
                    } else {
                        statuses.push(RolloutStatus::from_counts(name, state, counts, in_flight));
                    }
                }
                Ok(statuses)
            })
            .await;
        if let Ok(statuses) = read {
            for status in statuses {
                self.report(status);
            }
        }
    }

    /// Reports a rollout's status if it changed since it was last reported.
    fn report(&mut self, status: RolloutStatus) {
        let Some(followed) = self.followed.iter_mut().find(|f| f.name == status.name) else {
            return;
        };
        if followed.reported.as_ref() != Some(&status) {
            followed.reported = Some(status.clone());
            self.probe.rollout(&status);
            self.emit(CloudEvent::Rollout(status));
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Start(request, done) => {
                let _ = done.send(self.start(request).await);
            }
            Command::Rollout(name, plan, done) => {
                let _ = done.send(self.follow(name, plan).await);
            }
            Command::Control(name, control, done) => {
                let asked = name.clone();
                let result = self
                    .store
                    .transaction(move |tx| pg::ask_control(tx, &asked, control))
                    .await;
                let _ = done.send(match result {
                    Ok(Some(changes)) => Ok(changes),
                    Ok(None) => Err(CloudError::NoRollout(name)),
                    Err(e) => Err(CloudError::Save(e)),
                });
            }
            Command::Forget(key, done) => {
                let config = self.tracker.clone();
                let forgot = self
                    .store
                    .transaction(move |tx| {
                        let mut tracker =
                            restore(&config, pg::lock_tasks(tx, std::slice::from_ref(&key))?)?;
                        let known = tracker.forget(&key);
                        write(tx, &mut tracker)?;
                        Ok(known)
                    })
                    .await;
                let _ = done.send(forgot.unwrap_or(false));
            }
            Command::Status(done) => {
                let read = self
                    .store
                    .transaction(|tx| pg::tasks_now(tx, ENDED_SHOWN))
                    .await;
                let (in_flight, ended) = read.unwrap_or_default();
                let _ = done.send(CloudStatus {
                    tasks: in_flight
                        .iter()
                        .filter_map(|r| Some((r.key(), r.state()?)))
                        .collect(),
                    ended: ended
                        .iter()
                        .filter_map(|r| Some((r.key(), r.ending()?.clone())))
                        .collect(),
                    subscriptions: self.subscriptions.iter().cloned().collect(),
                    counters: self.counters,
                    rollouts: self
                        .followed
                        .iter()
                        .filter_map(|f| f.reported.clone())
                        .collect(),
                });
            }
            Command::Close(_) => {}
        }
    }

    /// Starts a task: its row inserted (unless its gateway has a task in flight,
    /// whoever started it), committed, then its request published.
    async fn start(&mut self, request: Message) -> Result<Started, CloudError> {
        let mut tracker = Tracker::new(self.tracker.clone());
        let started = tracker.start_request(request, now_millis())?;
        let rows = TaskRows::of(&tracker.take_changes().records, None, Some(&self.tracker));
        let gateway = started.task.gateway.to_string();
        let key = started.task.clone();
        let inserted = self
            .store
            .transaction(move |tx| {
                if rows.insert_new(tx)?[0] {
                    return Ok(None);
                }
                let busy = pg::in_flight_on(tx, &gateway)?.map(|r| r.key());
                Ok(Some(busy))
            })
            .await
            .map_err(CloudError::Save)?;
        match inserted {
            None => {
                self.link.publish(&started.request);
                self.counters.published += 1;
                self.probe.published(&started.request);
                Ok(started)
            }
            Some(Some(task)) if task != key => Err(StartError::GatewayBusy { task }.into()),
            Some(_) => Err(StartError::AlreadyInFlight.into()),
        }
    }

    /// Joins the rollout `name`: created from `plan` if the database has none of that
    /// name, else the saved one, which must have the same devices, firmware and policy.
    async fn follow(
        &mut self,
        name: String,
        plan: RolloutPlan,
    ) -> Result<RolloutStatus, CloudError> {
        if self.followed.iter().any(|f| f.name == name) {
            return Err(CloudError::RolloutDiffers(format!(
                "a rollout named {name:?} is already followed"
            )));
        }
        let fresh = Rollout::new(plan.clone())?;
        let new = NewRollout::of(&name, &plan, &fresh);
        let asked = name.clone();
        let saved = self
            .store
            .transaction(move |tx| {
                new.create(tx)?;
                pg::read_rollout(tx, &asked)
            })
            .await
            .map_err(CloudError::Save)?
            .ok_or_else(|| CloudError::NoRollout(name.clone()))?;
        if saved.firmware != plan.firmware {
            return Err(CloudError::RolloutDiffers(
                "the firmware differs from the group's rollout".into(),
            ));
        }
        if saved.policy != plan.policy {
            return Err(CloudError::RolloutDiffers(format!(
                "the policy differs from the group's rollout: {:?}, not {:?}",
                plan.policy, saved.policy
            )));
        }
        let rollout = Rollout::restore(plan.clone(), saved.snapshot).map_err(|e| match e {
            RolloutRestoreError::Plan(e) => CloudError::Plan(e),
            other => CloudError::RolloutDiffers(other.to_string()),
        })?;
        let status = RolloutStatus::of(&name, &rollout);
        self.followed.push(Followed {
            name,
            plan,
            reported: Some(status.clone()),
        });
        // The holder reads it in its next round.
        self.lead.rollouts = None;
        Ok(status)
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
        let _ = self.events.send(event);
    }
}

/// A tracker of the tasks `records`, whose changes from now on are what to write.
fn restore(
    config: &TrackerConfig,
    records: Vec<dji_cloud_ota::tracker::TaskRecord>,
) -> Result<Tracker, Failure> {
    let snapshot = TrackerSnapshot::from_records(records, Counters::default())?;
    let mut tracker = Tracker::restore(config.clone(), snapshot)?;
    // What was read is not a change.
    tracker.take_changes();
    Ok(tracker)
}

/// Writes the rows of the tasks that changed in `tracker`.
fn write(tx: &mut Transaction<'_>, tracker: &mut Tracker) -> Result<(), Failure> {
    let changes = tracker.take_changes();
    TaskRows::of(&changes.records, None, Some(tracker.config())).write(tx)?;
    Ok(())
}

/// The rollouts `plans` as the database holds them.
fn read_rollouts(
    tx: &mut Transaction<'_>,
    plans: &[(String, RolloutPlan)],
) -> Result<Vec<(String, Rollout)>, Failure> {
    let mut rollouts = Vec::with_capacity(plans.len());
    for (name, plan) in plans {
        let Some(saved) = pg::read_rollout(tx, name)? else {
            continue;
        };
        // The plan of the process that reads it, with the policy saved (the same:
        // checked when it joined).
        let mut plan = plan.clone();
        plan.policy = saved.policy;
        let rollout = Rollout::restore(plan, saved.snapshot)
            .map_err(|e| Failure::Reason(format!("rollout {name:?}: {e}")))?;
        rollouts.push((name.clone(), rollout));
    }
    Ok(rollouts)
}

/// What a holder's round did.
struct LeadRound {
    rollouts: Vec<(String, Rollout)>,
    /// The latest `seq` of an ended task read.
    ended_seq: i64,
    /// The requests of the tasks it started.
    requests: Vec<Message>,
    /// What judging the deadlines asks.
    deadlines: Output,
}

/// The holder's round, in `tx`.
fn lead(
    tx: &mut Transaction<'_>,
    config: &TrackerConfig,
    mut rollouts: Vec<(String, Rollout)>,
    pushes: Vec<StatePush>,
    since: Option<i64>,
    judging: bool,
    now: u64,
) -> Result<LeadRound, Failure> {
    // The controls asked of any process.
    let names: Vec<String> = rollouts.iter().map(|(name, _)| name.clone()).collect();
    for (name, controls) in pg::take_controls(tx, &names)? {
        if let Some((_, rollout)) = rollouts.iter_mut().find(|(n, _)| *n == name) {
            for control in controls {
                control.apply(rollout, now);
            }
        }
    }
    // The tasks that ended, whichever process handled their last message: since the
    // last round, or, now and then, every task in flight looked at.
    let (ended, ended_seq) = match since {
        Some(seq) => pg::endings_since(tx, seq)?,
        None => {
            let seq = pg::last_seq(tx)?;
            let in_flight: Vec<TaskKey> = rollouts
                .iter()
                .flat_map(|(_, r)| r.tasks_in_flight().cloned())
                .collect();
            (pg::endings_among(tx, &in_flight)?, seq)
        }
    };
    for record in ended {
        if let Some(ending) = record.ending() {
            let key = record.key();
            for (_, rollout) in &mut rollouts {
                if rollout.task_ending(&key, ending, now) {
                    break;
                }
            }
        }
    }
    // The devices' state: the rollouts skip a device already at its version; a task
    // in flight of a device confirmed (or failed) by its state.
    let mut deadlines = Output::default();
    if !pushes.is_empty() {
        for push in &pushes {
            for (_, rollout) in &mut rollouts {
                rollout.handle_state(push, now);
            }
        }
        let by_device = tasks_by_device(&rollouts);
        let mut keys: Vec<TaskKey> = pushes
            .iter()
            .filter_map(|push| by_device.get(&push.sn).cloned())
            .collect();
        // A device of no rollout: a task started with `Cloud::start` is found by the
        // push's gateway (the dock's own push names the dock, or nothing).
        let mut gateways: Vec<&str> = pushes
            .iter()
            .filter(|push| {
                rollouts
                    .iter()
                    .all(|(_, r)| r.device(push.sn.as_str()).is_none())
            })
            .flat_map(|push| [Some(push.sn.as_str()), push.gateway.as_deref()])
            .flatten()
            .collect();
        gateways.sort_unstable();
        gateways.dedup();
        keys.extend(pg::in_flight_on_gateways(tx, &gateways)?);
        keys.sort();
        keys.dedup();
        if !keys.is_empty() {
            let mut tracker = restore(config, pg::lock_tasks(tx, &keys)?)?;
            for push in &pushes {
                merge(&mut deadlines, tracker.handle_state(push, now));
            }
            ended_in(&mut rollouts, &deadlines.updates, now);
            write(tx, &mut tracker)?;
        }
    }
    let mut requests = Vec::new();
    if judging {
        let due = pg::lock_due(tx, now, DUE_PER_ROUND)?;
        if !due.is_empty() {
            let mut tracker = restore(config, due)?;
            let out = tracker.poll(now);
            ended_in(&mut rollouts, &out.updates, now);
            merge(&mut deadlines, out);
            // Every row read, changed or not, with its next deadline as this
            // process's configuration says: a row not due after all (its due time
            // unknown, or written by another configuration) is not read again at once.
            tracker.take_changes();
            let records = tracker.snapshot().records();
            TaskRows::of(&records, None, Some(config)).write(tx)?;
        }
        // New tasks, each unless its gateway has one in flight (a task started by
        // another caller, say: tried again later).
        for (_, rollout) in &mut rollouts {
            for start in rollout.poll(now) {
                let mut tracker = Tracker::new(config.clone());
                match tracker.start_request(start.request, now) {
                    Ok(started) => {
                        let rows =
                            TaskRows::of(&tracker.take_changes().records, None, Some(config));
                        if rows.insert_new(tx)?[0] {
                            requests.push(started.request);
                        } else {
                            rollout.start_failed(&start.task, now);
                        }
                    }
                    Err(_) => {
                        rollout.start_failed(&start.task, now);
                    }
                }
            }
        }
    }
    for (name, rollout) in &mut rollouts {
        let changes = rollout.take_changes();
        if !changes.is_empty() {
            RolloutRows::of(name, rollout, &changes).write(tx)?;
        }
    }
    Ok(LeadRound {
        rollouts,
        ended_seq,
        requests,
        deadlines,
    })
}

/// Tells the rollouts of the tasks that `updates` ended.
fn ended_in(rollouts: &mut [(String, Rollout)], updates: &[Update], now: u64) {
    for update in updates.iter().filter(|u| u.change.is_final()) {
        for (_, rollout) in rollouts.iter_mut() {
            if rollout.task_ended(&update.task, &update.change, now) {
                break;
            }
        }
    }
}

/// The tasks in flight of the rollouts' devices, by device serial.
fn tasks_by_device(rollouts: &[(String, Rollout)]) -> HashMap<Serial, TaskKey> {
    let mut tasks = HashMap::new();
    for (_, rollout) in rollouts {
        for record in rollout.devices() {
            if let (Outcome::InProgress, Some(bid)) = (record.outcome, &record.task) {
                let key = TaskKey {
                    gateway: record.device.gateway.clone(),
                    bid: bid.clone(),
                };
                tasks.insert(record.device.sn.clone(), key);
            }
        }
    }
    tasks
}

fn merge(into: &mut Output, out: Output) {
    into.publish.extend(out.publish);
    into.updates.extend(out.updates);
}
