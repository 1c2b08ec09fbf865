//! `retake-chat sandbox`: the whole listener against the in-process fake retake.tv on
//! loopback, with made-up credentials and a throwaway state directory, so a personality can
//! be tried (and hot-reloaded) without going live and without touching live state.
//!
//! The user types viewer lines; what happens is printed as it happens (`sandbox/screen.rs`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::cli::SandboxArgs;
use crate::config::{self, ApiVersion, Config, Credentials, Env, ScriptChoice, Secret};
use crate::fake::{FakeOptions, FakeRetake};
use crate::health::{Health, now_ms};

mod screen;
use screen::Screen;

const ROOM: &str = "sandbox";
const BOT: &str = "SandboxBot";
/// How often the screen is brought up to date.
const POLL: Duration = Duration::from_millis(20);
/// Once every typed line is decided, output is complete after this long without news.
const SETTLE: Duration = Duration::from_millis(300);

const HELP: &str = "\
type a chat line to say it as a viewer; or:
  /as NAME text    say it as someone else
  /tip AMOUNT      tip the stream (and /tip AMOUNT text to add a message)
  /follow [NAME]   follow the stream
  /help            this list
  /quit            leave (so does ctrl-d)";

/// Run the sandbox until `/quit` or the end of input.
pub fn sandbox(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let script = config::script_choice(args.script.clone(), &env);
    let state_dir =
        std::env::temp_dir().join(format!("retake-chat-sandbox-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(session(script, state_dir.clone()));
    let _ = std::fs::remove_dir_all(&state_dir);
    result.map(|()| ExitCode::SUCCESS)
}

async fn session(script: ScriptChoice, state_dir: PathBuf) -> anyhow::Result<()> {
    let fake = FakeRetake::start(FakeOptions {
        agent_name: BOT.into(),
        user_db_id: ROOM.into(),
        ..FakeOptions::default()
    })
    .await?;
    let interactive = std::io::stdin().is_terminal();
    match &script {
        ScriptChoice::File(path) => eprintln!(
            "sandbox: personality {} (edit it: it reloads)",
            path.display()
        ),
        ScriptChoice::Embedded => {
            eprintln!("sandbox: the built-in personality (--script PATH to try yours)")
        }
    }
    if interactive {
        eprintln!("{HELP}");
    }
    let config = sandbox_config(&fake, script, &state_dir);
    let decisions = config.decisions_path();
    let health = Arc::new(Health::new());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::daemon::run_with(config, health.clone(), async {
        let _ = stop_rx.await;
    }));
    let joined = wait(Duration::from_secs(10), || fake.room_size(ROOM) >= 1).await;
    if !joined {
        anyhow::bail!(
            "the sandbox listener did not join its room on {}",
            fake.url()
        );
    }
    let mut screen = Screen::new(decisions);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut viewer = Viewer::default();
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => match viewer.command(&line) {
                    Command::Say(room, event, payload) => {
                        fake.emit(&room, event, payload).await;
                    }
                    Command::Help => eprintln!("{HELP}"),
                    Command::Quit => break,
                    Command::Nothing => {}
                    Command::Bad(why) => eprintln!("{why} (/help lists the commands)"),
                },
                Ok(None) | Err(_) => break,
            },
            _ = poll.tick() => screen.update(&fake, &health),
        }
    }
    // Let everything typed be decided and acted on before leaving.
    let decided = |h: &Health| h.counters.messages_in.get() + h.counters.malformed.get();
    wait(Duration::from_secs(10), || {
        screen.update(&fake, &health);
        decided(&health) >= viewer.said
    })
    .await;
    let mut quiet_since = tokio::time::Instant::now();
    let mut seen = screen.printed;
    while quiet_since.elapsed() < SETTLE {
        tokio::time::sleep(POLL).await;
        screen.update(&fake, &health);
        if screen.printed != seen {
            seen = screen.printed;
            quiet_since = tokio::time::Instant::now();
        }
    }
    let _ = stop_tx.send(());
    daemon.await??;
    Ok(())
}

/// Poll `condition` every [`POLL`] until it holds or `within` passes.
async fn wait(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + within;
    while !condition() {
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

fn sandbox_config(fake: &FakeRetake, script: ScriptChoice, state_dir: &Path) -> Config {
    let mut config = Config {
        creds: Credentials {
            access_token: Secret::new("sandbox-token"),
            user_db_id: ROOM.into(),
            agent_name: BOT.into(),
        },
        // v2 so that tips and follows exist.
        api: ApiVersion::V2,
        chat_url: fake.url(),
        api_url: fake.url(),
        state_dir: state_dir.to_path_buf(),
        script,
        script_limits: Default::default(),
        wake: Default::default(),
        send: Default::default(),
        queue: Default::default(),
        connection: Default::default(),
        max_reconnects: None,
        health: Default::default(),
        metrics_addr: None,
        tls: Default::default(),
        decisions: Default::default(),
        backlog: Default::default(),
    };
    // Nothing to wake here; the screen says when the agent would be.
    config.wake.command.clear();
    config
}

/// What one typed line asks for.
enum Command {
    Say(String, &'static str, Value),
    Help,
    Quit,
    Nothing,
    Bad(String),
}

/// The viewer the user plays, and how many events they caused.
#[derive(Default)]
struct Viewer {
    said: u64,
}

impl Viewer {
    fn command(&mut self, line: &str) -> Command {
        let line = line.trim();
        let (author, text) = match line.split_once(' ').unwrap_or((line, "")) {
            ("", _) => return Command::Nothing,
            ("/help", _) => return Command::Help,
            ("/quit", _) => return Command::Quit,
            ("/as", rest) => match rest.trim().split_once(' ') {
                Some((name, text)) if !text.trim().is_empty() => (name, text.trim()),
                _ => return Command::Bad("usage: /as NAME text".into()),
            },
            ("/tip", rest) => {
                let (amount, text) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                let Ok(amount) = amount.parse::<f64>() else {
                    return Command::Bad("usage: /tip AMOUNT [text]".into());
                };
                return self.event(
                    ROOM,
                    "message",
                    json!({
                        "type": "tip", "sender_username": "viewer", "sender_user_id": "viewer",
                        "text": text, "tip_data": { "amount": amount },
                    }),
                );
            }
            ("/follow", name) => {
                let name = if name.trim().is_empty() {
                    "viewer"
                } else {
                    name.trim()
                };
                return self.event(
                    &format!("live_{ROOM}"),
                    "user_followed",
                    json!({
                        "follower_username": name, "follower_id": name,
                    }),
                );
            }
            (word, _) if word.starts_with('/') => {
                return Command::Bad(format!("unknown command {word}"));
            }
            _ => ("viewer", line),
        };
        self.event(ROOM, "message", json!({
            "type": "message", "sender_username": author, "sender_user_id": author, "text": text,
        }))
    }

    /// An event with a fresh id and the current time.
    fn event(&mut self, room: &str, name: &'static str, mut payload: Value) -> Command {
        self.said += 1;
        payload["id"] = json!(format!("sandbox-{}", self.said));
        payload["timestamp"] = json!(now_ms().to_string());
        payload["streamer_id"] = json!(ROOM);
        Command::Say(room.to_string(), name, payload)
    }
}
