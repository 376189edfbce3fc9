//! Crash points for tests: with `BROKK_FAILPOINT=<name>` in the environment, the process
//! kills itself with SIGKILL (exactly a kill -9: no unwinding, no flush, no core dump) when
//! it reaches the point of that name. Unset, a
//! point costs one relaxed load. Points:
//!
//! - `txn-before-markers`: a transaction's PrepareCommit/PrepareAbort is durable and no
//!   marker is written yet (the crash test for issue 4's "mid-commit" recovery).

use std::sync::OnceLock;

static ARMED: OnceLock<Option<String>> = OnceLock::new();

/// Kills the process if the failpoint `name` is armed.
pub fn hit(name: &str) {
    let armed = ARMED.get_or_init(|| std::env::var("BROKK_FAILPOINT").ok().filter(|v| !v.is_empty()));
    if armed.as_deref() == Some(name) {
        tracing::error!(failpoint = name, "failpoint reached: killing the process");
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}
