//! The template's names and how `cargo lab new` renames them: every spelling of the family's name
//! (the spec's, the C macros', the module's, the classic module's), in files and in paths.

pub mod c_align;
pub mod tutorial;

use aho_corasick::{AhoCorasick, MatchKind};

/// The family this project defines, as its spec names it.
pub const FAMILY: &str = "gnl_foobar_xmpl";

/// The prefix of the module's own C functions and types (`xmpl_echo_doit`, `XMPL_STAT_ECHO`).
pub const C_PREFIX: &str = "xmpl_";

/// The classic netlink module beside the family (its protocol is `NETLINK_` and the rest).
pub const CLASSIC: &str = "nl_foobar_xmpl";

/// The README's one line that names the template's family after `cargo lab new`.
pub const CREDIT: &str = "Started with `cargo lab new` from genl-lab, the test lab of the";

/// Where this project's code names example families (the renamer and its tests).
pub const SHOWS_EXAMPLE_FAMILIES: &[&str] = &["vm/src/template/", "vm/src/cmd/new"];

/// Renames every spelling of [`FAMILY`], [`C_PREFIX`] and [`CLASSIC`] to a new family's.
pub struct Renamer {
    from: AhoCorasick,
    to: Vec<String>,
}

impl Renamer {
    /// The rules for the family `name` (already checked by [`check_name`]).
    pub fn new(name: &str) -> Renamer {
        let (upper, kebab) = (name.to_uppercase(), name.replace('_', "-"));
        let classic_rest = CLASSIC.strip_prefix("nl_").unwrap_or(CLASSIC);
        let rules = [
            (FAMILY.to_owned(), name.to_owned()),
            (FAMILY.to_uppercase(), upper.clone()),
            (FAMILY.replace('_', "-"), kebab),
            (CLASSIC.to_owned(), format!("nl_{name}")),
            (CLASSIC.to_uppercase(), format!("NL_{upper}")),
            (
                format!("NETLINK_{}", classic_rest.to_uppercase()),
                format!("NETLINK_{upper}"),
            ),
            // `_nl_` as in-tree families name their handlers (`netdev_nl_dev_get_doit`), and so
            // that the module's `XMPL_MCGRP_EVENTS` stays apart from the UAPI's `<FAMILY>_MCGRP_EVENTS`.
            (C_PREFIX.to_owned(), format!("{name}_nl_")),
            (C_PREFIX.to_uppercase(), format!("{upper}_NL_")),
        ];
        // Leftmost-longest: `gnl_foobar_xmpl` wins over the `xmpl_` or `nl_foobar_xmpl` inside it.
        let from = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(rules.iter().map(|(from, _)| from))
            .expect("literal patterns");
        Renamer {
            from,
            to: rules.into_iter().map(|(_, to)| to).collect(),
        }
    }

    /// `text` with every spelling renamed.
    pub fn text(&self, text: &str) -> String {
        self.from.replace_all(text, &self.to)
    }
}

/// Names the rename would make ambiguous in `texts`: two different names that become one, or a
/// renamed one that is already there (`genl_ops` for a family called `genl`), one line each.
pub fn clashes<'a>(renamer: &Renamer, texts: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut words = std::collections::BTreeSet::new();
    for text in texts {
        words.extend(text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')));
    }
    let mut became: std::collections::BTreeMap<String, &str> = Default::default();
    let mut out = Vec::new();
    for word in &words {
        let new = renamer.text(word);
        if new == *word {
            continue;
        }
        if words.contains(new.as_str()) {
            out.push(format!(
                "{word} would become {new}, which the project already has"
            ));
        } else if let Some(other) = became.insert(new.clone(), word) {
            out.push(format!("{other} and {word} would both become {new}"));
        }
    }
    out
}

/// Why `name` cannot name a generic netlink family, if it cannot.
pub fn check_name(name: &str) -> Option<String> {
    let valid = name.len() <= 15
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (!valid).then(|| {
        format!(
            "{name:?} is not a valid generic netlink family name: use lowercase letters, digits \
             and `_`, starting with a letter, at most 15 bytes (GENL_NAMSIZ is 16 with its NUL)"
        )
    })
}

