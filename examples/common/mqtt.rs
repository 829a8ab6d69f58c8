//! Where the broker is and how to log in, from the command line, as the runtime
//! crate's `MqttConfig`.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use dji_cloud_ota::now_millis;
use dji_cloud_ota_mqtt::{MqttConfig, Tls};

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
    /// MQTT client id, kept with a persistent session; by default a random one with a
    /// clean session (but see ota-cloud's --state).
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

    /// The runtime's settings. The client id is `--client-id`, else `stable` (both
    /// with a persistent session), else `role` and a random suffix with a clean session.
    pub fn config(&self, role: &str, stable: Option<String>) -> Result<MqttConfig, String> {
        let (host, port) = &self.broker;
        let (id, persistent) = match self.client_id.clone().or(stable) {
            Some(id) => (id, true),
            None => (
                format!(
                    "{role}-{:x}",
                    now_millis() ^ u64::from(std::process::id()) << 40
                ),
                false,
            ),
        };
        let mut config = MqttConfig::new(host, *port, id).with_persistent_session(persistent);
        if let Some(user) = &self.username {
            config = config.with_login(user, self.password()?);
        } else if self.password_file.is_some() {
            return Err("--password-file needs --username".into());
        }
        if self.tls || self.ca.is_some() {
            let mut tls = match &self.ca {
                Some(ca) => Tls::with_ca(read(ca)?),
                None => Tls::system_roots(),
            };
            if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
                tls = tls.with_client_auth(read(cert)?, read(key)?);
            }
            config = config.with_tls(tls);
        }
        Ok(config)
    }

    fn password(&self) -> Result<String, String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            return Ok(text.lines().next().unwrap_or_default().to_string());
        }
        Ok(std::env::var("OTA_MQTT_PASSWORD").unwrap_or_default())
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
