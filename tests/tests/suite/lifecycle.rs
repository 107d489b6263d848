//! The module's lifecycle: load and unload lines, loading twice, reloading.

use std::ffi::CString;
use std::os::fd::AsRawFd;

use genl_lab_tests::{
    clients, ensure_loaded, ensure_unloaded, exclusive, insmod, lab, lines_text, module_loaded,
    rmmod, section, snapshot, KernelLog,
};

/// insmod then rmmod: what the module logs, and that the clients work between the two.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn load_and_unload() {
    let _machine = exclusive();
    ensure_unloaded();
    let mut doc = String::new();
    let mut log = KernelLog::mark();
    let outcome = insmod();
    doc += "$ insmod gnl_foobar_xmpl.ko dyndbg=+p\n";
    doc += &outcome.render();
    section(&mut doc, "kernel log", &lines_text(&log.module_lines()));
    assert!(module_loaded());
    doc += &clients(&["echo"]);
    let mut log = KernelLog::mark();
    let outcome = rmmod();
    doc += "$ rmmod gnl_foobar_xmpl\n";
    doc += &outcome.render();
    section(&mut doc, "kernel log", &lines_text(&log.module_lines()));
    assert!(!module_loaded());
    snapshot!(doc);
}

/// A second insmod fails with EEXIST (insmod's exit code and message, and the raw
/// `finit_module` errno) and leaves the loaded module working.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn load_twice_fails_cleanly() {
    let _machine = exclusive();
    ensure_loaded();
    let mut log = KernelLog::mark();
    let outcome = insmod();
    let mut doc = String::from("$ insmod gnl_foobar_xmpl.ko dyndbg=+p (already loaded)\n");
    doc += &outcome.render();
    section(&mut doc, "kernel log", &lines_text(&log.module_lines()));

    let module = std::fs::File::open(lab().module_path()).expect("open the module");
    let params = CString::new("dyndbg=+p").unwrap();
    // SAFETY: a valid descriptor and NUL-terminated parameters; flags 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            module.as_raw_fd(),
            params.as_ptr(),
            0,
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert_eq!(
        (ret, errno),
        (-1, Some(libc::EEXIST)),
        "finit_module of a loaded module"
    );
    doc += "finit_module: EEXIST\n";

    assert!(module_loaded());
    doc += &clients(&["echo", "still loaded once"]);
    snapshot!(doc);
}
