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
//!
//! Measured against that reasoning (LOAD.md, 10,000 docks without a store on two
//! cores): the outbox reached 320,032 entries, 163,030 of them acknowledgements, while
//! Mosquitto (2.0.11, `max_inflight_messages 1000`) went on sending. The outbox is not
//! bounded by the broker's window there; why is not established yet (a lead:
//! eclipse/mosquitto#2876 reports 2.0's in-flight setting ignored in some
//! configurations). A bound of the runtime's own would not rely on the broker's.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dji_cloud_ota::Message;
use rumqttc::{
    AsyncClient, ClientError, ConnectReturnCode, ConnectionError, Event, EventLoop, Outgoing,
    Packet, Publish, QoS, Request, Subscribe, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::mpsc;

/// How many requests rumqttc's queue holds.
const REQUESTS: usize = 256;
/// How many received messages wait for the driver: what it reads as one batch, up to
/// its own limit of 256, when it comes back from a commit. A driver whose commit waits
/// on a database server (a group's) fell behind at 64 (LOAD.md: ten thousand docks,
/// one process on PostgreSQL, 9,854 commits against 1,993 at 256).
const ARRIVALS: usize = 256;
/// Most topic filters in one SUBSCRIBE packet: a cloud with thousands of tasks
/// subscribes again after a reconnection in packets of a bounded size, which any
/// broker's packet limit takes.
const FILTERS_PER_SUBSCRIBE: usize = 100;

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
    Arrived(Arrival),
}

/// A message that arrived, and on which connection: an acknowledgement is only sent on
/// the connection the message came on (on a later one, its packet id may name another
/// message; the broker sends an unacknowledged message again anyway).
pub(crate) struct Arrival {
    pub(crate) publish: Publish,
    connection: u64,
}

enum Out {
    Publish { topic: String, payload: Vec<u8> },
    Ack(Arrival),
    Subscribe(Vec<String>),
    Unsubscribe(String),
}

