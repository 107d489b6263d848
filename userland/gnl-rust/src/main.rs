//! Client of the gnl_foobar_xmpl generic netlink family (placeholder until issue 4 lands).

fn main() {}
