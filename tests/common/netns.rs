//! Network namespaces for partition tests: `n` namespaces, each with one veth link to a
//! bridge in the test's own namespace, on a private /24 (10.199.S.0/24, the first from
//! the test's pid on that no route uses yet; names carry the pid, so concurrent runs do not
//! collide). Node `i` (1-based) is 10.199.S.i; the test
//! reaches every node over the bridge (10.199.S.254). [`Netns::cut`] isolates a node from
//! the other nodes (blackhole routes both ways) while the test can still reach it;
//! [`Netns::heal`] undoes it. [`Netns::isolate`] cuts the test off from it too
//! ([`Netns::rejoin`]). Everything is removed on drop (the test's own blackhole routes go
//! with the bridge's subnet only if rejoined: a test that panics mid-isolation leaves one
//! /32 route to an address nothing else uses).
//!
//! Needs root (CAP_NET_ADMIN) and `ip`; [`Netns::create`] returns None where they are
//! missing, and the test says so and does nothing, unless `BROKK_REQUIRE_NETNS` is set
//! (CI as root), when it fails.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

pub struct Netns {
    tag: String,
    subnet: u8,
    n: usize,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// Namespaces for nodes 1..=n, or None (and why, on stderr) where they cannot be made.
    pub fn create(n: usize) -> Option<Self> {
        let pid = std::process::id();
        // A /24 no route of this host uses yet (another run's bridge, say).
        let taken = |s: u32| match Command::new("ip")
            .args(["route", "show", &format!("10.199.{s}.0/24")])
            .output()
        {
            Ok(o) => !o.stdout.is_empty(),
            Err(_) => true,
        };
        let subnet = (0..200)
            .map(|k| 20 + (pid + k) % 200)
            .find(|s| !taken(*s))
            .unwrap_or(20);
        let net = Self {
            tag: format!("bk{pid}"),
            subnet: subnet as u8,
            n,
        };
        match net.build() {
            Ok(()) => Some(net),
            Err(e) => {
                assert!(
                    std::env::var_os("BROKK_REQUIRE_NETNS").is_none(),
                    "BROKK_REQUIRE_NETNS is set but network namespaces cannot be made: {e}"
                );
                eprintln!("network namespaces are not available here ({e}): this test does nothing");
                None
            }
        }
    }

    fn bridge(&self) -> String {
        format!("br-{}", self.tag)
    }

    /// Node `i`'s namespace.
    pub fn name(&self, i: usize) -> String {
        format!("{}-{i}", self.tag)
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 199, self.subnet, i as u8)
    }

    /// Node `i`'s address and `port`.
    pub fn socket(&self, i: usize, port: u16) -> SocketAddr {
        (self.addr(i), port).into()
    }

    fn build(&self) -> Result<(), String> {
        let br = self.bridge();
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["addr", "add", &format!("10.199.{}.254/24", self.subnet), "dev", &br])?;
        ip(&["link", "set", &br, "up"])?;
        for i in 1..=self.n {
            let ns = self.name(i);
            let veth = format!("v{}-{i}", self.tag);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &br, "up"])?;
            let cidr = format!("{}/24", self.addr(i));
            ip(&["netns", "exec", &ns, "ip", "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "eth0", "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    fn routes(&self, i: usize, verb: &str) {
        for j in (1..=self.n).filter(|j| *j != i) {
            for (from, to) in [(i, j), (j, i)] {
                let dest = format!("{}/32", self.addr(to));
                ip(&[
                    "netns",
                    "exec",
                    &self.name(from),
                    "ip",
                    "route",
                    verb,
                    "blackhole",
                    &dest,
                ])
                .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// Node `i` can no longer reach the other nodes, nor they it.
    pub fn cut(&self, i: usize) {
        self.routes(i, "add");
    }

    /// Undoes [`Self::cut`].
    pub fn heal(&self, i: usize) {
        self.routes(i, "del");
    }

    /// Node `i` can reach nobody, nor anybody it: [`Self::cut`], and the test's own
    /// namespace (its clients) cut off from it too.
    pub fn isolate(&self, i: usize) {
        self.cut(i);
        self.client_route(i, "add");
    }

    /// Undoes [`Self::isolate`].
    pub fn rejoin(&self, i: usize) {
        self.client_route(i, "del");
        self.heal(i);
    }

    fn client_route(&self, i: usize, verb: &str) {
        let dest = format!("{}/32", self.addr(i));
        ip(&["route", verb, "blackhole", &dest]).unwrap_or_else(|e| panic!("{e}"));
        ip(&[
            "netns",
            "exec",
            &self.name(i),
            "ip",
            "route",
            verb,
            "blackhole",
            &format!("10.199.{}.254/32", self.subnet),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for i in 1..=self.n {
            let _ = ip(&["netns", "del", &self.name(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
