//! `bench`: it prints times, so it is not compared byte for byte; its shape is (one line of
//! nanoseconds per iteration, nothing on standard error) and so are the module's lines.

use std::fmt::Write as _;

use genl_lab_tests::{
    clients, ensure_loaded, ensure_unloaded, exclusive, lines_text, normalize, run_client, section,
    shell_words, snapshot, KernelLog, User, CLIENTS,
};

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn bench_output_shape() {
    let _machine = exclusive();
    ensure_loaded();
    let mut doc = String::new();
    let workloads: [(&[&str], usize); 3] = [
        (&["bench", "oneshot", "--iterations", "3"], 3),
        (&["bench", "steady", "--iterations", "3"], 3),
        (&["bench", "dump", "--iterations", "2", "--count", "10"], 2),
    ];
    for (args, iterations) in workloads {
        let mut logs = Vec::new();
        for client in CLIENTS {
            let mut log = KernelLog::mark();
            let outcome = run_client(client, args, User::Root);
            logs.push((client, log.module_lines()));
            assert_eq!(outcome.code, Some(0), "{client} {args:?}: {outcome:?}");
            assert!(outcome.stderr.is_empty(), "{client} {args:?}: {outcome:?}");
            let times: Vec<_> = outcome.stdout.lines().collect();
            assert_eq!(
                times.len(),
                iterations,
                "{client} {args:?}: one line per iteration: {outcome:?}"
            );
            for time in times {
                let ns: u64 = time
                    .parse()
                    .unwrap_or_else(|_| panic!("{client} {args:?}: not nanoseconds: {time:?}"));
                assert!(ns > 0, "{client} {args:?}: an iteration of 0 ns");
            }
        }
        for (client, lines) in &logs[1..] {
            assert_eq!(
                normalize(&lines.join("\n")),
                normalize(&logs[0].1.join("\n")),
                "the module logged different lines for {client} and {} on {args:?}",
                logs[0].0
            );
        }
        writeln!(
            doc,
            "$ CLIENT {}\nexit: 0\nstdout: {iterations} lines of nanoseconds\nstderr:",
            shell_words(args)
        )
        .unwrap();
        section(&mut doc, "kernel log", &lines_text(&logs[0].1));
    }
    ensure_unloaded();
    doc += &clients(&["bench", "steady", "--iterations", "1"]);
    snapshot!(doc);
}
