//! Where the broker is and how to connect to it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dji_cloud_ota::limits::MAX_PAYLOAD_BYTES;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::CertificateDer;
use thiserror::Error;

/// How to connect to the broker: address, client id, session, login and TLS.
///
/// The protocol needs little of MQTT, but that little matters (see the crate's README,
/// "MQTT settings"): every message goes at QoS 1, and the session is persistent
/// (`clean_session` false) under a client id that stays the same across restarts, so
/// that what the broker holds for the client (its subscriptions, the messages that
/// arrived while it was away) is delivered when it comes back. Two processes must never
/// share a client id: the broker disconnects the first when the second connects.
///
/// ```
/// use dji_cloud_ota_mqtt::{MqttConfig, Tls};
///
/// let config = MqttConfig::new("broker.example.com", 8883, "ota-cloud-eu-1")
///     .with_login("ota", "secret")
///     .with_tls(Tls::system_roots());
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct MqttConfig {
    /// The broker's host name or address.
    pub host: String,
    /// The broker's port (1883 for MQTT, 8883 for MQTT over TLS, by convention).
    pub port: u16,
    /// The MQTT client id: stable across restarts, unique among the broker's clients.
    pub client_id: String,
    /// User name and password ([`MqttConfig::with_login`]); private, so that no
    /// `Debug` of a field shows the password.
    login: Option<(String, String)>,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<Tls>,
    /// How often the connection is checked when nothing else goes over it; zero turns
    /// the check off.
    pub keep_alive: Duration,
    /// True (the default) for a persistent session: the broker keeps the client's
    /// subscriptions and queues its QoS 1 messages while it is disconnected. False for a
    /// clean session, which loses both at every disconnection: for a one-off run whose
    /// client id is random, so that the broker does not keep a session nobody will
    /// resume.
    pub persistent_session: bool,
    /// How long to wait between two attempts to connect again after the connection
    /// was lost (at least 100 ms).
    pub reconnect_delay: Duration,
}

/// Never shows the password: only whether there is one.
impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("user", &self.login.as_ref().map(|(user, _)| user))
            .field("tls", &self.tls.is_some())
            .field("keep_alive", &self.keep_alive)
            .field("persistent_session", &self.persistent_session)
            .finish_non_exhaustive()
    }
}

impl MqttConfig {
    /// Plain TCP to `host`:`port` as `client_id`, without login, with a persistent
    /// session, a 30 s keep-alive and a 1 s delay between reconnection attempts.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            client_id: client_id.into(),
            login: None,
            tls: None,
            keep_alive: Duration::from_secs(30),
            persistent_session: true,
            reconnect_delay: Duration::from_secs(1),
        }
    }

    /// The user name it logs in as, if any.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|(user, _)| user.as_str())
    }

    /// Logs in as `user` with `password`.
    #[must_use]
    pub fn with_login(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.login = Some((user.into(), password.into()));
        self
    }

    /// Connects over TLS.
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A persistent session (true, the default) or a clean one.
    #[must_use]
    pub fn with_persistent_session(mut self, persistent: bool) -> Self {
        self.persistent_session = persistent;
        self
    }

    /// What to say about the connection in a log: address, user and TLS, never the
    /// password.
    pub fn describe(&self) -> String {
        let mut text = format!("{}:{} as client {}", self.host, self.port, self.client_id);
        if let Some((user, _)) = &self.login {
            text.push_str(&format!(", user {user}"));
        }
        if self.tls.is_some() {
            text.push_str(", over TLS");
        }
        text
    }

    /// rumqttc's options for this configuration.
    pub(crate) fn options(&self) -> Result<MqttOptions, ConfigError> {
        if self.client_id.is_empty() {
            return Err(ConfigError::ClientId);
        }
        let mut options = MqttOptions::new(&self.client_id, &self.host, self.port);
        // Zero turns the keep-alive off; rumqttc refuses anything between 0 and 1 s.
        let keep_alive = if self.keep_alive.is_zero() {
            Duration::ZERO
        } else {
            self.keep_alive.max(Duration::from_secs(1))
        };
        options.set_keep_alive(keep_alive);
        options.set_clean_session(!self.persistent_session);
        // Whatever the broker forwards is read: a message over rumqttc's limit would
        // drop the connection, and, never acknowledged, come back at every
        // reconnection. A payload over the protocol's limit is refused by decoding,
        // then acknowledged and dropped like any other garbage. What is sent stays
        // within the protocol's limit and the topic's.
        options.set_max_packet_size(MQTT_MAX_PACKET, MAX_PAYLOAD_BYTES + TOPIC_AND_HEADER);
        // A message is acknowledged once it has been acted on (and, on the cloud, once
        // the state it changed is saved): the broker sends it again otherwise.
        options.set_manual_acks(true);
        // Room for a burst of publishes (a rollout that starts hundreds of tasks at
        // once, their retries, the replies to their events) without waiting for the
        // broker's acknowledgements. rumqttc takes nothing more from its queue while
        // this many publishes are unacknowledged, the acknowledgements of what arrived
        // included: with its default of 100, a cloud starting 500 tasks at once stalled
        // against rumqttd, which forwards no more than 100 messages unacknowledged.
        options.set_inflight(PUBLISHES_IN_FLIGHT);
        if let Some((user, password)) = &self.login {
            options.set_credentials(user, password);
        }
        if let Some(tls) = &self.tls {
            options.set_transport(tls.transport()?);
        }
        Ok(options)
    }
}

