//! What `retake-chat reply` tells the agent while and after it sends: a line on stderr at the
//! first failure it retries (never a silent wait for the whole deadline), errors that name the
//! address posted to, a hint on a 404, and a note when the text went out split or cut.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::delivery::{agent_dir, queued_ids, reply};
use crate::support::{TOKEN, bin, start_fake, write_creds};

/// A port on 127.0.0.1 where nothing listens: bound, then closed again.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// `reply --ack q1 hello` posting to `url`, with the agent's state and config in `dir`, and
/// no logs: stderr holds only what `reply` says itself.
fn reply_to(url: &str, dir: &std::path::Path, config: &std::path::Path) -> std::process::Command {
    let mut cmd = bin();
    cmd.args(["reply", "--ack", "q1", "hello"])
        .arg("--creds")
        .arg(write_creds(dir))
        .args(["--api-url", url])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--config")
        .arg(config)
        .env("HOME", dir)
        .env("RUST_LOG", "off");
    cmd
}

/// Against an address that refuses every connection, `reply` says at once what it is doing
/// and for how long, long before its deadline; the final error names the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_is_said_at_the_first_failure_and_named_in_the_error() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let send_url = format!("{url}/api/agent/chat/send");

    // A long deadline: the line must come at the first failure, not at the end.
    let (dir, config) = agent_dir("agent_deadline_secs = 60");
    let mut cmd = tokio::process::Command::from(reply_to(&url, dir.path(), &config));
    cmd.stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().expect("reply starts");
    let stderr = child.stderr.take().expect("stderr");
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        BufReader::new(stderr).lines().next_line().await
    })
    .await
    .expect("a line on stderr within 10 s, not after the 60 s deadline")
    .expect("stderr readable")
    .expect("a line");
    let _ = child.kill().await;
    assert!(
        first.starts_with(&format!("cannot reach {send_url}: ")),
        "{first}"
    );
    assert!(first.ends_with("; retrying for up to 60 s"), "{first}");
    assert!(!first.contains(TOKEN));

    // With a short deadline, the error at the end names the address too.
    let (dir, config) = agent_dir("agent_deadline_secs = 1");
    let mut cmd = reply_to(&url, dir.path(), &config);
    let (code, _, err) = tokio::task::spawn_blocking(move || crate::support::run(&mut cmd))
        .await
        .expect("reply ran");
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.matches("; retrying for up to ").count(),
        1,
        "said once: {err}"
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "error: cannot send the reply: cannot reach {send_url}: "
        )) && last.ends_with("(still failing when its deadline passed)"),
        "{err}"
    );
    assert_eq!(queued_ids(dir.path()), ["q1"], "q1 still waits");
}

/// A 404 is the wrong path (or host): the error names the address and asks about `--api`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_names_the_address_and_asks_whether_api_is_right() {
    let fake = start_fake().await;
    fake.fail_next([(404, None)]);
    let (dir, config) = agent_dir("");
    let (code, err) = reply(&fake, dir.path(), &config, "hello").await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "error: cannot send the reply: 404 from {}: is --api right? (v1 posts to \
             /api/agent/chat/send, v2 to /api/v1/agent/stream/chat/send; --api-url sets the host)",
            fake.v1_send_url()
        )),
        "{err}"
    );
    assert_eq!(queued_ids(dir.path()), ["q1"], "q1 still waits");
}

/// A text longer than one message is sent split, and one longer than two is cut: either way
/// the agent is told, on stderr, with how much the chat did not get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_or_cut_reply_is_reported() {
    let fake = start_fake().await;
    let (dir, config) = agent_dir("");
    let (code, err) = reply(&fake, dir.path(), &config, &"word ".repeat(150)).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "sent as 2 messages: the text is longer than 500 characters, so it was split at a word"
        ),
        "{err}"
    );
    assert_eq!(fake.sent_count(), 2);

    let (dir, config) = agent_dir("");
    let (code, err) = reply(&fake, dir.path(), &config, &"é".repeat(1200)).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "sent as 2 messages, cut to the length limit: the last 201 characters were not sent \
             (at most 1000 characters go out, in two messages)"
        ),
        "{err}"
    );

    // A short one says nothing of the kind.
    let (dir, config) = agent_dir("");
    let (code, err) = reply(&fake, dir.path(), &config, "short").await;
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("sent as"), "{err}");
}
