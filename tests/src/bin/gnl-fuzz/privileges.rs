//! Privileges and namespaces: the admin-only command refused with `EPERM` to nobody, to root
//! without `CAP_NET_ADMIN` and to root of a user namespace acting on the initial network
//! namespace; allowed to root of a user namespace that owns its network namespace. In a new
//! network namespace the family is visible and its dump count and counters are its own.

use std::process::Command;

use crate::nl::uapi::*;
use crate::nl::{self, Family, Msg, Sock, F_ACK, F_DUMP, F_REQUEST};

/// Sends one request and collects its answer: up to the final message, or the one reply.
fn request(sock: &Sock, msg: &[u8], flags: u16) -> Result<Vec<Msg>, String> {
    sock.send(msg).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = sock
            .recv(&mut buf, 30_000)
            .map_err(|e| e.to_string())?
            .ok_or("no answer within 30 s")?;
        for m in nl::parse(&buf[..n], sock.port)? {
            let end = m.is_final() || (flags & (F_ACK | F_DUMP) == 0);
            out.push(m);
            if end {
                return Ok(out);
            }
        }
    }
}

fn errno_of(answer: &[Msg]) -> Option<i32> {
    answer.last().and_then(|m| m.code()).map(|c| -c)
}

/// Whether this process has `CAP_NET_ADMIN` in its effective set.
fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

/// The default dump length: how many messages a dump without `A_COUNT` brings.
fn default_dump(sock: &Sock, fam: Family) -> Result<usize, String> {
    let answer = request(
        sock,
        &nl::message(
            fam.id,
            F_REQUEST | F_DUMP,
            3,
            &nl::genl(GNL_FOOBAR_XMPL_CMD_ECHO, &[]),
        ),
        F_DUMP,
    )?;
    if errno_of(&answer) != Some(0) {
        return Err(format!("default dump ended with {answer:?}"));
    }
    Ok(answer.len() - 1)
}

