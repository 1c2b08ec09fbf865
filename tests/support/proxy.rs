//! A TCP proxy in front of the fake, for failures the fake itself cannot show: a server that
//! freezes (keeps every connection open but stops answering, pings included) and thaws.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Forwards 127.0.0.1:PORT to a target; can freeze and thaw.
pub struct Proxy {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
    conns: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listen on a free loopback port and forward to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy addr");
        let (frozen, frozen_rx) = watch::channel(false);
        let conns = Arc::new(Mutex::new(JoinSet::new()));
        let accept_conns = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let frozen = frozen_rx.clone();
                let mut set = accept_conns.lock().expect("conns lock");
                set.spawn(forward(client, target, frozen));
            }
        });
        Self {
            addr,
            frozen,
            conns,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop moving bytes on every connection, old and new, while keeping them all open.
    pub fn freeze(&self) {
        let _ = self.frozen.send(true);
    }

    /// Drop every connection made so far (a frozen server that finally lets go) and forward
    /// new ones normally again.
    pub fn thaw(&self) {
        self.conns.lock().expect("conns lock").abort_all();
        let _ = self.frozen.send(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.conns.lock().expect("conns lock").abort_all();
    }
}

async fn forward(client: TcpStream, target: SocketAddr, frozen: watch::Receiver<bool>) {
    let _ = client.set_nodelay(true);
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pipe(client_read, server_write, frozen.clone()),
        pipe(server_read, client_write, frozen),
    );
}

/// Copy bytes one way; while frozen, hold them (and stop reading) without closing anything.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