pub(crate) struct Link {
    client: AsyncClient,
    events: mpsc::Receiver<LinkEvent>,
    filters: Arc<Mutex<BTreeSet<String>>>,
    /// The number of the current connection, counted up at every connection and loss.
    connection: Arc<AtomicU64>,
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
        let filters = Arc::new(Mutex::new(filters.into_iter().collect()));
        let connection = Arc::new(AtomicU64::new(0));
        let turning = Turn {
            filters: filters.clone(),
            connection: connection.clone(),
            tx,
            reconnect_delay: reconnect_delay.max(MIN_RECONNECT_DELAY),
        };
        let task = tokio::spawn(turning.run(eventloop));
        Self {
            client,
            events,
            filters,
            connection,
            outbox: VecDeque::new(),
            task,
        }
    }

    /// The next thing the connection reports; `None` once it is closed for good.
    pub(crate) async fn recv(&mut self) -> Option<LinkEvent> {
        self.events.recv().await
    }

    /// What the connection reported and the driver has not taken yet, if anything,
    /// without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<LinkEvent> {
        self.events.try_recv().ok()
    }

    /// Publishes `message` at QoS 1.
    pub(crate) fn publish(&mut self, message: &Message) {
        let encoded = message.encode();
        self.push(Out::Publish {
            topic: encoded.topic,
            payload: encoded.payload,
        });
    }

    /// Publishes a topic and payload at QoS 1 (a state push, say).
    pub(crate) fn publish_encoded(&mut self, encoded: dji_cloud_ota::Encoded) {
        self.push(Out::Publish {
            topic: encoded.topic,
            payload: encoded.payload,
        });
    }

    /// Acknowledges a message that arrived, if its connection is still the current one.
    pub(crate) fn ack(&mut self, arrival: Arrival) {
        self.push(Out::Ack(arrival));
    }

    /// Subscribes to `filters` now and at every later connection.
    pub(crate) fn subscribe(&mut self, filters: Vec<String>) {
        if filters.is_empty() {
            return;
        }
        lock(&self.filters).extend(filters.iter().cloned());
        for chunk in filters.chunks(FILTERS_PER_SUBSCRIBE) {
            self.push(Out::Subscribe(chunk.to_vec()));
        }
    }

    /// Unsubscribes from `filters` now, and leaves them out of later connections.
    pub(crate) fn unsubscribe(&mut self, filters: Vec<String>) {
        if filters.is_empty() {
            return;
        }
        let mut subscribed = lock(&self.filters);
        for filter in &filters {
            subscribed.remove(filter);
        }
        drop(subscribed);
        for filter in filters {
            self.push(Out::Unsubscribe(filter));
        }
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

    /// Hands rumqttc what waits and disconnects, which rumqttc does after sending what
    /// it holds; waits at most `within`. What arrives meanwhile is not acknowledged,
    /// and the broker sends it again to the next session.
    pub(crate) async fn close(mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut disconnecting = false;
        loop {
            self.flush();
            if !disconnecting && self.backlog() == 0 {
                disconnecting = self.client.try_disconnect().is_ok();
            }
            // Taking what arrives keeps the event loop turning, so that it empties
            // its queue.
            tokio::select! {
                event = self.events.recv() => if event.is_none() {
                    break;
                },
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
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
            Out::Ack(arrival) => {
                if arrival.connection != self.connection.load(Ordering::Acquire) {
                    // The connection it came on is gone: so is the acknowledgement.
                    return Ok(());
                }
                self.client.try_ack(&arrival.publish)
            }
            Out::Subscribe(filters) => self.client.try_subscribe_many(
                filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
            ),
            Out::Unsubscribe(filter) => self.client.try_unsubscribe(filter.as_str()),
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

fn lock(filters: &Mutex<BTreeSet<String>>) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
    filters.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shortest wait between two attempts to connect.
const MIN_RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// What turns the event loop, in a task of its own.
struct Turn {
    filters: Arc<Mutex<BTreeSet<String>>>,
    connection: Arc<AtomicU64>,
    tx: mpsc::Sender<LinkEvent>,
    reconnect_delay: Duration,
}

impl Turn {
    /// Turns the event loop: connects, subscribes at every connection, hands over what
    /// arrives, and connects again after a failure. Only a failure before the first
    /// connection, or a subscription the broker refuses, is fatal: a wrong address or
    /// login is better reported than retried forever, while a broker that restarts
    /// may refuse connections for a moment.
    async fn run(self, mut eventloop: EventLoop) {
        let mut ever_connected = false;
        // While subscribing again: whether the session was present, and how many
        // SUBSCRIBE packets wait for their acknowledgement.
        let mut subscribing: Option<(bool, usize)> = None;
        loop {
            let event = match eventloop.poll().await {
                Ok(event) => event,
                Err(ConnectionError::RequestsDone) => return,
                Err(e) => {
                    self.connection.fetch_add(1, Ordering::AcqRel);
                    subscribing = None;
                    let fatal = !ever_connected;
                    let reason = match e {
                        ConnectionError::ConnectionRefused(code) => refusal(code),
                        other => other.to_string(),
                    };
                    if !self.report(LinkEvent::Down { reason, fatal }).await || fatal {
                        return;
                    }
                    tokio::time::sleep(self.reconnect_delay).await;
                    continue;
                }
            };
            let report = match event {
                Event::Incoming(Packet::ConnAck(ack)) => {
                    ever_connected = true;
                    self.connection.fetch_add(1, Ordering::AcqRel);
                    let packets = subscribe_packets(&lock(&self.filters));
                    if packets.is_empty() {
                        Some(LinkEvent::Up {
                            session_present: ack.session_present,
                        })
                    } else {
                        // Ahead of everything queued, in order: nothing may be
                        // published before the subscriptions are in place again.
                        // Straight into the event loop's own queue, since waiting on
                        // the request queue here could wait on this very loop.
                        subscribing = Some((ack.session_present, packets.len()));
                        for packet in packets.into_iter().rev() {
                            eventloop.pending.push_front(Request::Subscribe(packet));
                        }
                        None
                    }
                }
                Event::Incoming(Packet::SubAck(ack)) => {
                    let refused = ack
                        .return_codes
                        .iter()
                        .any(|code| matches!(code, SubscribeReasonCode::Failure));
                    if refused {
                        let reason = "the broker refused a subscription (not allowed to read \
                                      the gateway's topics?)"
                            .to_string();
                        let _ = self
                            .report(LinkEvent::Down {
                                reason,
                                fatal: true,
                            })
                            .await;
                        return;
                    }
                    match subscribing {
                        Some((session_present, 1)) => {
                            subscribing = None;
                            Some(LinkEvent::Up { session_present })
                        }
                        Some((session_present, waiting)) => {
                            subscribing = Some((session_present, waiting - 1));
                            None
                        }
                        None => None,
                    }
                }
                Event::Incoming(Packet::Publish(publish)) => Some(LinkEvent::Arrived(Arrival {
                    publish,
                    connection: self.connection.load(Ordering::Acquire),
                })),
                Event::Outgoing(Outgoing::Disconnect) => {
                    // Lets the disconnection go out, then stops.
                    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
                    return;
                }
                _ => None,
            };
            if let Some(report) = report {
                if !self.report(report).await {
                    return;
                }
            }
        }
    }

    /// Hands `event` to the driver; false once the driver is gone.
    async fn report(&self, event: LinkEvent) -> bool {
        self.tx.send(event).await.is_ok()
    }
}

/// SUBSCRIBE packets for `filters` at QoS 1, each of at most
/// [`FILTERS_PER_SUBSCRIBE`] filters, in order.
fn subscribe_packets(filters: &BTreeSet<String>) -> Vec<Subscribe> {
    let filters: Vec<&String> = filters.iter().collect();
    filters
        .chunks(FILTERS_PER_SUBSCRIBE)
        .map(|chunk| {
            Subscribe::new_many(
                chunk
                    .iter()
                    .map(|f| SubscribeFilter::new((*f).clone(), QoS::AtLeastOnce)),
            )
        })
        .collect()
}

fn refusal(code: ConnectReturnCode) -> String {
    match code {
        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
            "the broker refused the login (user name or password)".into()
        }
        other => format!("the broker refused the connection: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resubscription_goes_in_packets_of_a_bounded_number_of_filters_in_order() {
        let filters: BTreeSet<String> = (0..250)
            .map(|n| format!("thing/product/DOCK{n:04}/events"))
            .collect();
        let packets = subscribe_packets(&filters);
        let sizes: Vec<usize> = packets.iter().map(|p| p.filters.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let sent: Vec<&String> = packets
            .iter()
            .flat_map(|p| p.filters.iter().map(|f| &f.path))
            .collect();
        assert_eq!(sent, filters.iter().collect::<Vec<_>>());
        assert!(
            packets
                .iter()
                .flat_map(|p| &p.filters)
                .all(|f| f.qos == QoS::AtLeastOnce)
        );
        assert!(subscribe_packets(&BTreeSet::new()).is_empty());
    }
}
