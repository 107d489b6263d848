//! `examples`: the first reads (`userland/examples/`), one echo each on raw sockets, libnl and
//! neli, built by the lab and run here: each gets its string back.

use genl_lab_tests::{
    concurrent, ensure_loaded, exclusive, run_client, shell_words, snapshot, User,
};

use lab_facts::ECHO_EXAMPLES as EXAMPLES;

fn run_all(args: &[&str]) -> String {
    let mut out = String::new();
    for example in EXAMPLES {
        let line: Vec<&str> = std::iter::once(example)
            .chain(args.iter().copied())
            .collect();
        out.push_str(&format!("$ {}\n", shell_words(&line)));
        out.push_str(&run_client(example, args, User::Root).render());
    }
    out
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn examples_echo() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(run_all(&["hello from a first read"]));
}

/// Without the module the family does not resolve, and each example says so and fails.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn examples_without_the_module() {
    let _machine = exclusive();
    genl_lab_tests::ensure_unloaded();
    snapshot!(run_all(&[]));
}
