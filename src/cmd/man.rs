//! `retake-chat man`: the manual page (roff) on stdout, generated on demand by clap_mangen
//! from the same clap types as `--help`: the program's page, its COMMANDS list, then a
//! section per command (and per `queue` action) with its synopsis, description and options.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Command, CommandFactory};

use crate::cli::Cli;
use crate::cli::version::{BUILD_DATE, COMMIT, TARGET};

/// Print the manual page.
pub fn man() -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    // Built, every command lists the global flags it takes and its full name.
    command.build();
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    for sub in commands(&command) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            page,
            ".TP\n\\fB{}\\fR\n{}",
            roff(sub.get_name()),
            roff(&about)
        )?;
    }
    for sub in commands(&command) {
        section(&mut page, &[sub.get_name()], sub)?;
    }
    // clap_mangen would run the lines of `--version` together.
    let version = format!(
        "{} (commit {COMMIT}, built {BUILD_DATE}, {TARGET}, scripting API {})",
        env!("CARGO_PKG_VERSION"),
        crate::script::SCRIPT_API_VERSION
    );
    writeln!(page, ".SH VERSION\n{}", roff(&version))?;
    super::print_stdout(&page)
}

/// The commands under `command` a reader looks up (not clap's own `help`).
fn commands(command: &Command) -> impl Iterator<Item = &Command> {
    command.get_subcommands().filter(|s| s.get_name() != "help")
}

/// `RETAKE-CHAT QUEUE TAKE`: one command's synopsis, description and options as
/// subsections of its own section, then those of the commands under it.
fn section(page: &mut Vec<u8>, path: &[&str], command: &Command) -> std::io::Result<()> {
    let title = format!("retake-chat {}", path.join(" ")).to_uppercase();
    writeln!(page, ".SH \"{}\"", roff(&title))?;
    let man = clap_mangen::Man::new(command.clone());
    let mut body = Vec::new();
    man.render_synopsis_section(&mut body)?;
    man.render_description_section(&mut body)?;
    man.render_options_section(&mut body)?;
    for line in String::from_utf8_lossy(&body).lines() {
        match line.strip_prefix(".SH ") {
            Some(heading) => writeln!(page, ".SS {heading}")?,
            None => writeln!(page, "{line}")?,
        }
    }
    for sub in commands(command) {
        let mut path = path.to_vec();
        path.push(sub.get_name());
        section(page, &path, sub)?;
    }
    Ok(())
}

/// Text as roff shows it literally: backslashes and hyphens escaped, and a line that would
/// start with a control character (`.`, `'`) guarded.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|line| match line.starts_with(['.', '\'']) {
            true => format!("\\&{line}"),
            false => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::roff;

    #[test]
    fn roff_text_is_shown_literally() {
        assert_eq!(roff("a-b \\n"), "a\\-b \\en");
        assert_eq!(roff(".TH x\n'y"), "\\&.TH x\n\\&'y");
    }
}
