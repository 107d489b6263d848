//! Links the unwinder statically (libgcc_eh) so the client does not load libgcc_s.so at start.
//!
//! Rust's standard library asks for `-lgcc_s` on glibc targets; loading it costs eight system
//! calls per run (open, read, stat, four mmaps, close, plus an mprotect), which is more than the
//! C clients pay. The whole archive of libgcc_eh comes first on the link line, so the `_Unwind_*`
//! symbols are already defined when the linker reaches `-lgcc_s`, and `--as-needed` drops it.

fn main() {
    println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=gcc_eh");
    println!("cargo:rerun-if-changed=build.rs");
}
