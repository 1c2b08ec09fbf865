//! TLS: retake.tv is reached over `https://` and `wss://`, through rustls with the Mozilla
//! roots compiled in. No test may leave the machine, so these stand up a TLS server on
//! loopback with a certificate no public root vouches for: the handshake must really happen,
//! be refused for that reason, and be reported as such, with no panic and no token.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{bin, run, write_creds};

/// A self-signed certificate for 127.0.0.1 and localhost (valid until 2126), and its key.
const CERT: &[u8] = include_bytes!("fixtures/tls/cert.der");
const KEY: &[u8] = include_bytes!("fixtures/tls/key.der");

/// A TLS server on loopback that shakes hands with anyone and counts the client hellos it
/// got; it serves nothing else. Its thread ends with the test process.
fn untrusted_server() -> (String, Arc<AtomicUsize>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(CERT.to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec())),
    )
    .expect("certificate and key");
    let config = Arc::new(config);
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
    let creds = write_creds(dir.path());
    let (code, _, err) = run(bin()
        .env("HOME", dir.path())
        .arg("--creds")
        .arg(&creds)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args([
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
    let creds = write_creds(dir.path());
    let config = dir.path().join("retake-chat.toml");
    std::fs::write(&config, "[send]\nagent_deadline_secs = 1\n").expect("config");
    let (code, _, err) = run(bin()
        .env("HOME", dir.path())
        .args(["reply", "hello", "--api-url", &url])
        .arg("--creds")
        .arg(&creds)
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state")));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(hellos.load(Ordering::SeqCst) >= 1, "{err}");
}
