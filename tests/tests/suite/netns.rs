//! Network namespaces: the family is `.netnsok`, and the dump count and counters are per
//! namespace, so a fresh namespace sees the defaults whatever the initial one changed.

use genl_lab_tests::{clients, exclusive, fresh_module, scenario, snapshot, User};

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn state_is_per_network_namespace() {
    let _machine = exclusive();
    fresh_module();
    let mut doc = clients(&["set-dump-count", "5"]);
    doc += &clients(&["echo", "in the initial namespace"]);
    for args in [
        &["dump"][..],
        &["stats"],
        &["echo", "in a new namespace"],
        &["set-dump-count", "2"],
    ] {
        doc += &scenario(args, User::RootInNewNetns);
    }
    doc += &clients(&["dump"]);
    doc += &clients(&["set-dump-count", "3"]);
    snapshot!(doc);
}
