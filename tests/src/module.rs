//! Loading and unloading the generic netlink module the way the suite needs it: as outcomes to
//! snapshot, or asserted; the commands themselves are `lab_facts::module`'s.

use std::time::Duration;

use lab_facts::module::{self, Debug};

use crate::lab::{lab, MODULE};
use crate::run::{run_command, Outcome};

/// Whether the module is loaded.
pub fn module_loaded() -> bool {
    module::loaded(MODULE)
}

/// Runs `insmod` on the module with `dyndbg=+p` (its per-operation lines are `pr_debug`).
pub fn insmod() -> Outcome {
    run_command(module::insmod(&lab().module_path(), Debug::On))
}

/// Runs `rmmod` on the module once its reference count has dropped to 0 (sockets closing release
/// their dump's reference asynchronously, after an RCU grace period).
pub fn rmmod() -> Outcome {
    wait_for_refcnt_zero();
    run_command(module::rmmod(MODULE))
}

/// Waits up to 10 s for the module's reference count to reach 0; panics if it does not.
pub fn wait_for_refcnt_zero() {
    if let Err(n) = module::wait_unused(MODULE, Duration::from_secs(10)) {
        panic!("{MODULE} still has {n} references 10 s after its users went away (a leak)")
    }
}

/// Loads the module; panics with insmod's output if that fails.
pub fn load() {
    let outcome = insmod();
    assert_eq!(outcome.code, Some(0), "insmod {MODULE} failed: {outcome:?}");
    assert!(
        module_loaded(),
        "insmod succeeded but /sys/module/{MODULE} is missing"
    );
}

/// Unloads the module; panics with rmmod's output if that fails.
pub fn unload() {
    let outcome = rmmod();
    assert_eq!(outcome.code, Some(0), "rmmod {MODULE} failed: {outcome:?}");
    assert!(
        !module_loaded(),
        "rmmod succeeded but /sys/module/{MODULE} is still there"
    );
}

/// Loads the module unless it is loaded (with whatever state earlier tests left).
pub fn ensure_loaded() {
    if !module_loaded() {
        load();
    }
}

/// Unloads the module if it is loaded.
pub fn ensure_unloaded() {
    if module_loaded() {
        unload();
    }
}

/// Loads a fresh copy of the module: counters and the default dump count at their initial values.
pub fn fresh_module() {
    ensure_unloaded();
    load();
}
