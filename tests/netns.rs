//! Half-open at the kernel's level: the peer runs in a network namespace of
//! its own, joined to this one by a veth pair, and the link is taken down
//! mid-connection (`ip link set ... down`: packets are dropped, no FIN, no
//! RST; TCP retransmits into the void, as when a NAT forgets a mapping or a
//! Wi-Fi link drops). The end under test must notice within
//! `ping_interval + pong_timeout`.
//!
//! The same scenario runs through the userspace relay in `tests/faults`; this
//! variant takes the relay out of the picture. It needs root (or
//! `CAP_NET_ADMIN` and `CAP_SYS_ADMIN`) and the `ip` tool; where they are
//! missing each test prints why and passes without running.
//!
//! The peer in the namespace is this test binary again (`ip netns exec NS
//! <this binary> --exact netns_peer --ignored`), told what to be by
//! `RFC6455_NETNS_PEER`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rfc6455::handshake::Accept;
use rfc6455::io::{blocking, tokio_ws, Error};
use rfc6455::{CloseReason, Config, Message, TimeoutKind};

const PEER_ENV: &str = "RFC6455_NETNS_PEER";
const PING_INTERVAL: Duration = Duration::from_millis(300);
const PONG_TIMEOUT: Duration = Duration::from_millis(300);
const SLACK: Duration = Duration::from_millis(700);
const PORT: u16 = 9001;

/// A namespace with one end of a veth pair; the other end stays here.
struct Netns {
    name: String,
    host_veth: String,
    host_ip: String,
    peer_ip: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|err| format!("`ip` could not run: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Netns {
    /// Creates the namespace and the link (subnet 10.213.`slot`.0/30), or
    /// says why it cannot.
    fn create(slot: u8) -> Result<Self, String> {
        let id = format!("{}{slot}", std::process::id() % 100_000);
        let ns = Self {
            name: format!("rfc6455-{id}"),
            host_veth: format!("r6h{id}"),
            host_ip: format!("10.213.{slot}.1"),
            peer_ip: format!("10.213.{slot}.2"),
        };
        let peer_veth = format!("r6p{id}");
        ip(&["netns", "add", &ns.name])?;
        let setup = || -> Result<(), String> {
            ip(&["link", "add", &ns.host_veth, "type", "veth", "peer", "name", &peer_veth])?;
            ip(&["link", "set", &peer_veth, "netns", &ns.name])?;
            ip(&["addr", "add", &format!("{}/30", ns.host_ip), "dev", &ns.host_veth])?;
            ip(&["link", "set", &ns.host_veth, "up"])?;
            ip(&["-n", &ns.name, "addr", "add", &format!("{}/30", ns.peer_ip), "dev", &peer_veth])?;
            ip(&["-n", &ns.name, "link", "set", &peer_veth, "up"])?;
            ip(&["-n", &ns.name, "link", "set", "lo", "up"])
        };
        setup().map(|()| ns)
    }

    /// Runs this test binary's `netns_peer` inside the namespace as `role`.
    fn spawn_peer(&self, role: &str) -> Child {
        let me = std::env::current_exe().unwrap();
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(me)
            .args(["--exact", "netns_peer", "--ignored", "--nocapture"])
            .env(PEER_ENV, role)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run the peer in the namespace")
    }

    /// Takes the link down: from now on nothing passes either way.
    fn cut(&self) {
        ip(&["link", "set", &self.host_veth, "down"]).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_veth]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn heartbeat() -> Config {
    let mut config = Config::default();
    config.ping_interval = Some(PING_INTERVAL);
    config.pong_timeout = PONG_TIMEOUT;
    config
}

fn quiet() -> Config {
    let mut config = Config::default();
    config.ping_interval = None;
    config
}

/// The peer, inside the namespace: `server` (accept one connection on
/// `PEER_IP:PORT` and echo) or `client:URL` (connect, send hello, read until
/// the end). Not a test of its own: it does nothing without `RFC6455_NETNS_PEER`.
#[test]
#[ignore = "the peer the netns tests run inside their namespace"]
fn netns_peer() {
    let Ok(role) = std::env::var(PEER_ENV) else { return };
    if let Some(addr) = role.strip_prefix("server:") {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = blocking::accept_tcp(tcp, &quiet(), |_| Ok(Accept::new())).unwrap();
        while let Ok(Some(message)) = ws.read() {
            if ws.send(message).is_err() {
                break;
            }
        }
    } else if let Some(url) = role.strip_prefix("client:") {
        let (mut ws, _) = blocking::connect_with(url, &quiet()).unwrap();
        ws.send("hello").unwrap();
        while let Ok(Some(_)) = ws.read() {}
    }
}

/// Kills the peer process when the test ends, however it ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_client_notices_a_link_taken_down_within_the_heartbeat() {
    let ns = match Netns::create(1) {
        Ok(ns) => ns,
        Err(reason) => return println!("skipped (no network namespace here): {reason}"),
    };
    let _peer = Reap(ns.spawn_peer(&format!("server:{}:{PORT}", ns.peer_ip)));
    let url = format!("ws://{}:{PORT}/", ns.peer_ip);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ws = loop {
        match tokio_ws::connect_with(url.as_str(), &heartbeat()).await {
            Ok((ws, _)) => break ws,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(err) => panic!("the peer in the namespace did not answer: {err}"),
        }
    };
    ws.send("hello").await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::text("hello")));
    ns.cut();
    let cut_at = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), ws.recv()).await.expect("never noticed");
    let took = cut_at.elapsed();
    println!("link down: noticed after {took:?}");
    assert!(
        matches!(result, Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong)))),
        "expected a pong timeout, got {result:?}"
    );
    assert!(took <= PING_INTERVAL + PONG_TIMEOUT + SLACK, "noticed only after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_server_notices_a_link_taken_down_within_the_heartbeat() {
    let ns = match Netns::create(2) {
        Ok(ns) => ns,
        Err(reason) => return println!("skipped (no network namespace here): {reason}"),
    };
    let listener = std::net::TcpListener::bind(format!("{}:0", ns.host_ip)).unwrap();
    let addr = listener.local_addr().unwrap();
    let _peer = Reap(ns.spawn_peer(&format!("client:ws://{addr}/")));
    let outcome = tokio::task::spawn_blocking(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = blocking::accept_tcp(tcp, &heartbeat(), |_| Ok(Accept::new())).unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::text("hello")));
        ns.cut();
        let cut_at = Instant::now();
        let result = ws.read();
        (cut_at.elapsed(), result, ns)
    });
    let (took, result, _ns) =
        tokio::time::timeout(Duration::from_secs(20), outcome).await.expect("never noticed").unwrap();
    println!("link down: noticed after {took:?}");
    assert!(
        matches!(result, Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong)))),
        "expected a pong timeout, got {result:?}"
    );
    assert!(took <= PING_INTERVAL + PONG_TIMEOUT + SLACK, "noticed only after {took:?}");
}
