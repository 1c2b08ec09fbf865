//! A pseudo-terminal for tests of what a program does on a real terminal: the child's stdin,
//! stdout and stderr are its terminal side; the test types and reads the screen on the other.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// The test's side of a terminal, and everything the program has shown on it.
pub struct Pty {
    master: File,
    slave: Option<OwnedFd>,
    screen: Arc<Mutex<String>>,
    /// How much of the screen `wait_for` has consumed.
    seen: usize,
}

impl Pty {
    /// A new terminal pair, 80 columns wide.
    pub fn open() -> Self {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty fills both descriptors on success; the size is read only.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptors that nothing else owns.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let screen = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().expect("clone the master");
        let shown = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the program (the last holder of the terminal side) exits.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                shown.lock().expect("screen").push_str(&text);
            }
        });
        Self {
            master,
            slave: Some(slave),
            screen,
            seen: 0,
        }
    }

    /// `cmd` with the terminal as its stdin, stdout and stderr (once: the test keeps no copy,
    /// so the screen ends when the program does).
    pub fn attach<'a>(&mut self, cmd: &'a mut Command) -> &'a mut Command {
        let slave = self.slave.take().expect("attach once");
        let dup = || Stdio::from(slave.try_clone().expect("dup the terminal"));
        cmd.stdin(dup()).stdout(dup()).stderr(dup())
    }

    /// Wait until `text` shows after what was waited for before; fails the test past the
    /// deadline, with the screen.
    pub fn wait_for(&mut self, text: &str) {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(at) = screen.get(self.seen..).and_then(|rest| rest.find(text)) {
                self.seen += at + text.len();
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "never showed {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Type `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\r").as_bytes())
            .expect("type");
    }

    /// Whether the terminal echoes what is typed (its settings, read on the test's side).
    pub fn echoes(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut term = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios when it returns 0.
        let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), term.as_mut_ptr()) };
        assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        // SAFETY: filled by the successful call.
        unsafe { term.assume_init() }.c_lflag & libc::ECHO != 0
    }

    /// Everything shown so far.
    pub fn screen(&self) -> String {
        self.screen.lock().expect("screen").clone()
    }
}
