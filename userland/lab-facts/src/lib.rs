//! The facts the lab's runner (`vm/`) and its guest-side tests (`tests/`) must agree on, each in
//! one place: the modules and the clients by name, the guest's `PATH`, how a module is loaded and
//! unloaded ([`module`]), which kernel-log lines mean the kernel is unhealthy ([`health`]), and
//! how the debug kernel's leak detector is asked ([`kmemleak`]).

pub mod health;
pub mod kmemleak;
pub mod kmsg;
pub mod module;

use std::path::Path;

/// The generic netlink module: also its family's name and its `pr_fmt` prefix.
pub const GENL_MODULE: &str = nl_codec::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME;

/// The classic netlink module: also its `pr_fmt` prefix.
pub const CLASSIC_MODULE: &str = nl_codec::uapi::NL_FOOBAR_XMPL_NAME;

/// Both modules, the generic one first (the order they are loaded in).
pub const MODULES: [&str; 2] = [GENL_MODULE, CLASSIC_MODULE];

/// The Rust client (neli).
pub const GNL_RUST: &str = "gnl-rust";
/// The C client on raw sockets.
pub const GNL_RAW: &str = "gnl-raw";
/// The C client on libnl.
pub const GNL_LIBNL: &str = "gnl-libnl";
/// The bench's plainest neli client (not one of the compared clients).
pub const GNL_NELI_BASELINE: &str = "gnl-neli-baseline";

/// The generic netlink clients that print byte-identical output (`userland/INTERFACE.md`).
pub const GENL_CLIENTS: [&str; 3] = [GNL_RUST, GNL_RAW, GNL_LIBNL];

/// The first-read examples (`userland/examples/`), one echo each: raw sockets and libnl (built by
/// `userland/Makefile`), neli (a Cargo example of `gnl-rust`).
pub const ECHO_EXAMPLES: [&str; 3] = ["echo-raw", "echo-libnl", NELI_EXAMPLE];

/// The neli example's name.
pub const NELI_EXAMPLE: &str = "echo-neli";

/// The classic netlink clients that print byte-identical output (`userland/nl-raw/README.md`).
pub const CLASSIC_CLIENTS: [&str; 2] = ["nl-rust", "nl-raw"];

/// The guest's system directories; a guest inherits no `PATH` from the host.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The guest's `PATH` with the clients in `bin_dir` first.
pub fn guest_path(bin_dir: &Path) -> String {
    format!("{}:{SYSTEM_PATH}", bin_dir.display())
}

/// Where the guest's debugfs is (kmemleak, GCOV counters, fault injection).
pub const DEBUGFS: &str = "/sys/kernel/debug";

/// Mounts debugfs in the guest unless it is mounted already (virtme-ng does not mount it; some
/// kernels' init does). Quiet either way: a kernel without it simply has no such files.
pub fn mount_debugfs() {
    let mounted = std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(DEBUGFS))
    });
    if !mounted {
        let _ = std::process::Command::new("mount")
            .args(["-t", "debugfs", "debugfs", DEBUGFS])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_the_uapi_names() {
        assert_eq!(GENL_MODULE, "gnl_foobar_xmpl");
        assert_eq!(CLASSIC_MODULE, "nl_foobar_xmpl");
    }

    #[test]
    fn clients_come_before_the_system() {
        assert_eq!(
            guest_path(Path::new("/b")),
            "/b:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
    }
}
