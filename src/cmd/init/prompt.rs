//! `init`'s questions on the terminal: asked on stderr, answered on stdin, the access token
//! without echo. The terminal is given back as it was even when Ctrl-C, SIGTERM or a hang-up
//! ends the program mid-answer (a streamer's shell must not be left typing blind).

use std::io::{self, BufRead, Write};

/// Ask `question` and read one line; `None` at the end of input. With `hidden`, what is
/// typed is not shown (on a terminal).
pub fn ask(question: &str, hidden: bool) -> io::Result<Option<String>> {
    // Echo off before the question shows: whatever is typed once it shows stays hidden.
    let _echo = if hidden { EchoOff::start()? } else { None };
    let mut err = io::stderr().lock();
    write!(err, "{question}")?;
    err.flush()?;
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line)?;
    Ok((read > 0).then(|| line.trim_end_matches(['\n', '\r']).to_string()))
}

#[cfg(unix)]
use unix::EchoOff;

#[cfg(not(unix))]
struct EchoOff;

#[cfg(not(unix))]
impl EchoOff {
    fn start() -> io::Result<Option<Self>> {
        Ok(None)
    }
}

#[cfg(unix)]
mod unix {
    use std::io;
    use std::mem::MaybeUninit;
    use std::sync::OnceLock;

    /// The terminal's settings before the first hidden question, for the signal handler.
    static SAVED: OnceLock<libc::termios> = OnceLock::new();

    /// What ends the program while it waits for an answer.
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Echo off on stdin's terminal until dropped (the Enter still moves to the next line).
    pub struct EchoOff {
        previous: Vec<(libc::c_int, libc::sigaction)>,
    }

    impl EchoOff {
        /// Turn echo off; `None` when stdin is not a terminal (nothing to hide from).
        pub fn start() -> io::Result<Option<Self>> {
            let mut term = MaybeUninit::<libc::termios>::uninit();
            // SAFETY: tcgetattr writes a whole termios when it returns 0.
            if unsafe { libc::tcgetattr(libc::STDIN_FILENO, term.as_mut_ptr()) } != 0 {
                return Ok(None);
            }
            // SAFETY: initialised by the successful call above.
            let term = unsafe { term.assume_init() };
            let saved = *SAVED.get_or_init(|| term);
            let mut previous = Vec::with_capacity(SIGNALS.len());
            for signal in SIGNALS {
                // SAFETY: a zeroed sigaction is valid; the handler only calls
                // async-signal-safe functions (tcsetattr, signal, raise).
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = restore_and_reraise as *const () as usize;
                    libc::sigemptyset(&mut action.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(signal, &action, &mut old) == 0 {
                        previous.push((signal, old));
                    }
                }
            }
            let guard = Self { previous };
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            quiet.c_lflag |= libc::ECHONL;
            // SAFETY: a valid termios for stdin's terminal.
            if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Some(guard))
        }
    }

    impl Drop for EchoOff {
        fn drop(&mut self) {
            if let Some(saved) = SAVED.get() {
                // SAFETY: the settings read from this terminal.
                unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
            }
            for (signal, old) in &self.previous {
                // SAFETY: the actions that were installed before ours.
                unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
            }
        }
    }

    /// Give the terminal back, then die of the signal as if we had not caught it.
    extern "C" fn restore_and_reraise(signal: libc::c_int) {
        if let Some(saved) = SAVED.get() {
            // SAFETY: async-signal-safe calls only, on settings saved before installing us.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
        // SAFETY: as above.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}
