//! Ports for listeners that a test must name before the process binds them (CONTROLLER
//! listeners in `controller.quorum.voters`, a node restarted on the same port, the reference
//! Kafka's listeners).
//!
//! A port found by binding `127.0.0.1:0` and closing it is in the kernel's ephemeral range,
//! where another test's `listen 127.0.0.1:0` or an outgoing connection can take it before
//! the process under test binds it (CI saw "Address already in use" from exactly that).
//! These ports come from below the ephemeral range instead, where the kernel never hands
//! out a port on its own: each call takes the next one from a per-process cursor that
//! starts at an offset derived from the process id (so concurrent test binaries start
//! apart) and skips any port that something already holds.

use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out.
const LOW: u32 = 12_000;

/// The kernel's ephemeral range (`net.ipv4.ip_local_port_range`), Linux's default if unread.
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A port no one listens on and that the kernel will not hand out for `:0` binds.
pub fn reserved_port() -> u16 {
    static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);
    let high = ephemeral_low().max(LOW + 1_000);
    let span = high - LOW;
    let _ = CURSOR.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = (LOW + CURSOR.fetch_add(1, Ordering::SeqCst) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{high}");
}
