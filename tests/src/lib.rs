//! Harness of the genl-lab integration suite, one module per concern: the lab's environment
//! ([`lab`]), running commands and clients ([`run`]), snapshots and their filters ([`snapshot`]),
//! scenarios every client runs ([`scenario`]), loading the module ([`module`]), the kernel log
//! ([`kmsg`]), monitors ([`monitor`]), crafted generic netlink ([`genl`]) the classic unit
//! ([`classic`]) and the kernel's YNL CLI ([`ynl`]). The suite's files use the names re-exported here.
//!
//! The suite runs inside the guest VM as root (`cargo lab test`); every test first takes its
//! turn ([`turn`]): the machine to itself ([`exclusive`]), or a network namespace of its own
//! beside other tests ([`concurrent`]), its kernel-log lines told apart by port id.

pub mod classic;
pub mod genl;
pub mod kmsg;
pub mod lab;
pub mod module;
pub mod monitor;
pub mod run;
pub mod scenario;
pub mod snapshot;
pub mod turn;
pub mod ynl;

pub use kmsg::KernelLog;
pub use lab::{kernel_at_least, lab, Lab, CLIENTS, MODULE};
pub use module::{
    ensure_loaded, ensure_unloaded, fresh_module, insmod, load, module_loaded, rmmod, unload,
    wait_for_refcnt_zero,
};
pub use monitor::Monitor;
pub use run::{run_client, run_command, run_command_with_stdin, section, Outcome, User};
pub use scenario::{clients, crafted, exit_code_of_all, scenario, scenario_with};
pub use snapshot::{
    behaviour_settings, filters, insta_settings, lines_text, normalize, normalize_tour, shell_words,
};
pub use turn::{classic_module, concurrent, concurrent_portless, exclusive, fresh_state};
