//! The dock side over MQTT: the requests a dock agent receives, and the replies and
//! events it publishes, none of them lost for want of an answer.
//!
//! [`Agent::spawn`] connects, subscribes to the `services` and `events_reply` topics of
//! its gateways (several gateways can share one connection) and reports each
//! `ota_create` that arrives ([`AgentEvent::Request`]). The caller runs the upgrade and
//! publishes the reply and the progress events, built from the request in one call each
//! ([`Agent::reply`], [`Agent::progress`]: same gateway and `bid`, fresh `tid`, the
//! right topic).
//!
//! An event that asks for a reply (`need_reply` 1) and gets none within
//! [`AgentConfig::resend_after`] is published again, the same message with the same
//! `tid`, at most [`AgentConfig::resend_limit`] times, and again at once after a
//! reconnection (not while the connection is down: those attempts would only pile up). So an event published while the cloud had no subscription (the final
//! `ok` during a broker restart, say) is not lost for good. One still unanswered after
//! the last attempt is reported ([`AgentEvent::Unanswered`]).
//!
//! The crate's front page has a whole agent.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use dji_cloud_ota::{
    Data, DecodeError, Id, Message, OtaProgress, ResultCode, Serial, StatePush, TaskStatus, Topic,
    TopicKind, decode,
};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};

use crate::ask::ask;
use crate::config::{ConfigError, MqttConfig};
use crate::link::{Arrival, Link, LinkEvent};

/// How an [`Agent`] connects and resends.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The broker.
    pub mqtt: MqttConfig,
    /// The gateways (docks) this agent speaks for.
    pub gateways: Vec<Serial>,
    /// How long an event that asked for a reply waits for it before it is sent again.
    pub resend_after: Duration,
    /// How many times such an event is sent again, at most.
    pub resend_limit: u32,
    /// How many events may wait for their reply at once; past it, the oldest is given
    /// up (and reported as [`AgentEvent::Unanswered`]).
    pub max_awaiting: usize,
    /// Messages dropped (they did not decode) are reported at most this often.
    pub drop_notice_every: Duration,
}

impl AgentConfig {
    /// `mqtt` for `gateways`; an unanswered event is sent again every 5 s, 6 times at
    /// most; at most 1,024 events wait for a reply at once.
    pub fn new(mqtt: MqttConfig, gateways: Vec<Serial>) -> Self {
        Self {
            mqtt,
            gateways,
            resend_after: Duration::from_secs(5),
            resend_limit: 6,
            max_awaiting: 1_024,
            drop_notice_every: Duration::from_secs(5),
        }
    }
}

/// What an [`Agent`] reports, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// Connected (again) and subscribed.
    Connected {
        /// True when the broker still had the session.
        session_present: bool,
    },
    /// The connection was lost; the driver connects again on its own.
    Disconnected {
        /// What went wrong.
        reason: String,
    },
    /// The connection cannot be made: the driver has stopped.
    Failed {
        /// What went wrong.
        reason: String,
    },
    /// An `ota_create` for one of the agent's gateways. A request can arrive more than
    /// once: the cloud's retries carry a new `tid` and the same `bid`.
    Request(Box<Message>),
    /// An `events_reply` for one of the agent's gateways: to one of its events (which
    /// is then no longer sent again), or, with a persistent session, to an event another
    /// process on the same gateway sent (compare the `tid`).
    Answered(Box<Message>),
    /// An event that asked for a reply got none after every attempt.
    Unanswered(Box<Message>),
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
}

/// What an [`Agent`] counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentCounters {
    /// Messages published, each attempt counted.
    pub published: u64,
    /// Events sent again for want of a reply.
    pub resent: u64,
    /// Events given up on after the last attempt.
    pub unanswered: u64,
    /// Events waiting for their reply now.
    pub awaiting: u64,
    /// Messages received, decoded or not.
    pub received: u64,
    /// Messages dropped because they did not decode.
    pub dropped: u64,
    /// Messages that name another method on the same topics (another service, such as
    /// `flighttask_prepare`: [`DecodeError::NotOta`] with its method), passed over: not
    /// faults, so not reported.
    pub not_ota: u64,
    /// Times the connection was lost, or an attempt to connect again failed.
    pub disconnections: u64,
}

/// Why an [`Agent`] could not start or do what it was asked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The connection settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The message given is not an `ota_create` request.
    #[error("not an ota_create request")]
    NotARequest,
    /// The driver has stopped (closed, or the connection failed for good).
    #[error("the agent driver has stopped")]
    Stopped,
}

/// The events an [`Agent`] reports; read them, or they pile up.
#[derive(Debug)]
pub struct AgentEvents {
    rx: mpsc::UnboundedReceiver<AgentEvent>,
}

impl AgentEvents {
    /// The next event; `None` once the driver has stopped.
    pub async fn next(&mut self) -> Option<AgentEvent> {
        self.rx.recv().await
    }
}

enum Command {
    Publish(Box<Message>),
    PublishState(Box<StatePush>),
    Counters(oneshot::Sender<AgentCounters>),
    Close(oneshot::Sender<()>),
}

