//! How log lines reach stderr safely: in readable lines every field value and message is
//! [escaped](crate::visible::escape), so a viewer's newline cannot start a forged line and
//! an escape sequence never reaches the terminal; JSON lines get the characters JSON leaves
//! raw as `\uXXXX`. The binary (`main.rs`) picks the format and the filter.

use std::fmt;
use std::io;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;

use crate::visible;

/// The readable format's fields: `message key=value …` as `tracing_subscriber` writes them,
/// each value on one line with its active characters escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = Escaping {
            writer: &mut writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Escaping<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    result: fmt::Result,
    first: bool,
}

impl Visit for Escaping<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        // The `log` crate's metadata, already shown as the target.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let text = format!("{value:?}");
        let text = visible::escape(&text);
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = match name {
            "message" => write!(self.writer, "{separator}{text}"),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{separator}{name}={text}")
            }
        };
    }
}

/// stderr for JSON lines, with DEL, C1 and bidi characters escaped (JSON escapes the rest).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonStderr;

impl<'a> MakeWriter<'a> for JsonStderr {
    type Writer = JsonWriter;

    fn make_writer(&'a self) -> Self::Writer {
        JsonWriter(io::stderr())
    }
}

/// One JSON log line on its way to stderr; see [`JsonStderr`].
#[derive(Debug)]
pub struct JsonWriter(io::Stderr);

impl io::Write for JsonWriter {
    /// Takes the whole buffer at once: the formatter hands over one complete line per call,
    /// so a character is never split between two writes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(visible::json(text).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer, to read what was logged.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fields_and_messages_stay_on_their_line() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(EscapedFields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let author = "eve\nERROR forged\r\u{1b}[2K";
            tracing::info!(id = "m1", author = %author, r#type = ?"x\u{202e}", "said {:?}", "hi");
            tracing::info!("queued: {}", "a\nb");
        });
        let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
        assert_eq!(
            text,
            " INFO said \"hi\" id=\"m1\" author=eve\\nERROR forged\\r\\u{1b}[2K type=\"x\\u{202e}\"\n INFO queued: a\\nb\n",
        );
    }
}
