//! The suite's last word (libtest runs tests in name order): the module unloads cleanly after
//! everything the suite did to it, and the kernel took no harm.

use genl_lab_tests::{
    ensure_loaded, lines_text, module_loaded, module_refcnt, rmmod, section, serial, snapshot,
    wait_for_refcnt_zero, KernelLog,
};

/// Taint flags that mean the kernel was hurt (see Documentation/admin-guide/tainted-kernels.rst):
/// B bad page, D died (oops), L soft lockup, W warning.
const HARMFUL_TAINTS: [(u32, char); 4] = [(5, 'B'), (7, 'D'), (14, 'L'), (9, 'W')];

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn module_unloads_cleanly() {
    let _lock = serial();
    ensure_loaded();
    wait_for_refcnt_zero();
    assert_eq!(module_refcnt(), Some(0), "references left on the module");
    let mut log = KernelLog::mark();
    let outcome = rmmod();
    let lines = log.module_lines();
    assert!(
        !module_loaded(),
        "rmmod left the module loaded: {outcome:?}"
    );
    let mut doc = String::from("$ rmmod gnl_foobar_xmpl\n");
    doc += &outcome.render();
    section(&mut doc, "kernel log", &lines_text(&lines));
    snapshot!(doc);

    let tainted: u64 = std::fs::read_to_string("/proc/sys/kernel/tainted")
        .expect("read /proc/sys/kernel/tainted")
        .trim()
        .parse()
        .expect("a number");
    let harmful: Vec<char> = HARMFUL_TAINTS
        .iter()
        .filter(|(bit, _)| tainted & (1 << bit) != 0)
        .map(|(_, flag)| *flag)
        .collect();
    assert!(
        harmful.is_empty(),
        "the kernel is tainted {harmful:?} (value {tainted}): read its log"
    );
}