/// The words that must not survive a rename: [`FAMILY`], [`C_PREFIX`]'s word, and each other word
/// of [`FAMILY`] (but a first one of several) that the template uses only inside its names
/// (not `fam` of a family `demo_fam`: that is also a variable's name).
#[cfg(test)]
fn template_words() -> &'static [String] {
    static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let root = crate::project::root();
        let listed = std::process::Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(&root)
            .output()
            .expect("git ls-files");
        let names = Renamer::new("x");
        let elsewhere: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .split('\0')
            .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
            .map(|text| names.from.replace_all(&text, &vec![" "; names.to.len()]))
            .collect();
        let words: Vec<&str> = FAMILY.split('_').collect();
        let skip = usize::from(words.len() > 1);
        let mut out: Vec<String> = words[skip..]
            .iter()
            .filter(|w| !elsewhere.iter().any(|text| says(text, w)))
            .map(|w| w.to_string())
            .collect();
        out.push(FAMILY.to_owned());
        out.push(C_PREFIX.trim_matches('_').to_owned());
        out.sort();
        out.dedup();
        out
    })
}

/// Whether `text` says `word` (any case, not inside a longer word).
#[cfg(test)]
fn says(text: &str, word: &str) -> bool {
    let lower = text.to_lowercase();
    let letter = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic());
    lower.match_indices(word).any(|(at, _)| {
        !letter(lower[..at].chars().next_back()) && !letter(lower[at + word.len()..].chars().next())
    })
}

/// Whether `text` still says one of the template's words (any case, not inside a longer word).
#[cfg(test)]
pub fn says_the_template(text: &str) -> bool {
    template_words().iter().any(|word| says(text, word))
}

/// A family name for tests: not this project's own, and sharing no word with it (this project may
/// itself have been made by `cargo lab new`, from a family the list names).
#[cfg(test)]
pub fn example_family() -> &'static str {
    ["demo_fam", "example_one", "example_two"]
        .into_iter()
        .find(|n| *n != FAMILY && !says_the_template(n))
        .expect("one of three names")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_renamed_and_nothing_else() {
        let r = Renamer::new("demo_fam");
        let cases = [
            ("gnl_foobar_xmpl.ko", "demo_fam.ko"),
            ("GNL_FOOBAR_XMPL_CMD_ECHO", "DEMO_FAM_CMD_ECHO"),
            (
                "name-prefix: gnl-foobar-xmpl-a-",
                "name-prefix: demo-fam-a-",
            ),
            (
                "static int xmpl_echo_doit(",
                "static int demo_fam_nl_echo_doit(",
            ),
            ("XMPL_MCGRP_EVENTS", "DEMO_FAM_NL_MCGRP_EVENTS"),
            ("kmod/nl_foobar_xmpl.c", "kmod/nl_demo_fam.c"),
            (
                "#define NETLINK_FOOBAR_XMPL 28",
                "#define NETLINK_DEMO_FAM 28",
            ),
            ("_UAPI_NL_FOOBAR_XMPL_H", "_UAPI_NL_DEMO_FAM_H"),
            ("gnl_foobar_xmpl_echo", "demo_fam_echo"),
            ("GNL_FOOBAR_XMPL_MCGRP_EVENTS", "DEMO_FAM_MCGRP_EVENTS"),
            ("gnl-raw echo hi", "gnl-raw echo hi"),
        ];
        for (from, to) in cases {
            assert_eq!(r.text(from), to, "{from}");
        }
    }

    #[test]
    fn names_that_would_clash_are_found() {
        let tree = format!(
            "genl_ops {C_PREFIX}ops {} {}EVENTS",
            FAMILY.to_uppercase(),
            C_PREFIX.to_uppercase()
        );
        assert!(clashes(&Renamer::new("demo_fam"), [tree.as_str()].into_iter()).is_empty());
        let taken = format!("{C_PREFIX}ops ab_nl_ops");
        assert_eq!(
            clashes(&Renamer::new("ab"), [taken.as_str()].into_iter()),
            [format!(
                "{C_PREFIX}ops would become ab_nl_ops, which the project already has"
            )]
        );
    }

    #[test]
    fn family_names_follow_genl_rules() {
        for good in ["a", "demo_fam", "x2", "abcdefghijklmno"] {
            assert_eq!(check_name(good), None, "{good}");
        }
        for bad in [
            "",
            "Demo",
            "2fam",
            "_fam",
            "demo-fam",
            "abcdefghijklmnop",
            "fam ily",
        ] {
            let why = check_name(bad).expect(bad);
            assert!(why.contains("at most 15 bytes"), "{why}");
        }
    }

    #[test]
    fn the_template_words_are_found_in_any_case_but_not_inside_words() {
        assert!(says_the_template("insmod gnl_foobar_xmpl.ko"));
        assert!(says_the_template(&format!("{FAMILY:?}").to_uppercase()));
        assert!(says_the_template("struct xmpl_net"));
        assert!(!says_the_template(&format!(
            "generic netlink, family {}",
            example_family()
        )));
        let r = Renamer::new(example_family());
        assert!(!says_the_template(
            &r.text("GNL_FOOBAR_XMPL_A_MSG xmpl_dump_ctx")
        ));
    }
}