/// A handle on the dock agent driver; clone it to share. See the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct Agent {
    commands: mpsc::UnboundedSender<Command>,
}

impl Agent {
    /// Connects as `config.mqtt` says and runs the driver in a task of its own. Call it
    /// within a tokio runtime.
    ///
    /// # Errors
    /// [`AgentError::Config`]. A broker that cannot be reached is reported by
    /// [`AgentEvent::Failed`].
    pub fn spawn(config: AgentConfig) -> Result<(Self, AgentEvents), AgentError> {
        let options = config.mqtt.options()?;
        let filters = config
            .gateways
            .iter()
            .flat_map(|sn| {
                [TopicKind::Services, TopicKind::EventsReply]
                    .map(|kind| Topic::new(sn.clone(), kind).to_string())
            })
            .collect();
        let link = Link::open(options, filters, config.mqtt.reconnect_delay);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events, rx) = mpsc::unbounded_channel();
        let driver = Driver {
            gateways: config.gateways.iter().cloned().collect(),
            link,
            events,
            awaiting: HashMap::new(),
            order: VecDeque::new(),
            counters: AgentCounters::default(),
            drops: (0, String::new(), String::new()),
            last_notice: None,
            connected: false,
            config,
        };
        tokio::spawn(driver.run(commands_rx));
        Ok((Self { commands }, AgentEvents { rx }))
    }

    /// Publishes `message` at QoS 1; an event that asks for a reply is sent again until
    /// one comes (see the [module documentation](self)).
    ///
    /// # Errors
    /// [`AgentError::Stopped`].
    pub fn publish(&self, message: Message) -> Result<(), AgentError> {
        self.send(Command::Publish(Box::new(message)))
    }

    /// Publishes a device's state push on its `state` topic, at QoS 1: the firmware
    /// properties a real dock pushes when they change (see
    /// [`dji_cloud_ota::StatePush::new`]).
    ///
    /// # Errors
    /// [`AgentError::Stopped`].
    pub fn publish_state(&self, push: StatePush) -> Result<(), AgentError> {
        self.send(Command::PublishState(Box::new(push)))
    }

    /// Publishes the `services_reply` to `request`, with `result` and, if given,
    /// `output.status`; returns it.
    ///
    /// # Errors
    /// [`AgentError::NotARequest`], [`AgentError::Stopped`].
    pub fn reply(
        &self,
        request: &Message,
        result: ResultCode,
        status: Option<TaskStatus>,
    ) -> Result<Message, AgentError> {
        let reply = request
            .reply_to_create(result, status)
            .ok_or(AgentError::NotARequest)?;
        self.publish(reply.clone())?;
        Ok(reply)
    }

    /// Publishes an `ota_progress` event of the task `request` started (same gateway
    /// and `bid`, fresh `tid`), asking for a reply if `need_reply`; returns it.
    ///
    /// # Errors
    /// [`AgentError::NotARequest`], [`AgentError::Stopped`].
    pub fn progress(
        &self,
        request: &Message,
        progress: OtaProgress,
        need_reply: bool,
    ) -> Result<Message, AgentError> {
        let event = request
            .progress_event(progress, need_reply)
            .ok_or(AgentError::NotARequest)?;
        self.publish(event.clone())?;
        Ok(event)
    }

    /// What the agent counted so far.
    ///
    /// # Errors
    /// [`AgentError::Stopped`].
    pub async fn counters(&self) -> Result<AgentCounters, AgentError> {
        ask(&self.commands, Command::Counters)
            .await
            .ok_or(AgentError::Stopped)
    }

    /// Hands what was published to the connection, disconnects (rumqttc sends what it
    /// holds first), and stops the driver; waits a second at most.
    pub async fn close(self) {
        ask(&self.commands, Command::Close).await;
    }

    fn send(&self, command: Command) -> Result<(), AgentError> {
        self.commands.send(command).map_err(|_| AgentError::Stopped)
    }
}

struct Awaiting {
    event: Message,
    attempts: u32,
    next_at: Instant,
}

