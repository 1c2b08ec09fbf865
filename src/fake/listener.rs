//! The fake's TCP side: a listener that sets TCP_NODELAY on every accepted connection and keeps
//! a duplicate handle to each socket so `stop()` can cut all of them at once, upgraded
//! websockets included (`refuse_socket` only those that carried Socket.IO). HTTP and
//! Socket.IO are axum's and socketioxide's business.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::lock;

/// Every open connection, by a private id, as a duplicated std handle of the same socket.
///
/// Aborting the serving tasks is not enough to close a websocket: after the HTTP upgrade the
/// stream belongs to a task socketioxide spawned, which we cannot reach. `shutdown(2)` on a
/// duplicate descriptor acts on the socket itself, so the peer sees FIN and that task's next
/// read returns EOF, wherever the stream lives by then.
#[derive(Default)]
pub(super) struct Conns {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
}

/// One open connection.
struct Open {
    handle: std::net::TcpStream,
    /// Whether it carried a Socket.IO request (polling or the websocket upgrade).
    socketio: bool,
}

impl Conns {
    /// Shuts down every open connection in both directions and forgets it.
    pub(super) fn kill_all(&self) {
        let open: Vec<_> = lock(&self.open).drain().collect();
        for (_, open) in open {
            // The peer may already be gone; ENOTCONN is fine.
            let _ = open.handle.shutdown(Shutdown::Both);
        }
    }

    /// Shuts down the connections that carried Socket.IO, leaving the REST clients' pooled
    /// connections alone (cutting those would fail a send in flight for no reason).
    pub(super) fn kill_socketio(&self) {
        let mut open = lock(&self.open);
        open.retain(|_, open| {
            if open.socketio {
                let _ = open.handle.shutdown(Shutdown::Both);
            }
            !open.socketio
        });
    }

    /// Notes that connection `id` carried a Socket.IO request.
    pub(super) fn mark_socketio(&self, id: u64) {
        if let Some(open) = lock(&self.open).get_mut(&id) {
            open.socketio = true;
        }
    }

    /// Registers `stream` and wraps it so the registration ends with the stream.
    fn track(self: &Arc<Self>, stream: TcpStream) -> io::Result<TrackedStream> {
        stream.set_nodelay(true)?;
        let std_stream = stream.into_std()?;
        let handle = std_stream.try_clone()?;
        let stream = TcpStream::from_std(std_stream)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let open = Open {
            handle,
            socketio: false,
        };
        lock(&self.open).insert(id, open);
        Ok(TrackedStream {
            stream,
            id,
            conns: Arc::clone(self),
        })
    }
}

/// Binds `addr` with SO_REUSEADDR, so a restart gets the same port back even while the
/// connections that `stop()` cut sit in TIME_WAIT. Retries briefly on "address in use".
pub(super) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut attempts = 0;
    loop {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempts < 40 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The listener handed to `axum::serve`.
pub(super) struct KillableListener {
    pub(super) inner: TcpListener,
    pub(super) conns: Arc<Conns>,
}

impl axum::serve::Listener for KillableListener {
    type Io = TrackedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => match self.conns.track(stream) {
                    Ok(io) => return (io, peer),
                    Err(e) => tracing::warn!(%peer, error = %e, "fake retake: dropping connection"),
                },
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "fake retake: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The connection a request came on, as axum's `ConnectInfo`, for the Socket.IO gate.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnId(pub(super) u64);

impl Connected<IncomingStream<'_, KillableListener>> for ConnId {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnId(stream.io().id)
    }
}

/// A TCP stream that unregisters itself from [`Conns`] when dropped.
pub(super) struct TrackedStream {
    stream: TcpStream,
    id: u64,
    conns: Arc<Conns>,
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        lock(&self.conns.open).remove(&self.id);
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
