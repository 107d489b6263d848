//! Client of the nl_foobar_xmpl classic netlink protocol (placeholder until issue 6 lands).

fn main() {}
