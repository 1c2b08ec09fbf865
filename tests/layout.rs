//! The house's shape, kept: no import cycle between the top-level modules of `src/` (each
//! type lives with its owner, so the layers only point down), and no function in `src/` over
//! 80 lines unless a comment just above it says why it is long. Both read the sources as
//! text: `crate::…` paths outside test modules, and braces counted from each `fn`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest function allowed without a reason in a comment.
const MAX_FN_LINES: usize = 80;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> (PathBuf, Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    (root, files)
}

/// The text before its test module, if any (tests may reach anywhere).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// `act` for `src/act/queue/mod.rs`, `daemon` for `src/daemon.rs`; `None` for the crate
/// roots and the binaries, which may use everything.
fn top_module(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

fn ident_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules a file's code names through `crate::`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        found.insert(ident_at(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident_at(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

#[test]
fn no_import_cycle_between_the_top_level_modules_of_src() {
    let (root, files) = src();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(me) = top_module(&root, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file");
        let edges = graph.entry(me.clone()).or_default();
        edges.extend(uses(without_tests(&text)).into_iter().filter(|m| *m != me));
    }
    assert!(
        graph.len() > 20,
        "the modules of src/ were found: {graph:?}"
    );
    // Depth-first: a module met again while still on the path closes a cycle.
    fn visit(
        at: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(start) = path.iter().position(|m| m == at) {
            panic!(
                "import cycle: {} -> {at} (move the type to its owner)",
                path[start..].join(" -> ")
            );
        }
        if !done.insert(at.to_string()) {
            return;
        }
        path.push(at.to_string());
        for next in graph.get(at).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        // Visited and closed: reached again from elsewhere, it cannot be on a cycle.
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_import_check_sees_paths_and_groups() {
    let found = uses(
        "use crate::config::{A, B};\nuse crate::{health::X, time::now_ms};\nlet x = crate::event::f();",
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["config", "event", "health", "time"]
    );
}

/// Where `line` starts a function: `fn`, after any of `pub(..)`, `const`, `async`, `unsafe`.
fn starts_fn(line: &str) -> bool {
    let mut rest = line.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("pub") {
            rest = after.trim_start();
            if let Some(inner) = rest.strip_prefix('(') {
                rest = inner.split_once(')').map_or("", |(_, r)| r).trim_start();
            }
            continue;
        }
        match ["const ", "async ", "unsafe "]
            .iter()
            .find_map(|k| rest.strip_prefix(k))
        {
            Some(after) => rest = after.trim_start(),
            None => return rest.starts_with("fn "),
        }
    }
}

/// The line's code for counting braces: strings emptied, a `//` comment cut off.
fn code(line: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek() == Some(&'/') => break,
            '\'' => {
                // A char literal such as '{' holds no brace.
                let literal: String = chars.clone().take(3).collect();
                if literal.starts_with("{'") || literal.starts_with("}'") {
                    chars.next();
                    chars.next();
                } else {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Each function in `text` longer than [`MAX_FN_LINES`] without a reason above it, as
/// `(first line, lines)`.
fn long_functions(text: &str) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        if !starts_fn(line) {
            continue;
        }
        let (mut depth, mut opened) = (0i64, false);
        let mut end = None;
        for (at, line) in lines.iter().enumerate().skip(start) {
            let code = code(line);
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                end = Some(at);
                break;
            }
            if !opened && code.trim_end().ends_with(';') {
                break;
            }
        }
        let Some(end) = end else { continue };
        let length = end - start + 1;
        let reason = lines[start.saturating_sub(4)..start]
            .iter()
            .any(|l| l.trim_start().starts_with("//") && l.contains("long"));
        if length > MAX_FN_LINES && !reason {
            long.push((start + 1, length));
        }
    }
    long
}

#[test]
fn no_function_in_src_is_over_80_lines_without_a_reason() {
    let (root, files) = src();
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a source file");
        for (line, length) in long_functions(&text) {
            let rel = file
                .strip_prefix(&root)
                .unwrap_or(file)
                .display()
                .to_string();
            long.push(format!("src/{rel}:{line} is {length} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "split these, or say above each why it is long:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_check_counts_braces_not_strings() {
    let body = "    let _ = \"{\";\n".repeat(MAX_FN_LINES);
    let long = format!("fn f() {{\n{body}}}\n");
    assert_eq!(long_functions(&long), [(1, MAX_FN_LINES + 2)]);
    let reasoned = format!("// one table, long on purpose\n{long}");
    assert!(long_functions(&reasoned).is_empty());
    let short = "pub(crate) async fn g() {\n    if x { '{' } else { '}' }\n}\n";
    assert!(long_functions(short).is_empty());
}
