//! The connection under both drivers: rumqttc's event loop turning in a task of its own,
//! subscriptions made again after every reconnection, and the requests of the driver
//! (publishes, acknowledgements, subscriptions) handed to rumqttc without ever waiting
//! on it.
//!
//! Why the driver never waits: rumqttc's request queue is bounded and emptied by the
//! event loop, while the event loop hands what arrives to the driver. If each waited on
//! the other, both could stop. So the event loop's task waits on the driver (the
//! channel of what arrives is bounded: memory stays bounded however fast messages come,
//! and the broker sends at most its in-flight window without our acknowledgements),
//! and the driver never waits on the event loop: what does not fit in rumqttc's queue
//! waits in `outbox`, in order, and goes at the next [`Link::flush`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dji_cloud_ota::Message;
use rumqttc::{
    AsyncClient, ClientError, ConnectReturnCode, ConnectionError, Event, EventLoop, Outgoing,
    Packet, Publish, QoS, Request, Subscribe, SubscribeFilter,
};
use tokio::sync::mpsc;

/// How many requests rumqttc's queue holds.
const REQUESTS: usize = 256;
/// How many received messages wait for the driver.
const ARRIVALS: usize = 64;

/// What the connection reports.
pub(crate) enum LinkEvent {
    /// Connected (again) and subscribed.
    Up {
        /// True when the broker still had the session (and so the subscriptions).
        session_present: bool,
    },
    /// The connection failed; it is tried again unless `fatal`.
    Down { reason: String, fatal: bool },
    /// A message arrived; acknowledge it with [`Link::ack`] once acted on.
    Arrived(Publish),
}

enum Out {
    Publish { topic: String, payload: Vec<u8> },
    Ack(Publish),
    Subscribe(Vec<String>),
}

pub(crate) struct Link {
    client: AsyncClient,
    events: mpsc::Receiver<LinkEvent>,
    filters: Arc<Mutex<Vec<String>>>,
    outbox: VecDeque<Out>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Starts connecting with `options`; subscribes to `filters` at every connection.
    pub(crate) fn open(
        options: rumqttc::MqttOptions,
        filters: Vec<String>,
        reconnect_delay: Duration,
    ) -> Self {
        let (client, eventloop) = AsyncClient::new(options, REQUESTS);
        let (tx, events) = mpsc::channel(ARRIVALS);
        let filters = Arc::new(Mutex::new(filters));
        let task = tokio::spawn(turn(eventloop, filters.clone(), tx, reconnect_delay));
        Self {
            client,
            events,
            filters,
            outbox: VecDeque::new(),
            task,
        }
    }

    /// The next thing the connection reports; `None` once it is closed for good.
    pub(crate) async fn recv(&mut self) -> Option<LinkEvent> {
        self.events.recv().await
    }

    /// Publishes `message` at QoS 1.
    pub(crate) fn publish(&mut self, message: &Message) {
        let encoded = message.encode();
        self.push(Out::Publish {
            topic: encoded.topic,
            payload: encoded.payload,
        });
    }

    /// Acknowledges a message that arrived.
    pub(crate) fn ack(&mut self, publish: Publish) {
        self.push(Out::Ack(publish));
    }

    /// Subscribes to `filters` now and at every later connection.
    pub(crate) fn subscribe(&mut self, filters: Vec<String>) {
        if filters.is_empty() {
            return;
        }
        lock(&self.filters).extend(filters.iter().cloned());
        self.push(Out::Subscribe(filters));
    }

    /// True when requests wait for room in rumqttc's queue: call [`Link::flush`] soon.
    pub(crate) fn backlog(&self) -> usize {
        self.outbox.len()
    }

    /// Hands rumqttc what waits, in order, as far as it has room.
    pub(crate) fn flush(&mut self) {
        while let Some(out) = self.outbox.pop_front() {
            if let Err(back) = self.try_send(out) {
                self.outbox.push_front(back);
                return;
            }
        }
    }

