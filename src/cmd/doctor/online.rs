//! `doctor --online`: one request to each host `run` talks to, through the same HTTP setup
//! (TLS roots, user agent, no redirects). The chat host must answer an Engine.IO handshake
//! (what the Socket.IO client's first request is); the API host must serve the newest page of
//! the chat history with the token, which proves the address, the API generation and the
//! token in one read that changes nothing.

use std::time::Duration;

use super::{Check, Outcome};
use crate::catchup::{History, HistoryError};
use crate::config::Config;
use crate::error_text::with_causes;

/// Both hosts, each as one [`Check`].
pub fn check(config: &Config) -> anyhow::Result<Vec<Check>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async {
        vec![
            Check {
                name: "chat host",
                outcome: chat_host(config).await,
            },
            Check {
                name: "api host",
                outcome: api_host(config).await,
            },
        ]
    }))
}

/// `GET /socket.io/?EIO=4&transport=polling` on the chat URL: an Engine.IO server opens a
/// session with a body starting `0{`.
async fn chat_host(config: &Config) -> Outcome {
    let timeout = config.connection.connect_timeout;
    let url = format!(
        "{}/socket.io/?EIO=4&transport=polling",
        config.chat_url.trim_end_matches('/')
    );
    let next = "check --chat-url (RETAKE_CHAT_URL, chat_url) and this machine's network";
    let client = match crate::platform::client(config, timeout).build() {
        Ok(client) => client,
        Err(e) => return Outcome::fail(format!("cannot set up HTTP: {}", with_causes(&e)), next),
    };
    let response = match client.get(&url).timeout(timeout).send().await {
        Ok(response) => response,
        Err(e) => {
            return Outcome::fail(
                format!(
                    "cannot reach {}: {}",
                    config.chat_url,
                    with_causes(&e.without_url())
                ),
                next,
            );
        }
    };
    let status = response.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    if (200..300).contains(&status) && body.starts_with("0{") {
        Outcome::Ok(format!(
            "{} answers (a Socket.IO handshake)",
            config.chat_url
        ))
    } else {
        Outcome::fail(
            format!(
                "{} answered {status}, not a Socket.IO handshake",
                config.chat_url
            ),
            next,
        )
    }
}

/// The newest page of the room's chat history, read with the token.
async fn api_host(config: &Config) -> Outcome {
    let next = "check --api-url (RETAKE_API_URL, api_url), --api and this machine's network";
    let history = match History::new(config) {
        Ok(history) => history,
        Err(e) => return Outcome::fail(format!("cannot set up reading the history: {e}"), next),
    };
    let url = &config.api_url;
    match history.page(None).await {
        Ok(page) => Outcome::Ok(format!(
            "{url} answers with the token (the chat history's newest page: {} messages)",
            page.len
        )),
        // The platform's answer for a stream that is not live; a wrong --api gets the same.
        Err(HistoryError::NotLive(status)) => Outcome::Ok(format!(
            "{url} answers ({status} from the chat history: the stream is not live, or --api is \
             wrong; v1 reads /api/agent/stream/comments, v2 /api/v1/agent/stream/comments)"
        )),
        Err(HistoryError::Refused(status)) => Outcome::fail(
            format!("{url} refused the access token ({status})"),
            "check access_token in the credentials file (or RETAKE_ACCESS_TOKEN); \
             `retake-chat init --force` writes a new file",
        ),
        Err(HistoryError::Retry(why)) => {
            let why = why.strip_prefix("history: ").unwrap_or(&why);
            Outcome::fail(
                format!("cannot read the chat history from {url}: {why}"),
                next,
            )
        }
    }
}
