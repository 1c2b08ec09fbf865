//! Other streamers' rooms against the reference Socket.IO server (the Node.js `socket.io`
//! retake.tv runs), with the real binary: v2 joins every room on one socket and tells them
//! apart by the payload; v1 opens a socket per room. The REST side (the streamer lookup, the
//! sends) is the in-process fake's.

use super::{RIVAL, WHERE, destination};
use crate::support::interop::{RefOptions, RefServer};
use crate::support::{DEADLINE, ROOM, start_fake, terminate, wait_until};

async fn rooms_against_the_reference_server(api: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let test = format!("rooms_{api}");
    let Some(mut server) = RefServer::start(&test, RefOptions::default(), dir.path()).await else {
        return;
    };
    let fake = start_fake().await;
    fake.add_streamer("rival", RIVAL);
    std::fs::write(dir.path().join("config.toml"), crate::interop::BASE_CONFIG)
        .expect("write config");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("mkdir");
    std::fs::write(scripts.join("personality.rhai"), WHERE).expect("write script");
    let room = if api == "v2" { "rival" } else { RIVAL };
    let started = std::time::Instant::now();
    let mut child = server
        .listener(&fake, dir.path(), api)
        // Chat from the reference server, REST from the fake.
        .env("RETAKE_API_URL", fake.url())
        .args(["run", "--room", room])
        .spawn()
        .expect("the listener starts");
    let logs = || std::fs::read_to_string(dir.path().join("listener.log")).unwrap_or_default();
    let joined = |server: &RefServer, room: &str| server.joined_after(room, started).is_some();
    let both = wait_until(DEADLINE, || joined(&server, ROOM) && joined(&server, RIVAL));
    assert!(both.await, "both rooms joined\n{}", logs());
    match api {
        "v2" => {
            server.say_v2(RIVAL, "u-bob", "bob", "gm").await;
            server.say_v2(ROOM, "u-carol", "carol", "gm").await;
        }
        _ => {
            server.say(RIVAL, "r1", "bob", "gm").await;
            server.say(ROOM, "o1", "carol", "gm").await;
        }
    }
    let name = if api == "v2" { "rival" } else { "" };
    let expected = [
        (
            RIVAL.to_string(),
            format!("gm bob in {RIVAL} ({name}, own: false)"),
        ),
        (
            ROOM.to_string(),
            format!("gm carol in {ROOM} (, own: true)"),
        ),
    ];
    let sent = || {
        let mut sent: Vec<(String, String)> = fake
            .sent()
            .iter()
            .map(|s| {
                (
                    destination(s).to_string(),
                    s.body["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        sent.sort();
        sent
    };
    let mut want = expected.to_vec();
    want.sort();
    let answered = wait_until(DEADLINE, || sent() == want).await;
    assert!(
        answered,
        "each gm answered in its room: {:?}\n{}",
        sent(),
        logs()
    );
    // And once: a later gm there is answered, and nothing else came meanwhile.
    match api {
        "v2" => server.say_v2(RIVAL, "u-zed", "zed", "gm").await,
        _ => server.say(RIVAL, "r2", "zed", "gm").await,
    }
    want.push((
        RIVAL.to_string(),
        format!("gm zed in {RIVAL} ({name}, own: false)"),
    ));
    want.sort();
    let answered = wait_until(DEADLINE, || sent().len() >= want.len()).await;
    assert!(answered && sent() == want, "{:?}\n{}", sent(), logs());
    let (_, clients) = server.room(ROOM).await;
    let sockets = if api == "v2" { 1 } else { 2 };
    assert_eq!(clients, sockets, "sockets connected\n{}", logs());
    terminate(&child);
    let status = tokio::time::timeout(DEADLINE, child.wait()).await;
    assert!(
        status.is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "clean stop\n{}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_v2_other_rooms_on_one_socket() {
    rooms_against_the_reference_server("v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_v1_other_rooms_a_socket_each() {
    rooms_against_the_reference_server("v1").await;
}