    /// Disconnects once what waits has gone to rumqttc, waiting at most `within`.
    pub(crate) async fn close(mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.backlog() > 0 && tokio::time::Instant::now() < deadline {
            self.flush();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = self.client.try_disconnect();
        let drain = async { while self.events.recv().await.is_some() {} };
        let _ = tokio::time::timeout_at(deadline, drain).await;
        self.task.abort();
    }

    fn push(&mut self, out: Out) {
        if !self.outbox.is_empty() {
            self.outbox.push_back(out);
            return;
        }
        if let Err(back) = self.try_send(out) {
            self.outbox.push_back(back);
        }
    }

    /// Gives `out` to rumqttc, or back when its queue is full.
    fn try_send(&self, out: Out) -> Result<(), Out> {
        let result = match &out {
            Out::Publish { topic, payload } => {
                self.client
                    .try_publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
            }
            Out::Ack(publish) => self.client.try_ack(publish),
            Out::Subscribe(filters) => self.client.try_subscribe_many(
                filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
            ),
        };
        match result {
            Ok(()) => Ok(()),
            // The queue is full: later. Any other error means the event loop is gone,
            // and nothing more can be sent: dropped.
            Err(ClientError::TryRequest(_)) if !self.task.is_finished() => Err(out),
            Err(_) => Ok(()),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(filters: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    filters.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns the event loop: connects, subscribes at every connection, hands over what
/// arrives, and connects again after a failure (the first failure to connect at all is
/// fatal: a wrong address or login is better reported than retried forever).
async fn turn(
    mut eventloop: EventLoop,
    filters: Arc<Mutex<Vec<String>>>,
    tx: mpsc::Sender<LinkEvent>,
    reconnect_delay: Duration,
) {
    let mut ever_connected = false;
    let mut subscribing: Option<bool> = None;
    loop {
        let event = match eventloop.poll().await {
            Ok(event) => event,
            Err(ConnectionError::ConnectionRefused(code)) => {
                let reason = refusal(code);
                let _ = tx
                    .send(LinkEvent::Down {
                        reason,
                        fatal: true,
                    })
                    .await;
                return;
            }
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let fatal = !ever_connected;
                let reason = e.to_string();
                subscribing = None;
                if tx.send(LinkEvent::Down { reason, fatal }).await.is_err() || fatal {
                    return;
                }
                tokio::time::sleep(reconnect_delay).await;
                continue;
            }
        };
        let report = match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                ever_connected = true;
                let all = lock(&filters).clone();
                if all.is_empty() {
                    Some(LinkEvent::Up {
                        session_present: ack.session_present,
                    })
                } else {
                    // Ahead of everything queued: nothing may be published before the
                    // subscriptions are in place again. Straight into the event loop's
                    // own queue, since waiting on the request queue here could wait on
                    // this very loop.
                    let subscribe = Subscribe::new_many(
                        all.into_iter()
                            .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce)),
                    );
                    eventloop.pending.push_front(Request::Subscribe(subscribe));
                    subscribing = Some(ack.session_present);
                    None
                }
            }
            Event::Incoming(Packet::SubAck(_)) => subscribing
                .take()
                .map(|session_present| LinkEvent::Up { session_present }),
            Event::Incoming(Packet::Publish(publish)) => Some(LinkEvent::Arrived(publish)),
            Event::Outgoing(Outgoing::Disconnect) => {
                drop(tx);
                // Lets the disconnection go out, then stops.
                let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
                return;
            }
            _ => None,
        };
        if let Some(report) = report {
            if tx.send(report).await.is_err() {
                return;
            }
        }
    }
}

fn refusal(code: ConnectReturnCode) -> String {
    match code {
        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
            "the broker refused the login (user name or password)".into()
        }
        other => format!("the broker refused the connection: {other:?}"),
    }
}
