//! How `https://` and `wss://` peers are verified: rustls with Mozilla's root certificates
//! compiled in, plus, when `SSL_CERT_FILE` names a PEM file, the certificates in it. That is
//! the variable OpenSSL-based tools honour too: a network that intercepts TLS with its own
//! authority (a company proxy), or a test server, is trusted by pointing it at that CA.
//!
//! Without `SSL_CERT_FILE` nothing is read or built here: the HTTP client and the websocket
//! use their own default configuration, which is the same Mozilla roots.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::ConfigError;

/// The TLS settings every outgoing connection shares.
#[derive(Clone, Default)]
pub struct Tls {
    /// `None`: the libraries' defaults (Mozilla's roots only).
    custom: Option<Custom>,
}

#[derive(Clone)]
struct Custom {
    file: PathBuf,
    added: usize,
    config: Arc<rustls::ClientConfig>,
}

impl Tls {
    /// Mozilla's roots plus every certificate in the PEM file `path`. A file that cannot be
    /// read, or holds no certificate, is an error naming it: a misspelled path would otherwise
    /// only show up as "invalid peer certificate" on every connection.
    pub fn with_extra_roots(path: &Path) -> Result<Self, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            name: "SSL_CERT_FILE",
            detail: format!("{}: {detail}", path.display()),
        };
        let bytes = std::fs::read(path).map_err(|cause| ConfigError::Read {
            what: "certificate file (SSL_CERT_FILE)",
            path: path.to_path_buf(),
            cause,
        })?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("not a PEM certificate list ({e})")))?;
        if certs.is_empty() {
            return Err(invalid("no certificate in it".into()));
        }
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(invalid(
                "none of its certificates can be used as a root".into(),
            ));
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            custom: Some(Custom {
                file: path.to_path_buf(),
                added,
                config: Arc::new(config),
            }),
        })
    }

    /// The `SSL_CERT_FILE` in use and how many of its certificates were added, if any.
    pub fn extra_roots(&self) -> Option<(&Path, usize)> {
        self.custom.as_ref().map(|c| (c.file.as_path(), c.added))
    }

    /// The configuration for the Socket.IO client, when it is not the default.
    pub fn socket_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.custom.as_ref().map(|c| c.config.clone())
    }

    /// `builder` with these settings.
    pub fn http(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match &self.custom {
            Some(custom) => {
                builder.use_preconfigured_tls(rustls::ClientConfig::clone(&custom.config))
            }
            None => builder,
        }
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.custom {
            None => f.write_str("Tls(Mozilla roots)"),
            Some(c) => write!(
                f,
                "Tls(Mozilla roots + {} from {})",
                c.added,
                c.file.display()
            ),
        }
    }
}
