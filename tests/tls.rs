//! TLS: retake.tv is reached over `https://` and `wss://`, through rustls with Mozilla's
//! roots compiled in, plus the certificates of `SSL_CERT_FILE`. No test may leave the machine,
//! so these put a TLS server on loopback with a self-signed certificate: untrusted, the
//! handshake must really happen, be refused for that reason and be reported as such; trusted
//! through `SSL_CERT_FILE`, a TLS front before the fake carries the whole chat.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::{
    ROOM, expect, listener, offline, run, start_fake, terminate, with_test_creds,
};

/// A self-signed certificate for 127.0.0.1 and localhost (valid until 2126), and its key.
const CERT: &[u8] = include_bytes!("fixtures/tls/cert.pem");
const KEY: &[u8] = include_bytes!("fixtures/tls/key.pem");

/// A server configuration presenting the fixture certificate.
fn server_config() -> Arc<rustls::ServerConfig> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(CERT).expect("certificate")],
        PrivateKeyDer::from_pem_slice(KEY).expect("key"),
    )
    .expect("certificate and key");
    Arc::new(config)
}

/// A TLS server on loopback that shakes hands with anyone and counts the client hellos it
/// got; it serves nothing else. Its thread ends with the test process.
fn untrusted_server() -> (String, Arc<AtomicUsize>) {
    let config = server_config();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let hellos = Arc::new(AtomicUsize::new(0));
    let counted = hellos.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(mut tls) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            // Shake hands until the client gives up on our certificate (an alert, or closing
            // the connection). A valid client hello is one rustls accepts and answers.
            let mut hello = false;
            loop {
                while tls.wants_write() {
                    if tls.write_tls(&mut stream).is_err() {
                        break;
                    }
                }
                if !tls.is_handshaking() || !matches!(tls.read_tls(&mut stream), Ok(n) if n > 0) {
                    break;
                }
                if tls.process_new_packets().is_err() {
                    break;
                }
                if !hello && tls.wants_write() {
                    hello = true;
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    (url, hellos)
}

#[test]
fn the_chat_connection_speaks_tls_and_refuses_an_untrusted_certificate() {
    let (url, hellos) = untrusted_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(with_test_creds(dir.path(), &[]).args([
        "--chat-url",
        &url,
        "--api-url",
        &url,
        "--max-reconnects",
        "1",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gave up connecting"), "{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(
        hellos.load(Ordering::SeqCst) >= 2,
        "two attempts, two TLS hellos: {err}"
    );
}

#[test]
fn a_reply_over_https_reports_an_untrusted_certificate() {
    let (url, hellos) = untrusted_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("retake-chat.toml");
    std::fs::write(&config, "[send]\nagent_deadline_secs = 1\n").expect("config");
    let (code, _, err) = run(
        with_test_creds(dir.path(), &["reply", "hello", "--api-url", &url])
            .arg("--config")
            .arg(&config),
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(hellos.load(Ordering::SeqCst) >= 1, "{err}");
}

/// A TLS front for `backend` (an `http://` address) on loopback: it terminates TLS with the
/// fixture certificate and passes the bytes through, as a load balancer before retake.tv does.
async fn tls_front(backend: &str) -> String {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let backend = backend.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_ssl_cert_file_is_trusted_for_the_chat_and_the_replies() {
    let fake = start_fake().await;
    let front = tls_front(&fake.url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, CERT).expect("write the CA file");
    let mut child = listener(&fake, dir.path())
        .env("RETAKE_CHAT_URL", &front)
        .env("RETAKE_API_URL", &front)
        .env("SSL_CERT_FILE", &ca)
        .spawn()
        .expect("spawn");
    expect("joined over wss://", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "t1", "amy", "gm").await;
    expect("answered over https://", || fake.sent().len() == 1).await;
    assert_eq!(fake.sent()[0].body["message"], "gm amy! ☀️");
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    assert!(matches!(status, Ok(Ok(s)) if s.success()), "{status:?}");
}

#[test]
fn an_unusable_ssl_cert_file_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello\n").expect("write");
    for (file, says) in [
        (
            dir.path().join("missing.pem"),
            "cannot read certificate file",
        ),
        (not_pem, "no certificate in it"),
    ] {
        let (code, _, err) = run(offline(dir.path())
            .env("SSL_CERT_FILE", &file)
            .args(["--max-reconnects", "0"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
    }
}
