//! The connection to the broker: address, credentials and TLS from the command line,
//! and a driver task that keeps rumqttc's event loop turning and hands the OTA
//! messages that arrive to the caller.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use dji_cloud_ota::{Message, decode, now_millis};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS,
    SubscribeFilter, TlsConfiguration, Transport,
};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;

/// Where the broker is and how to log in to it.
#[derive(Clone, Args)]
pub struct ConnArgs {
    /// The broker, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub broker: (String, u16),
    /// User name to log in with (also from OTA_MQTT_USERNAME).
    #[arg(long, env = "OTA_MQTT_USERNAME")]
    pub username: Option<String>,
    /// File holding the password (first line). The password can also come from
    /// OTA_MQTT_PASSWORD; it is never taken on the command line nor printed.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Connects with TLS, trusting the system's certificate authorities.
    #[arg(long)]
    pub tls: bool,
    /// Connects with TLS, trusting the certificate authority in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that ask for one; with --client-key.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// MQTT client id; a random one by default.
    #[arg(long)]
    pub client_id: Option<String>,
}

/// Never shows a password: only whether there is one.
impl fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnArgs")
            .field("broker", &self.broker)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("tls", &(self.tls || self.ca.is_some()))
            .finish_non_exhaustive()
    }
}

fn host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("expected HOST:PORT, such as 127.0.0.1:1883")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port"))?;
    Ok((host.to_string(), port))
}

impl ConnArgs {
    /// Connection settings for an embedded broker on the loopback interface.
    pub fn loopback(port: u16) -> Self {
        Self {
            broker: ("127.0.0.1".into(), port),
            username: None,
            password_file: None,
            tls: false,
            ca: None,
            client_cert: None,
            client_key: None,
            client_id: None,
        }
    }

    /// What to say about the connection: address, user and TLS, never the password.
    pub fn describe(&self) -> String {
        let (host, port) = &self.broker;
        let mut text = format!("{host}:{port}");
        if let Some(user) = &self.username {
            text.push_str(&format!(" as {user}"));
        }
        if self.tls || self.ca.is_some() {
            text.push_str(" over TLS");
        }
        text
    }

    /// rumqttc options for a client whose id starts with `role`.
    pub fn options(&self, role: &str) -> Result<MqttOptions, String> {
        let id = match &self.client_id {
            Some(id) => id.clone(),
            None => format!(
                "{role}-{:x}",
                now_millis() ^ u64::from(std::process::id()) << 40
            ),
        };
        let (host, port) = &self.broker;
        let mut options = MqttOptions::new(id, host, *port);
        options.set_keep_alive(Duration::from_secs(30));
        // Big enough for any message that validates (see limits::MAX_PAYLOAD_BYTES).
        let max = dji_cloud_ota::limits::MAX_PAYLOAD_BYTES;
        options.set_max_packet_size(max, max);
        if let Some(user) = &self.username {
            options.set_credentials(user, self.password()?);
        } else if self.password_file.is_some() {
            return Err("--password-file needs --username".into());
        }
        if let Some(transport) = self.transport()? {
            options.set_transport(transport);
        }
        Ok(options)
    }

    fn password(&self) -> Result<String, String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            return Ok(text.lines().next().unwrap_or_default().to_string());
        }
        Ok(std::env::var("OTA_MQTT_PASSWORD").unwrap_or_default())
    }

    fn transport(&self) -> Result<Option<Transport>, String> {
        if !self.tls && self.ca.is_none() {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &self.ca {
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: unusable certificate: {e}", ca.display()))?;
            }
        } else {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot read is one authority fewer.
                let _ = roots.add(cert);
            }
        }
        if roots.is_empty() {
            return Err("no certificate authority to trust for TLS".into());
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert)?;
                let key_der = rustls_pemfile::private_key(&mut reader(key)?)
                    .map_err(|e| format!("{}: {e}", key.display()))?
                    .ok_or_else(|| format!("{}: no private key", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| format!("client certificate: {e}"))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Some(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        ))))
    }
}

