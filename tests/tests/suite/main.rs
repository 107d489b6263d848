//! The genl-lab integration suite: runs inside the guest VM as root (`cargo lab test`) and
//! snapshot-tests the three clients and the module's kernel-log lines, one module per concern.
//!
//! libtest runs tests in the order of their names, so `zz_last_word` runs last: it unloads the
//! module and asserts it unloads cleanly. Every other test loads or unloads the module as it needs
//! (the suite starts with the module not loaded) and leaves the default dump count at 3.
//!
//! Every test is `#[ignore]`d: on the host, `cargo test --workspace` lists them as ignored, with
//! the reason; the lab's guest side runs them with `--include-ignored`.

mod bench;
mod classic;
mod dump;
mod echo;
mod errors;
mod lifecycle;
mod monitor;
mod netns;
mod privileges;
mod stats;
mod ynl;
mod zz_last_word;
