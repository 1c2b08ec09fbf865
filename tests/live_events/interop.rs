//! The live-room events against the reference Socket.IO server (the Node.js `socket.io`
//! retake.tv runs), with the real binary: the events arrive as that server sends them.

use retake_chat::fake;
use serde_json::json;

use super::{EVERY_HOOK, TOKEN_ADDRESS, live, trades};
use crate::support::interop::{RefOptions, RefServer};
use crate::support::{AGENT, DEADLINE, ROOM, TOKEN, start_fake, wait_until};

/// The real binary against the reference Socket.IO server (the Node.js `socket.io` retake.tv
/// runs) as all of retake.tv: each live-room event, sent as that server sends events, reaches
/// its hook, and a tip sent both ways is thanked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_live_room_events_reach_their_hooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let test = "live_events";
    let Some(mut server) = RefServer::start(test, RefOptions::default(), dir.path()).await else {
        return;
    };
    // Only to build the listener's command line: nothing may reach it.
    let fake = start_fake().await;
    std::fs::write(dir.path().join("config.toml"), crate::interop::BASE_CONFIG)
        .expect("write config");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("mkdir");
    let script = EVERY_HOOK.replace("ack(`pinned", "reply(`pinned");
    std::fs::write(scripts.join("personality.rhai"), script).expect("write script");
    // The listener's credentials, with the agent's token.
    let creds = dir.path().join("token-credentials.json");
    let json = json!({"access_token": TOKEN, "userDbId": ROOM, "agent_name": AGENT,
        "token_address": TOKEN_ADDRESS, "token_ticker": "RTK"});
    std::fs::write(&creds, json.to_string()).expect("write creds");
    let started = std::time::Instant::now();
    let mut child = server
        .listener(&fake, dir.path(), "v2")
        .env("RETAKE_CREDS", &creds)
        .spawn()
        .expect("the listener starts");
    let logs = || std::fs::read_to_string(dir.path().join("listener.log")).unwrap_or_default();
    let joined = |server: &RefServer, room: &str| server.joined_after(room, started).is_some();
    let rooms = wait_until(DEADLINE, || {
        joined(&server, &live()) && joined(&server, &trades())
    });
    assert!(rooms.await, "the live and trades rooms joined\n{}", logs());

    server
        .emit(
            &live(),
            "session_started",
            fake::session_started(ROOM, "s-9", "On air"),
        )
        .await;
    let session_room = fake::session_room(ROOM, "s-9");
    let learned = wait_until(DEADLINE, || joined(&server, &session_room)).await;
    assert!(learned, "the session's room joined\n{}", logs());
    server
        .emit(ROOM, "message", fake::chat_tip(ROOM, "tia", 3.0, "0x3", ""))
        .await;
    server
        .emit(
            &live(),
            "tip_received",
            fake::tip_received("tia", 3.0, "0x3"),
        )
        .await;
    server
        .emit(
            &trades(),
            "newtrade",
            fake::newtrade(TOKEN_ADDRESS, "sell", 9.5, "RTK"),
        )
        .await;
    server
        .emit(&session_room, "pinned", fake::pinned("mod", "hello"))
        .await;
    server
        .emit(
            &live(),
            "user_followed",
            json!({"follower_username": "fay"}),
        )
        .await;
    server.say_v2(ROOM, "end", "end", "gm").await;
    let end = tokio::time::Instant::now() + DEADLINE;
    let mut texts = Vec::new();
    while tokio::time::Instant::now() < end && !texts.iter().any(|t| t == "gm end") {
        texts = server
            .sent()
            .await
            .iter()
            .map(|s| {
                s["body"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        texts,
        [
            "live: On air (s-9, session_started)",
            "tip: 3 from tia (message, 0x3)",
            "trade: sell $9.5 RTK (newtrade)",
            "pinned: hello by mod (true)",
            "follow: fay",
            "gm end",
        ],
        "{}",
        logs()
    );
    crate::support::terminate(&child);
    let status = tokio::time::timeout(DEADLINE, child.wait()).await;
    assert!(
        status.is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "clean stop\n{}",
        logs()
    );
}