fn reader(path: &PathBuf) -> Result<BufReader<File>, String> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, String> {
    rustls_pemfile::certs(&mut reader(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What the driver hands over.
pub enum Incoming {
    /// Connected (again), and the subscriptions are acknowledged.
    Ready,
    /// An OTA message arrived.
    Message(Box<Message>),
    /// Something arrived that is not an OTA message of ours: its topic and why.
    Undecodable(String, String),
    /// The connection failed; the driver retries unless `fatal`.
    Lost { reason: String, fatal: bool },
}

/// A connected client and what arrives on it.
pub struct Connection {
    pub client: AsyncClient,
    pub incoming: mpsc::UnboundedReceiver<Incoming>,
    ready: bool,
}

impl Connection {
    /// Connects with `options`, subscribes to `filters` (again after every reconnect)
    /// and hands every message over. Returns at once; see [`Incoming::Ready`].
    pub fn open(options: MqttOptions, filters: Vec<String>, capacity: usize) -> Self {
        let (client, eventloop) = AsyncClient::new(options, capacity);
        // Unbounded: the driver must never wait on the caller, who may be waiting on the
        // driver to take a publish (rumqttc's request queue is bounded).
        let (tx, incoming) = mpsc::unbounded_channel();
        tokio::spawn(drive(eventloop, client.clone(), filters, tx));
        Self {
            client,
            incoming,
            ready: false,
        }
    }

    /// Publishes `message` at QoS 1; false once the connection is closed.
    pub async fn publish(&self, message: &Message) -> bool {
        let encoded = message.encode();
        self.client
            .publish(encoded.topic, QoS::AtLeastOnce, false, encoded.payload)
            .await
            .is_ok()
    }

    /// Waits until connected and subscribed, or the first fatal error; at once if it
    /// was ready before.
    pub async fn ready(&mut self) -> Result<(), String> {
        if self.ready {
            return Ok(());
        }
        while let Some(event) = self.incoming.recv().await {
            match event {
                Incoming::Ready => {
                    self.ready = true;
                    return Ok(());
                }
                Incoming::Lost {
                    reason,
                    fatal: true,
                } => return Err(reason),
                Incoming::Lost { reason, .. } => eprintln!("connection failed: {reason}; retrying"),
                Incoming::Message(_) | Incoming::Undecodable(..) => {}
            }
        }
        Err("the connection closed".into())
    }

    /// Disconnects after what was published has gone out, waiting at most a second.
    pub async fn close(mut self) {
        let _ = self.client.disconnect().await;
        let drain = async { while self.incoming.recv().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }
}

async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<String>,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    let mut pending_subacks = 0usize;
    let mut ever_connected = false;
    loop {
        let event = match eventloop.poll().await {
            Ok(event) => event,
            Err(ConnectionError::ConnectionRefused(code)) => {
                let reason = refusal(code);
                let _ = tx.send(Incoming::Lost {
                    reason,
                    fatal: true,
                });
                return;
            }
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let fatal = !ever_connected;
                let reason = e.to_string();
                if tx.send(Incoming::Lost { reason, fatal }).is_err() || fatal {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let handed = match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                ever_connected = true;
                if filters.is_empty() {
                    Some(Incoming::Ready)
                } else {
                    // One SUBSCRIBE for every filter. try_: awaiting here could wait on
                    // this very loop.
                    let all = filters
                        .iter()
                        .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    match client.try_subscribe_many(all) {
                        Ok(()) => pending_subacks = 1,
                        Err(e) => eprintln!("cannot subscribe: {e}"),
                    }
                    None
                }
            }
            Event::Incoming(Packet::SubAck(_)) => {
                pending_subacks = pending_subacks.saturating_sub(1);
                (pending_subacks == 0).then_some(Incoming::Ready)
            }
            Event::Incoming(Packet::Publish(p)) => Some(match decode(&p.topic, &p.payload) {
                Ok(message) => Incoming::Message(Box::new(message)),
                Err(e) => Incoming::Undecodable(p.topic.clone(), e.to_string()),
            }),
            Event::Outgoing(rumqttc::Outgoing::Disconnect) => {
                drop(tx);
                // Lets the disconnect go out, then stops.
                let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
                return;
            }
            _ => None,
        };
        if let Some(item) = handed {
            if tx.send(item).is_err() {
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
