//! The genl-lab runner.

fn main() {}