/// The counters of the namespace, in the kernel's order.
fn stats(sock: &Sock, fam: Family) -> Result<Vec<(String, u64)>, String> {
    let answer = request(
        sock,
        &nl::message(
            fam.id,
            F_REQUEST,
            4,
            &nl::genl(GNL_FOOBAR_XMPL_CMD_GET_STATS, &[]),
        ),
        0,
    )?;
    let (_, attrs) = answer
        .first()
        .and_then(|m| m.genl())
        .ok_or("stats: no reply")?;
    let mut out = Vec::new();
    let mut name = String::new();
    for (k, v) in attrs {
        match k {
            4 => name = nl::cstr(v),
            5 if v.len() == 8 => {
                out.push((name.clone(), u64::from_ne_bytes(v.try_into().unwrap())))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The probe, run in the child process under `setpriv` or `unshare`. `admin`: whether
/// `SET_DUMP_COUNT` must be allowed; `fresh`: a new network namespace (counters at zero,
/// default dump count 3). Prints what it checked; any failure is an error.
pub fn probe(admin: bool, fresh: bool) -> Result<(), String> {
    let sock = Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    sock.set_netlink(nl::NETLINK_EXT_ACK, 1)
        .map_err(|e| e.to_string())?;
    let fam = nl::resolve(&sock, nl::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
        .map_err(|e| e.to_string())?
        .ok_or("the family is not visible here")?;
    let (uid, cap) = (unsafe { libc::geteuid() }, has_net_admin());
    let mut checked = vec![format!(
        "uid {uid}, CAP_NET_ADMIN {}",
        if cap { "yes" } else { "no" }
    )];
    if fresh {
        let s = stats(&sock, fam)?;
        if s.iter().any(|(_, v)| *v != 0) || s.len() != 5 {
            return Err(format!("a new namespace starts with counters {s:?}"));
        }
        let n = default_dump(&sock, fam)?;
        if n != 3 {
            return Err(format!(
                "a new namespace's default dump has {n} messages, not 3"
            ));
        }
        checked.push("fresh counters and default dump count 3".into());
    }
    // What anybody may do.
    let echo = request(
        &sock,
        &nl::message(
            fam.id,
            F_REQUEST,
            5,
            &nl::genl(
                GNL_FOOBAR_XMPL_CMD_ECHO,
                &[nl::attr(GNL_FOOBAR_XMPL_A_MSG, b"probe\0")],
            ),
        ),
        0,
    )?;
    if echo.first().and_then(|m| m.genl()).map(|(c, _)| c) != Some(GNL_FOOBAR_XMPL_CMD_ECHO) {
        return Err(format!("echo answered {echo:?}"));
    }
    let err = request(
        &sock,
        &nl::message(
            fam.id,
            F_REQUEST,
            6,
            &nl::genl(GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR, &[]),
        ),
        0,
    )?;
    if errno_of(&err) != Some(libc::EINVAL) {
        return Err(format!("error command answered {err:?}"));
    }
    checked.push("echo, dump, stats and error work".into());
    // The admin-only command, right and wrong.
    let variants: [(&str, u16, Vec<Vec<u8>>); 4] = [
        (
            "valid",
            F_REQUEST | F_ACK,
            vec![nl::attr(GNL_FOOBAR_XMPL_A_COUNT, &5u32.to_ne_bytes())],
        ),
        (
            "count 0",
            F_REQUEST | F_ACK,
            vec![nl::attr(GNL_FOOBAR_XMPL_A_COUNT, &0u32.to_ne_bytes())],
        ),
        ("no count", F_REQUEST | F_ACK, vec![]),
        (
            "as a dump",
            F_REQUEST | F_ACK | F_DUMP,
            vec![nl::attr(GNL_FOOBAR_XMPL_A_COUNT, &5u32.to_ne_bytes())],
        ),
    ];
    for (what, flags, attrs) in variants {
        let answer = request(
            &sock,
            &nl::message(
                fam.id,
                flags,
                7,
                &nl::genl(GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT, &attrs),
            ),
            flags,
        )?;
        let errno = errno_of(&answer);
        let ok = match (admin, what) {
            // The command has no dumpit: since 6.2 (split ops) the core finds no dump op before
            // it checks permissions and answers EOPNOTSUPP; earlier kernels check first. Either
            // way the request is refused and nothing runs.
            (false, "as a dump") => matches!(errno, Some(libc::EPERM | libc::EOPNOTSUPP)),
            (false, _) => errno == Some(libc::EPERM),
            (true, "valid") => errno == Some(0),
            (true, _) => errno.is_some_and(|e| e != 0 && e != libc::EPERM),
        };
        if !ok {
            return Err(format!(
                "set-dump-count ({what}) answered errno {errno:?}, admin {admin}"
            ));
        }
    }
    let n = default_dump(&sock, fam)?;
    if admin && n != 5 {
        return Err(format!(
            "after set-dump-count 5 the default dump has {n} messages"
        ));
    }
    checked.push(if admin {
        "set-dump-count allowed, default dump now 5".to_owned()
    } else {
        format!("set-dump-count refused in all 4 forms (EPERM; as a dump EPERM or EOPNOTSUPP), default dump still {n}")
    });
    println!("  probe: {}", checked.join("; "));
    Ok(())
}

/// Runs `program args... probe ...` and reports.
fn run_probe(problems: &mut Vec<String>, label: &str, wrapper: &[&str], admin: bool, fresh: bool) {
    let me = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..]).arg(&me).arg("probe");
    if admin {
        cmd.arg("--admin");
    }
    if fresh {
        cmd.arg("--fresh-netns");
    }
    println!("privileges: {label}: {}", wrapper.join(" "));
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => problems.push(format!("{label}: the probe failed ({s})")),
        Err(e) => problems.push(format!("{label}: cannot run {}: {e}", wrapper[0])),
    }
}

/// All privilege and namespace scenarios; the initial namespace's state is checked untouched.
pub fn run() -> Vec<String> {
    let mut problems = Vec::new();
    let sock = Sock::open(nl::NETLINK_GENERIC).expect("socket");
    let Ok(Some(fam)) = nl::resolve(&sock, nl::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME) else {
        return vec!["the family is not registered".into()];
    };
    // A recognisable default in the initial namespace, that nobody below may change.
    let set7 = nl::message(
        fam.id,
        F_REQUEST | F_ACK,
        1,
        &nl::genl(
            GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            &[nl::attr(GNL_FOOBAR_XMPL_A_COUNT, &7u32.to_ne_bytes())],
        ),
    );
    if request(&sock, &set7, F_ACK).ok().and_then(|a| errno_of(&a)) != Some(0) {
        return vec!["root cannot set the dump count".into()];
    }
    let before = stats(&sock, fam).unwrap_or_default();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    run_probe(&mut problems, "nobody", &nobody, false, false);
    let no_cap = [
        "setpriv",
        "--inh-caps=-net_admin",
        "--bounding-set=-net_admin",
    ];
    run_probe(
        &mut problems,
        "root without CAP_NET_ADMIN",
        &no_cap,
        false,
        false,
    );
    run_probe(
        &mut problems,
        "root of a user namespace, initial network namespace",
        &["unshare", "--user", "--map-root-user"],
        false,
        false,
    );
    run_probe(
        &mut problems,
        "root in a new network namespace",
        &["unshare", "--net"],
        true,
        true,
    );
    // Unprivileged containers: only where the kernel lets nobody create a user namespace.
    let userns_ok = Command::new("setpriv")
        .args(nobody)
        .args(["unshare", "--user", "--map-root-user", "--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if userns_ok {
        let mut w = nobody.to_vec();
        w.extend(["unshare", "--user", "--map-root-user", "--net"]);
        run_probe(
            &mut problems,
            "nobody as root of its own user and network namespace",
            &w,
            true,
            true,
        );
    } else {
        println!("privileges: skipped nobody's own user+network namespace: this kernel refuses unprivileged user namespaces");
    }
    // The initial namespace did not see any of it: same default, counters moved only by the
    // probes that ran in it (three, each one echo, one error, one default dump).
    match (default_dump(&sock, fam), stats(&sock, fam)) {
        (Ok(7), Ok(after)) => {
            let moved: Vec<(String, u64)> = after
                .iter()
                .zip(&before)
                .map(|((n, a), (_, b))| (n.clone(), a - b))
                .collect();
            let want = [
                ("echo", 3),
                ("dump", 4),
                ("dump-messages", 28),
                ("error", 3),
                ("set-dump-count", 0),
            ];
            if moved.iter().map(|(n, v)| (n.as_str(), *v)).ne(want) {
                problems.push(format!(
                    "initial namespace counters moved by {moved:?}, expected {want:?}"
                ));
            } else {
                println!("privileges: initial namespace: default dump count still 7, counters moved only by its own probes");
            }
        }
        (n, s) => problems.push(format!(
            "initial namespace after the probes: default dump {n:?}, stats {s:?}"
        )),
    }
    let set3 = nl::message(
        fam.id,
        F_REQUEST | F_ACK,
        2,
        &nl::genl(
            GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            &[nl::attr(GNL_FOOBAR_XMPL_A_COUNT, &3u32.to_ne_bytes())],
        ),
    );
    let _ = request(&sock, &set3, F_ACK);
    problems
}
