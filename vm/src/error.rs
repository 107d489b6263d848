//! The bottom of the runner: usage errors (what the user asked for is wrong) and the exit codes
//! every command ends with.

use std::fmt;

/// Every test passed and the kernel log is clean.
pub const EXIT_PASSED: u8 = 0;
/// At least one test failed (or the suite could not finish its own checks).
pub const EXIT_TESTS_FAILED: u8 = 1;
/// The kernel log shows an Oops, BUG, WARNING, panic, slab corruption or KFENCE report.
pub const EXIT_KERNEL_UNHEALTHY: u8 = 2;
/// Download, build, boot or timeout: the lab could not get as far as a test result.
pub const EXIT_INFRA_FAILED: u8 = 3;
/// Bad command line or bad input (unknown kernel, not a kernel tree...): nothing was run.
pub const EXIT_USAGE: u8 = 64;

/// An error in what the user asked for, as opposed to a failure while doing it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage_error(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The exit code for an error that stopped a command: usage errors are 64, the rest infrastructure.
pub fn exit_code_of_error(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else {
        EXIT_INFRA_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_map_to_64_and_the_rest_to_infra() {
        assert_eq!(
            exit_code_of_error(&usage_error("unknown kernel")),
            EXIT_USAGE
        );
        assert_eq!(
            exit_code_of_error(&anyhow::anyhow!("boot failed")),
            EXIT_INFRA_FAILED
        );
        let wrapped = usage_error("bad").context("while resolving");
        assert_eq!(exit_code_of_error(&wrapped), EXIT_USAGE);
    }
}