/// The largest packet MQTT can carry (its remaining length's limit).
const MQTT_MAX_PACKET: usize = 268_435_455;

/// Most QoS 1 publishes a client leaves unacknowledged by the broker (rumqttc keeps a
/// slot for each, a few hundred bytes).
const PUBLISHES_IN_FLIGHT: u16 = 2_000;
/// What a PUBLISH carries besides its payload, at most: a topic (its length's two bytes
/// and up to 65,535 bytes) and a packet id.
const TOPIC_AND_HEADER: usize = 2 + 65_535 + 2;

/// TLS settings: whom to trust, and the client's own certificate if the broker asks for
/// one. Certificates and keys are PEM text, as read from their files.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Tls {
    /// Certificate authorities to trust (PEM); `None` trusts the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// The client's certificate chain and private key (PEM), for brokers that ask for
    /// one.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
}

/// Never shows the private key.
impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("own_ca", &self.ca_pem.is_some())
            .field("client_auth", &self.client_auth.is_some())
            .finish()
    }
}

impl Tls {
    /// TLS trusting the system's certificate authorities.
    pub fn system_roots() -> Self {
        Self::default()
    }

    /// TLS trusting the certificate authorities in `ca_pem` only.
    pub fn with_ca(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_pem: Some(ca_pem.into()),
            client_auth: None,
        }
    }

    /// Presents the certificate chain `cert_pem`, whose private key is `key_pem`.
    #[must_use]
    pub fn with_client_auth(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_auth = Some((cert_pem.into(), key_pem.into()));
        self
    }

    fn transport(&self) -> Result<Transport, ConfigError> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &self.ca_pem {
            for cert in certs(ca, "the certificate authority")? {
                roots.add(cert).map_err(|e| {
                    ConfigError::Tls(format!("unusable certificate authority: {e}"))
                })?;
            }
        } else {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot read is one authority fewer.
                let _ = roots.add(cert);
            }
        }
        if roots.is_empty() {
            return Err(ConfigError::Tls("no certificate authority to trust".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.client_auth {
            Some((cert, key)) => {
                let chain = certs(cert, "the client certificate")?;
                let key = rustls_pemfile::private_key(&mut key.as_slice())
                    .map_err(|e| ConfigError::Tls(format!("the client key: {e}")))?
                    .ok_or_else(|| ConfigError::Tls("the client key: no private key".into()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ConfigError::Tls(format!("the client certificate: {e}")))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )))
    }
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Tls(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(ConfigError::Tls(format!(
            "{what}: no certificate in the PEM text"
        )));
    }
    Ok(certs)
}

/// Why an [`MqttConfig`] cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The client id is empty: a persistent session needs a stable one.
    #[error("the MQTT client id is empty")]
    ClientId,
    /// The TLS settings are unusable.
    #[error("TLS: {0}")]
    Tls(String),
}