struct Driver {
    config: AgentConfig,
    gateways: BTreeSet<Serial>,
    link: Link,
    events: mpsc::UnboundedSender<AgentEvent>,
    awaiting: HashMap<Id, Awaiting>,
    /// The `tid`s of `awaiting`, the oldest first (some may be answered already).
    order: VecDeque<Id>,
    counters: AgentCounters,
    drops: (u64, String, String),
    last_notice: Option<Instant>,
    /// Connected and subscribed: events are sent again only then (sent while the
    /// connection is down, they would only pile up).
    connected: bool,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let far = Duration::from_secs(24 * 3600);
        loop {
            let next = self.awaiting.values().map(|a| a.next_at).min();
            let notice_due = (self.drops.0 > 0).then(|| {
                self.last_notice
                    .map_or_else(Instant::now, |t| t + self.config.drop_notice_every)
            });
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Publish(message)) => self.publish(*message),
                    Some(Command::PublishState(push)) => {
                        self.link.publish_encoded(push.encode());
                        self.counters.published += 1;
                    }
                    Some(Command::Counters(done)) => {
                        let mut counters = self.counters;
                        counters.awaiting = self.awaiting.len() as u64;
                        let _ = done.send(counters);
                    }
                    Some(Command::Close(done)) => {
                        self.link.close(Duration::from_secs(1)).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.link.close(Duration::from_secs(1)).await;
                        return;
                    }
                },
                event = self.link.recv() => match event {
                    Some(LinkEvent::Arrived(arrival)) => self.arrived(arrival),
                    Some(LinkEvent::Up { session_present }) => {
                        // What waited for a reply may have been lost with the old
                        // connection: sent again now.
                        let now = Instant::now();
                        for waiting in self.awaiting.values_mut() {
                            waiting.next_at = now;
                        }
                        self.connected = true;
                        self.emit(AgentEvent::Connected { session_present });
                    }
                    Some(LinkEvent::Down { reason, fatal: false }) => {
                        self.counters.disconnections += 1;
                        self.connected = false;
                        self.emit(AgentEvent::Disconnected { reason });
                    }
                    Some(LinkEvent::Down { reason, fatal: true }) => {
                        self.emit(AgentEvent::Failed { reason });
                        return;
                    }
                    None => {
                        self.emit(AgentEvent::Failed { reason: "the connection closed".into() });
                        return;
                    }
                },
                () = sleep_until(next.unwrap_or_else(|| Instant::now() + far)), if next.is_some() && self.connected => {
                    self.resend(Instant::now());
                }
                () = sleep_until(notice_due.unwrap_or_else(|| Instant::now() + far)), if notice_due.is_some() => {
                    self.report_drops();
                }
                () = sleep(Duration::from_millis(10)), if self.link.backlog() > 0 => {}
            }
            self.link.flush();
        }
    }

    fn publish(&mut self, message: Message) {
        self.link.publish(&message);
        self.counters.published += 1;
        if !message.wants_reply() {
            return;
        }
        while self.awaiting.len() >= self.config.max_awaiting.max(1) {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(given_up) = self.awaiting.remove(&oldest) {
                self.give_up(given_up.event);
            }
        }
        self.order.push_back(message.tid.clone());
        self.awaiting.insert(
            message.tid.clone(),
            Awaiting {
                event: message,
                attempts: 1,
                next_at: Instant::now() + self.config.resend_after,
            },
        );
    }

    fn resend(&mut self, now: Instant) {
        let due: Vec<Id> = self
            .awaiting
            .iter()
            .filter(|(_, a)| a.next_at <= now)
            .map(|(tid, _)| tid.clone())
            .collect();
        for tid in due {
            let Some(waiting) = self.awaiting.get_mut(&tid) else {
                continue;
            };
            if waiting.attempts > self.config.resend_limit {
                if let Some(given_up) = self.awaiting.remove(&tid) {
                    self.order.retain(|t| *t != tid);
                    self.give_up(given_up.event);
                }
                continue;
            }
            waiting.attempts += 1;
            waiting.next_at = now + self.config.resend_after;
            self.link.publish(&waiting.event);
            self.counters.published += 1;
            self.counters.resent += 1;
        }
    }

    fn give_up(&mut self, event: Message) {
        self.counters.unanswered += 1;
        self.emit(AgentEvent::Unanswered(Box::new(event)));
    }

    /// Hands over what arrived, and acknowledges it once handed over: a request lost
    /// with the process is sent again by the cloud's retries.
    fn arrived(&mut self, arrival: Arrival) {
        self.counters.received += 1;
        let publish = &arrival.publish;
        match decode(&publish.topic, &publish.payload) {
            Ok(message) if self.gateways.contains(&message.sn) => match &message.data {
                Data::OtaCreate(_) => self.emit(AgentEvent::Request(Box::new(message))),
                Data::OtaProgressReply(_) => {
                    if self.awaiting.remove(&message.tid).is_some() {
                        self.order.retain(|t| *t != message.tid);
                    }
                    self.emit(AgentEvent::Answered(Box::new(message)));
                }
                // What the dock itself publishes never arrives on its subscriptions.
                Data::OtaCreateReply(_) | Data::OtaProgress(_) => {}
            },
            Ok(_) => {}
            Err(DecodeError::NotOta { method: Some(_) }) => self.counters.not_ota += 1,
            Err(e) => {
                self.counters.dropped += 1;
                self.drops.0 += 1;
                self.drops.1.clone_from(&publish.topic);
                self.drops.2 = e.to_string();
            }
        }
        self.link.ack(arrival);
    }

    fn report_drops(&mut self) {
        if self.drops.0 == 0 {
            return;
        }
        self.last_notice = Some(Instant::now());
        let (count, topic, reason) = std::mem::take(&mut self.drops);
        self.emit(AgentEvent::Dropped {
            count,
            topic,
            reason,
        });
    }

    fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event);
    }
}
