//! What `--version` prints: the version, the commit and date of the build, its target and
//! the scripting API the binary provides (what a shared script's `//! api: N` is held to).
//! The build facts come from `build.rs`.

use std::sync::LazyLock;

use crate::script::SCRIPT_API_VERSION;

/// The commit the binary was built from (12 hex digits), or `unknown` outside a git checkout.
pub const COMMIT: &str = env!("RETAKE_COMMIT");
/// The build's date, `YYYY-MM-DD` (UTC; `SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("RETAKE_BUILD_DATE");
/// The target triple it was built for.
pub const TARGET: &str = env!("RETAKE_TARGET");

/// The text after the program's name for `--version` (`-V` prints the version alone).
pub static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\ncommit:        {COMMIT}\nbuilt:         {BUILD_DATE}\ntarget:        {TARGET}\nscripting API: {SCRIPT_API_VERSION}",
        env!("CARGO_PKG_VERSION")
    )
});

/// `LONG_VERSION` for clap's `long_version`.
pub fn long_version() -> &'static str {
    LONG_VERSION.as_str()
}

#[cfg(test)]
#[path = "../../build.rs"]
#[allow(dead_code)]
mod build_script;

#[cfg(test)]
mod tests {
    use super::build_script::{commit, date};

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_798_761_600), "2027-01-01");
        assert_eq!(date(1_798_761_599), "2026-12-31");
    }

    #[test]
    fn a_tree_without_git_has_no_commit_and_watches_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(commit(dir.path()), (None, Vec::new()));
    }

    #[test]
    fn the_commit_is_read_from_a_loose_ref_a_packed_one_or_a_detached_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).expect("mkdir");
        let hash = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
        std::fs::write(
            git.join("packed-refs"),
            format!("# pack-refs\n{hash} refs/heads/main\n"),
        )
        .expect("packed");
        let (found, watched) = commit(dir.path());
        assert_eq!(found.as_deref(), Some("0123456789ab"));
        assert_eq!(
            watched,
            [
                git.join("HEAD"),
                git.join("packed-refs"),
                git.join("refs/heads")
            ]
        );
        let newer = "fedcba9876543210fedcba9876543210fedcba98";
        std::fs::write(git.join("refs/heads/main"), format!("{newer}\n")).expect("ref");
        let (found, watched) = commit(dir.path());
        assert_eq!(found.as_deref(), Some("fedcba987654"));
        assert!(
            watched.contains(&git.join("refs/heads/main")),
            "{watched:?}"
        );
        std::fs::write(git.join("HEAD"), format!("{hash}\n")).expect("detached");
        assert_eq!(commit(dir.path()).0.as_deref(), Some("0123456789ab"));
    }

    #[test]
    fn a_worktree_reads_head_from_its_own_folder_and_branches_from_the_common_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let common = dir.path().join("main/.git");
        let own = common.join("worktrees/wt");
        std::fs::create_dir_all(&own).expect("mkdir");
        std::fs::create_dir_all(common.join("refs/heads")).expect("mkdir");
        let hash = "89abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(common.join("refs/heads/wt"), hash).expect("ref");
        std::fs::write(own.join("HEAD"), "ref: refs/heads/wt\n").expect("HEAD");
        std::fs::write(own.join("commondir"), "../..\n").expect("commondir");
        let checkout = dir.path().join("wt");
        std::fs::create_dir(&checkout).expect("mkdir");
        std::fs::write(
            checkout.join(".git"),
            format!("gitdir: {}\n", own.display()),
        )
        .expect(".git");
        assert_eq!(commit(&checkout).0.as_deref(), Some("89abcdef0123"));
    }
}
