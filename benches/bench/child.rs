//! The listener as the benchmark runs it: a child process of the release binary in a temp
//! directory ([`Fixture`]: credentials, config, the wake command's file), started until the
//! fake sees it join, stopped with SIGTERM ([`Running`], which also samples its open file
//! descriptors), and what `/proc` says about it (CPU ticks, resident memory).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use retake_chat::fake::{FakeRetake, wait_until};
use serde_json::json;
use tempfile::TempDir;

use super::{AGENT, PATIENCE, ROOM, TOKEN};

/// The temp directory with credentials, config and the wake command's output file.
pub struct Fixture {
    pub dir: TempDir,
    pub creds: PathBuf,
    pub config: PathBuf,
    pub wake_file: PathBuf,
    pub url: String,
}

impl Fixture {
    pub fn new(fake: &FakeRetake) -> Result<Self> {
        let dir = tempfile::tempdir().context("cannot create a temp directory")?;
        let creds = dir.path().join("credentials.json");
        let creds_json = json!({ "access_token": TOKEN, "userDbId": ROOM, "agent_name": AGENT });
        fs::write(&creds, creds_json.to_string()).context("cannot write the credentials")?;
        let wake_file = dir.path().join("wakes.txt");
        // A JSON string is a valid TOML basic string.
        let wake_path = serde_json::to_string(&wake_file.to_string_lossy())?;
        let config = dir.path().join("config.toml");
        let toml = format!(
            "[send]\nper_30s = 0\n\n[wake]\ncommand = [\"sh\", \"-c\", \"echo w >> \\\"$1\\\"\", \"sh\", {wake_path}]\n"
        );
        fs::write(&config, toml).context("cannot write the config file")?;
        Ok(Self {
            creds,
            config,
            wake_file,
            url: fake.url(),
            dir,
        })
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Start the binary as a user would, logging at `warn` into a file.
    pub fn spawn(&self, bin: &Path) -> Result<Child> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .context("cannot open the child's log file")?;
        Command::new(bin)
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "warn")
            .env("RETAKE_CREDS", &self.creds)
            .env("RETAKE_CHAT_URL", &self.url)
            .env("RETAKE_API_URL", &self.url)
            .env("RETAKE_STATE_DIR", self.state_dir())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))
    }

    /// The child's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Spawn, wait for the fake to see `joinRoom`, return the time it took.
pub fn spawn_and_join(
    fixture: &Fixture,
    bin: &Path,
    fake: &FakeRetake,
) -> Result<(Child, Duration)> {
    let joins_before = joins(fake);
    let started = Instant::now();
    let mut child = fixture.spawn(bin)?;
    loop {
        if joins(fake) > joins_before {
            return Ok((child, started.elapsed()));
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the listener exited ({status}) before joining:\n{}",
                fixture.log_tail()
            );
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            bail!(
                "the listener did not join within {PATIENCE:?}:\n{}",
                fixture.log_tail()
            );
        }
        thread::sleep(Duration::from_micros(200));
    }
}

pub fn joins(fake: &FakeRetake) -> usize {
    fake.joins().get(ROOM).copied().unwrap_or(0)
}

/// The listener for the load runs, with a thread counting its open file descriptors.
pub struct Running {
    child: Child,
    pub pid: u32,
    sampling: Arc<AtomicBool>,
    peak_fds: Arc<AtomicUsize>,
    sampler: Option<thread::JoinHandle<()>>,
}

impl Running {
    pub fn spawn(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Self> {
        let (child, _) = spawn_and_join(fixture, bin, fake)?;
        let pid = child.id();
        let sampling = Arc::new(AtomicBool::new(true));
        let peak_fds = Arc::new(AtomicUsize::new(0));
        let sampler = {
            let (sampling, peak_fds) = (sampling.clone(), peak_fds.clone());
            let dir = PathBuf::from(format!("/proc/{pid}/fd"));
            thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    if let Ok(entries) = fs::read_dir(&dir) {
                        peak_fds.fetch_max(entries.count(), Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Ok(Self {
            child,
            pid,
            sampling,
            peak_fds,
            sampler: Some(sampler),
        })
    }

    /// SIGTERM, wait (killing after [`PATIENCE`]); returns the most fds seen open.
    pub fn stop(&mut self) -> Result<usize> {
        self.sampling.store(false, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        ensure!(status.success(), "kill -TERM {} failed", self.pid);
        let asked = Instant::now();
        while self.child.try_wait()?.is_none() {
            if asked.elapsed() > PATIENCE {
                self.child.kill()?;
                bail!("the listener did not stop within {PATIENCE:?} of SIGTERM");
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(self.peak_fds.load(Ordering::Relaxed))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `condition` (the fake's [`wait_until`]) for at most [`PATIENCE`]; an error naming
/// `what` if it never held.
pub async fn wait_for(condition: impl FnMut() -> bool, what: &str) -> Result<()> {
    ensure!(
        wait_until(PATIENCE, condition).await,
        "timed out waiting until {what}"
    );
    Ok(())
}

/// Clock ticks of a process and of its waited-for children.
pub struct Ticks {
    pub own: u64,
    pub children: u64,
}

/// utime+stime and cutime+cstime from `/proc/<pid>/stat` (`pid` may be `self`).
pub fn cpu_ticks(pid: &str) -> Result<Ticks> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name may hold spaces; every field after its closing parenthesis is numeric.
    let after_name = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11) // state … cmajflt; then utime stime cutime cstime (fields 14–17)
        .take(4)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected {path}"))?;
    ensure!(fields.len() == 4, "unexpected {path}");
    Ok(Ticks {
        own: fields[0] + fields[1],
        children: fields[2] + fields[3],
    })
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmRSS` or `VmHWM`.
pub fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {key} in {path}"))
}
