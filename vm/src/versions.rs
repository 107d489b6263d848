//! The versions of the tools a run depends on (virtme-ng, qemu, Rust), for `cargo lab kernels`
//! and for a warning when the virtme-ng on PATH is not the pinned one.

use std::process::Command;

use crate::deps;

/// The first line of `program args`' output, or why there is none.
fn first_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            text.lines().next().unwrap_or_default().trim().to_owned()
        }
        Ok(out) => format!("{program} failed ({})", out.status),
        Err(_) => "not installed".to_owned(),
    }
}

/// The version `vng --version` prints (`virtme-ng 1.42` gives `1.42`), looking where pip puts it
/// too, as the VM commands do.
pub fn virtme_ng() -> String {
    if crate::project::which("vng").is_none() {
        deps::put_user_scripts_on_path().ok();
    }
    let line = first_line("vng", &["--version"]);
    line.strip_prefix("virtme-ng ")
        .unwrap_or(&line)
        .trim()
        .to_owned()
}

/// One line per tool: what is in use, and the pin where there is one.
pub fn lines() -> Vec<String> {
    let vng = virtme_ng();
    let pin = deps::virtme_ng_pin();
    let vng_note = if vng == pin {
        format!("(the pin, {})", deps::REQUIREMENTS)
    } else {
        format!("(the pin is {pin}: {})", deps::pip_command())
    };
    vec![
        format!("virtme-ng  {vng} {vng_note}"),
        format!(
            "qemu       {}",
            first_line("qemu-system-x86_64", &["--version"])
        ),
        format!("rust       {}", first_line("rustc", &["--version"])),
    ]
}

/// Warns when the virtme-ng on PATH is not the pinned version (the user's own install is left alone).
pub fn warn_if_unpinned() {
    let vng = virtme_ng();
    let pin = deps::virtme_ng_pin();
    if !vng.is_empty() && vng != pin {
        eprintln!(
            "==> note: vng on PATH is {vng}, the lab pins {pin} ({}): {}",
            deps::REQUIREMENTS,
            deps::pip_command()
        );
    }
}
