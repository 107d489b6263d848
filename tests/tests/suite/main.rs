//! The genl-lab integration suite: runs inside the guest VM as root (`cargo lab test`) and
//! snapshot-tests the three clients and the module's kernel-log lines, one module per concern.
//!
//! Every test loads or unloads the module as it needs (the suite starts with the module not loaded)
//! and leaves the default dump count at 3; no test relies on the order tests run in. After the
//! suite, the lab's guest side (`lab guest`) checks that the module unloads cleanly from whatever
//! state the suite left, and that the kernel took no harm.
//!
//! Every test is `#[ignore]`d: on the host, `cargo test --workspace` lists them as ignored, with
//! the reason; the lab's guest side runs them with `--include-ignored`.

mod bench;
mod classic;
mod dump;
mod echo;
mod errors;
mod examples;
mod lifecycle;
mod monitor;
mod netns;
mod privileges;
mod stats;
mod tour;
mod ynl;
