//! `[mqtt]` to client options: the broker's address, the door's persistent session, its last
//! will, its credentials and TLS (the broker's CA, the door's client certificate).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use maskgate_api_types::mqtt::{Leaf, MAX_PAYLOAD_BYTES, topic};
use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{MqttConfig, Secret};

/// Why the MQTT uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// `mqtt.url` is not usable.
    #[error("mqtt.url: {0}")]
    Url(String),
    /// A TLS file could not be read or used; names the key.
    #[error("{key} {path}: {message}")]
    TlsFile {
        /// The key, such as `mqtt.ca_file`.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// TLS could not be set up otherwise.
    #[error("mqtt TLS: {0}")]
    Tls(String),
}

/// The retained payloads of `…/status`.
pub const ONLINE: &str = "online";
/// The last will's payload.
pub const OFFLINE: &str = "offline";

/// Client options for the door's broker. The password is passed apart from `config`, as it
/// may come from the environment.
pub fn options(config: &MqttConfig, password: Option<&Secret>) -> Result<MqttOptions, MqttError> {
    let url = reqwest::Url::parse(&config.url).map_err(|e| MqttError::Url(e.to_string()))?;
    let tls = match url.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        other => {
            return Err(MqttError::Url(format!(
                "scheme `{other}` (use mqtt:// or mqtts://)"
            )));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| MqttError::Url("no host".into()))?;
    // An IPv6 literal comes bracketed from the URL; the socket wants it bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let mut options = MqttOptions::new(config.client_id(), host, port);
    options
        .set_keep_alive(Duration::from_secs(config.keep_alive_s))
        // The broker keeps the door's subscription to its acks, and the acks themselves,
        // while the door is away.
        .set_clean_session(false)
        .set_max_packet_size(MAX_PAYLOAD_BYTES + 4096, MAX_PAYLOAD_BYTES + 4096)
        .set_last_will(LastWill::new(
            topic(&config.site, &config.door, Leaf::Status),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(username) = &config.username {
        options.set_credentials(username, password.map(Secret::expose).unwrap_or_default());
    }
    if tls {
        let tls = client_config(config)?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
    }
    Ok(options)
}

/// The TLS client configuration, with the crypto provider named: the agent links more than
/// one, and rustls refuses to guess.
fn client_config(config: &MqttConfig) -> Result<rustls::ClientConfig, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let certs = read_certs("mqtt.ca_file", path)?;
            let (_, refused) = roots.add_parsable_certificates(certs);
            if roots.is_empty() {
                return Err(file_error(
                    "mqtt.ca_file",
                    path,
                    format!("no usable CA certificate ({refused} refused)"),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(MqttError::Tls(
                    "the system has no CA certificates (Debian: apt-get install \
                     ca-certificates); or set mqtt.ca_file"
                        .into(),
                ));
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MqttError::Tls(e.to_string()))?
    .with_root_certificates(roots);
    match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs("mqtt.cert_file", cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| file_error("mqtt.key_file", key, format!("no private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| file_error("mqtt.cert_file", cert, e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, MqttError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(key, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn file_error(key: &'static str, path: &Path, message: String) -> MqttError {
    MqttError::TlsFile {
        key,
        path: path.display().to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> MqttConfig {
        MqttConfig {
            url: url.into(),
            door: "front-door".into(),
            ..MqttConfig::default()
        }
    }

    #[test]
    fn the_door_gets_a_persistent_session_and_a_retained_last_will() {
        let options = options(&config("mqtt://broker.local"), None).expect("options");
        assert_eq!(options.broker_address(), ("broker.local".into(), 1883));
        assert_eq!(options.client_id(), "maskgate-door-front-door");
        assert!(!options.clean_session());
        let will = options.last_will().expect("a last will");
        assert_eq!(will.topic, "maskgate/default/front-door/status");
        assert_eq!(&will.message[..], b"offline");
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert!(will.retain);
        assert!(options.credentials().is_none());
    }

    #[test]
    fn credentials_are_passed_and_tls_defaults_to_port_8883() {
        let mut c = config("mqtts://broker.local");
        c.username = Some("front-door".into());
        let password = Secret::new("s3cret");
        let options = options(&c, Some(&password)).expect("options");
        assert_eq!(options.broker_address(), ("broker.local".into(), 8883));
        let login = options.credentials().expect("credentials");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("front-door", "s3cret")
        );
    }

    #[test]
    fn a_missing_ca_file_is_an_error_naming_the_key() {
        let mut c = config("mqtts://broker.local:8883");
        c.ca_file = Some("/nonexistent/ca.pem".into());
        let err = options(&c, None).expect_err("no file").to_string();
        assert!(err.starts_with("mqtt.ca_file /nonexistent/ca.pem"), "{err}");
    }
}
