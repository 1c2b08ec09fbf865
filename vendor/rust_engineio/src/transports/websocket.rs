use crate::{
    asynchronous::{
        async_transports::WebsocketTransport as AsyncWebsocketTransport, transport::AsyncTransport,
    },
    error::Result,
    transport::Transport,
    Error,
};
use bytes::Bytes;
use http::HeaderMap;
use std::{sync::Arc, time::Duration};
use tokio::runtime::Runtime;
use url::Url;

#[derive(Clone)]
pub struct WebsocketTransport {
    runtime: Arc<Runtime>,
    inner: Arc<AsyncWebsocketTransport>,
}

impl WebsocketTransport {
    /// Creates an instance of `WebsocketTransport`.
    pub fn new(base_url: Url, headers: Option<HeaderMap>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;

        let inner = runtime.block_on(AsyncWebsocketTransport::new(base_url, headers))?;

        Ok(WebsocketTransport {
            runtime: Arc::new(runtime),
            inner: Arc::new(inner),
        })
    }

    /// Sends probe packet to ensure connection is valid, then sends upgrade
    /// request
    pub(crate) fn upgrade(&self) -> Result<()> {
        self.runtime.block_on(async { self.inner.upgrade().await })
    }
}

impl Transport for WebsocketTransport {
    fn emit(&self, data: Bytes, is_binary_att: bool) -> Result<()> {
        self.runtime
            .block_on(async { self.inner.emit(data, is_binary_att).await })
    }

    fn poll(&self, timeout: Duration) -> Result<Bytes> {
        self.runtime.block_on(async {
            let r = match tokio::time::timeout(timeout, self.inner.poll_next()).await {
                Ok(r) => r,
                Err(_) => return Err(Error::PingTimeout()),
            };
            match r {
                Ok(b) => b.ok_or(Error::IncompletePacket()),
                Err(_) => Err(Error::IncompletePacket()),
            }
        })
    }

    fn base_url(&self) -> Result<url::Url> {
        self.runtime.block_on(async { self.inner.base_url().await })
    }

    fn set_base_url(&self, url: url::Url) -> Result<()> {
        self.runtime
            .block_on(async { self.inner.set_base_url(url).await })
    }
}

impl std::fmt::Debug for WebsocketTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_fmt(format_args!(
            "WebsocketTransport(base_url: {:?})",
            self.base_url(),
        ))
    }
}
