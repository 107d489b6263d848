//! Snapshots: the insta filters for what changes from run to run (port IDs, family IDs, PIDs,
//! timestamps, the lab's paths), the suite's settings and macros, and how text is laid out.

use std::sync::OnceLock;

use crate::lab::lab;

/// The insta filters of the suite: kernel-assigned numbers that change from run to run.
///
/// Also used by [`normalize`] to compare the three clients' kernel-log lines.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        // Netlink port IDs: the first socket of a process gets its PID, the next ones random
        // negative numbers; the module logs them in decimal.
        (r"\bportid[ =:]+-?\d+", "portid [PORTID]"),
        (r"\bport[ =:]+-?\d+", "port [PORTID]"),
        (r"\bpid[ =:]+\d+", "pid [PID]"),
        // Generic netlink family and multicast group IDs are allocated at registration.
        (r"\bfamily id[ =:]+\d+", "family id [FAMILY_ID]"),
        (r"\bgroup id[ =:]+\d+", "group id [GROUP_ID]"),
        (r"\bfamily[ =:]+0x[0-9a-f]+", "family [FAMILY_ID]"),
        // Kernel-log and client timestamps.
        (r"\b\d+\.\d{6}\b", "[TIMESTAMP]"),
    ]
}

/// Applies [`filters`] to `text`.
pub fn normalize(text: &str) -> String {
    static COMPILED: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        filters()
            .into_iter()
            .map(|(pattern, replacement)| (regex::Regex::new(pattern).unwrap(), replacement))
            .collect()
    });
    let mut text = text.to_owned();
    for (regex, replacement) in compiled {
        text = regex.replace_all(&text, *replacement).into_owned();
    }
    text
}

/// [`normalize`] for the tour's annotated view: on a line whose field the kernel or the client
/// picks at run time (seq, port, family id, group id), the bytes and the number become
/// placeholders, so that a real capture compares with the tutorial's.
pub fn normalize_tour(text: &str) -> String {
    static VARIES: OnceLock<regex::Regex> = OnceLock::new();
    let varies = VARIES.get_or_init(|| {
        regex::Regex::new(r"(?m)^    [0-9a-f ]{23}(  .*?\b(?:seq|port|family id|group id) )\d+.*$")
            .unwrap()
    });
    normalize(&varies.replace_all(text, "    [varies]               ${1}[N]"))
}

/// insta settings for every snapshot of the suite: the [`filters`], and the lab's paths.
pub fn insta_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (pattern, replacement) in filters() {
        settings.add_filter(pattern, replacement);
    }
    let lab = lab();
    settings.add_filter(
        &regex::escape(&lab.kmod_dir.to_string_lossy()),
        "[KMOD_DIR]",
    );
    settings.add_filter(&regex::escape(&lab.bin_dir.to_string_lossy()), "[BIN_DIR]");
    settings
}

/// The suite's settings with the snapshot named for a kernel behaviour, `<test>@<suffix>`, where
/// a kernel really differs (the snapshot then says why by its name), e.g. `before-6.0`.
pub fn behaviour_settings(suffix: Option<&str>) -> insta::Settings {
    let mut settings = insta_settings();
    if let Some(suffix) = suffix {
        settings.set_snapshot_suffix(suffix);
    }
    settings
}

/// Snapshots `$doc` with the suite's [`insta_settings`], named after the calling test.
#[macro_export]
macro_rules! snapshot {
    ($doc:expr) => {
        $crate::snapshot::insta_settings().bind(|| ::insta::assert_snapshot!($doc))
    };
}

/// Like [`snapshot!`], with the snapshot named for a kernel behaviour (see
/// [`behaviour_settings`]).
#[macro_export]
macro_rules! snapshot_for {
    ($suffix:expr, $doc:expr) => {
        $crate::snapshot::behaviour_settings($suffix).bind(|| ::insta::assert_snapshot!($doc))
    };
}

/// `args` as a shell would need them typed (single quotes where needed), for snapshot headers.
pub fn shell_words(args: &[&str]) -> String {
    let quote = |arg: &&str| {
        let plain = !arg.is_empty()
            && arg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+".contains(&b));
        if plain {
            arg.to_string()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// Joins kernel-log lines into a text (each line ending with a newline).
pub fn lines_text(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

#[cfg(test)]
mod tests {
    /// `.cargo/config.toml` sets it at build time, so the guest needs no `cargo` for insta.
    #[test]
    fn insta_knows_the_workspace_without_cargo() {
        let root = std::path::Path::new(env!("INSTA_WORKSPACE_ROOT"));
        assert!(
            root.join("tests/tests/suite/snapshots").is_dir(),
            "{}",
            root.display()
        );
    }
}
