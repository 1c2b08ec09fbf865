//! What every HTTP request to retake.tv shares (the sender's posts, the history's reads): our
//! user agent, TLS as configured, redirects never followed (one would carry the body and the
//! token somewhere else), and the token in a bearer header marked sensitive, so no debug
//! output of a request ever shows it.

use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::config::{Config, Secret};

/// A client builder for the platform, giving up on a connection after `connect_timeout`.
pub fn client(config: &Config, connect_timeout: Duration) -> reqwest::ClientBuilder {
    config
        .tls
        .http(reqwest::Client::builder())
        .user_agent(concat!("retake-chat/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
}

/// `Authorization: Bearer <token>`, marked sensitive.
pub fn bearer(token: &Secret) -> Result<HeaderValue, &'static str> {
    let mut header = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| "the access token contains characters not allowed in an HTTP header")?;
    header.set_sensitive(true);
    Ok(header)
}
