//! What `retake-chat --version` says about the build: the commit (read from `.git` without
//! running git, "unknown" outside a checkout, such as a source tarball), the build date and
//! the target, passed to the compiler as `RETAKE_COMMIT`, `RETAKE_BUILD_DATE`,
//! `RETAKE_TARGET`. It reruns only when the checked-out commit changes, never on every build.
//! (Its functions are unit-tested from `src/cli/version.rs`.)

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let (commit, watched) = manifest_dir.map_or((None, Vec::new()), |dir| commit(&dir));
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|secs| secs.trim().parse().ok())
        .or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.ok().map(|d| d.as_secs())
        })
        .map_or_else(|| "unknown".to_string(), date);
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!(
        "cargo:rustc-env=RETAKE_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rustc-env=RETAKE_BUILD_DATE={date}");
    println!("cargo:rustc-env=RETAKE_TARGET={target}");
}

/// The checked-out commit of the repository at `dir` (12 hex digits), and the files whose
/// change means another commit: HEAD, the branch's ref (or the folder it would appear in)
/// and `packed-refs`. `None` and nothing to watch without a `.git`.
pub(crate) fn commit(dir: &Path) -> (Option<String>, Vec<PathBuf>) {
    let Some(git_dir) = git_dir(dir) else {
        return (None, Vec::new());
    };
    // A worktree keeps HEAD in its own folder and the branches in the common one.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .map_or_else(|_| git_dir.clone(), |rel| git_dir.join(rel.trim()));
    let head_path = git_dir.join("HEAD");
    let mut watched = vec![head_path.clone()];
    let Ok(head) = std::fs::read_to_string(&head_path) else {
        return (None, watched);
    };
    let head = head.trim();
    let hash = match head.strip_prefix("ref: ") {
        None => Some(head.to_string()),
        Some(name) => {
            let loose = [git_dir.join(name), common.join(name)]
                .into_iter()
                .find(|p| p.is_file());
            let packed_path = common.join("packed-refs");
            let packed = std::fs::read_to_string(&packed_path).ok();
            if packed.is_some() {
                watched.push(packed_path);
            }
            match loose {
                Some(path) => {
                    let hash = std::fs::read_to_string(&path).ok();
                    watched.push(path);
                    hash.map(|h| h.trim().to_string())
                }
                None => {
                    // Packed now; a new commit writes it here, so watch where it will appear.
                    watched.extend(common.join(name).parent().map(Path::to_path_buf));
                    packed.as_deref().and_then(|p| packed_ref(p, name))
                }
            }
        }
    };
    let hash = hash.filter(|h| h.len() >= 12 && h.chars().all(|c| c.is_ascii_hexdigit()));
    (hash.map(|h| h[..12].to_string()), watched)
}

/// The repository folder of the checkout at `dir`: `.git` itself, or where a `.git` file
/// (a worktree, a submodule) points.
fn git_dir(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let target = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
    Some(if target.is_absolute() {
        target
    } else {
        dir.join(target)
    })
}

/// The hash of `name` in a `packed-refs` file.
fn packed_ref(packed: &str, name: &str) -> Option<String> {
    packed.lines().find_map(|line| {
        let (hash, line_name) = line.split_once(' ')?;
        (line_name == name).then(|| hash.to_string())
    })
}

/// `2026-12-02` for seconds since 1970 (UTC): Howard Hinnant's days-to-civil algorithm.
pub(crate) fn date(secs: u64) -> String {
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
