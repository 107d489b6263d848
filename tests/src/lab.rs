//! The lab's environment inside the guest: where the clients and the modules are, and which
//! kernel runs. (insta finds the workspace without `cargo`, which the guest may lack, through
//! `INSTA_WORKSPACE_ROOT` in `.cargo/config.toml`, set at build time.)

use std::path::PathBuf;
use std::sync::OnceLock;

/// Name of the generic netlink module, of its family and of its `pr_fmt` prefix.
pub const MODULE: &str = lab_facts::GENL_MODULE;

/// The clients that must behave identically; their names in `GENL_LAB_BIN_DIR`.
pub const CLIENTS: [&str; 3] = lab_facts::GENL_CLIENTS;

/// The environment the lab runner gives the suite inside the guest.
#[derive(Debug)]
pub struct Lab {
    /// `GENL_LAB_BIN_DIR`: the clients.
    pub bin_dir: PathBuf,
    /// `GENL_LAB_KMOD_DIR`: the modules, built for the running kernel.
    pub kmod_dir: PathBuf,
    /// `GENL_LAB_KERNEL`: the kernel's name (`5.10`, `6.1`, ...), for per-kernel snapshots.
    pub kernel: String,
}

impl Lab {
    /// Path of the generic netlink module.
    pub fn module_path(&self) -> PathBuf {
        lab_facts::module::ko(&self.kmod_dir, MODULE)
    }

    /// Path of one client.
    pub fn client(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Whether the running kernel is at least `major.minor` (from `uname -r`).
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("read the kernel release");
    let mut numbers = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let running = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    running >= (major, minor)
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: this suite runs inside the lab's guest VM as root, \
             start it with `cargo lab test` (see README.md)"
        ),
    }
}

/// The lab's environment; panics (never skips) when the suite is not run by the lab.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let lab = Lab {
            bin_dir: required_env("GENL_LAB_BIN_DIR").into(),
            kmod_dir: required_env("GENL_LAB_KMOD_DIR").into(),
            kernel: required_env("GENL_LAB_KERNEL"),
        };
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "the suite must run as root inside the lab's guest (`cargo lab test`)"
        );
        for client in CLIENTS {
            let path = lab.client(client);
            assert!(
                path.is_file(),
                "client {} is missing: the lab must build it",
                path.display()
            );
        }
        let module = lab.module_path();
        assert!(
            module.is_file(),
            "module {} is missing: the lab must build it",
            module.display()
        );
        lab
    })
}
