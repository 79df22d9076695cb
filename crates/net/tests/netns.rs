//! Root tests of berth-net. Each test re-executes this binary under `unshare --net --mount`
//! and does all its link and nftables work in that private network namespace: nothing is
//! created in the host's namespace, and only addresses inside the test's namespaces are
//! contacted. The "containers" are `unshare --net sleep` processes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_net::{
    attach, detach, host_veth_name, nat, AttachRequest, Bridge, Error, Ipam, Ipv4Net, Mac,
    MemoryTable, Netns,
};

const INSIDE: &str = "BERTH_NET_TEST_INSIDE";
/// The namespace the outer test runs in, which the inner run checks it has left.
const OUTER_NS: &str = "BERTH_NET_TEST_OUTER_NS";
const BUSYBOX: &str = "/bin/busybox";

fn skip(test: &str, why: &str) {
    if std::env::var_os("BERTH_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("{test}: cannot run: {why}");
    }
    eprintln!("SKIP {test}: {why}");
}

fn netns_id(path: &str) -> PathBuf {
    std::fs::read_link(path).expect("read netns link")
}

/// True when running inside the private namespace; otherwise runs `test` there (or skips)
/// and returns false.
fn inside(test: &str) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        // never run the body in the namespace of the process that started the test
        let outer = std::env::var_os(OUTER_NS).map(PathBuf::from);
        assert!(outer.is_some_and(|o| o != netns_id("/proc/self/ns/net")), "not in a netns");
        return true;
    }
    if !rustix::process::geteuid().is_root() {
        skip(test, "needs root");
        return false;
    }
    for tool in ["/usr/bin/unshare", "/usr/bin/nsenter", BUSYBOX] {
        if !Path::new(tool).exists() {
            skip(test, &format!("needs {tool}"));
            return false;
        }
    }
    if Command::new("nft").arg("--version").output().is_err() {
        skip(test, "needs nft (Debian package nftables)");
        return false;
    }
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new("/usr/bin/unshare")
        .args(["--net", "--mount", "--"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, test)
        .env(OUTER_NS, netns_id("/proc/self/ns/net"))
        .output()
        .expect("run unshare");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "{test} failed in its namespace");
    assert!(text.contains("1 passed"), "{test} did not run in its namespace");
    false
}

/// A "container": a sleeping process in a network namespace of its own.
struct Container(Child);

impl Container {
    fn start() -> Self {
        let me = netns_id("/proc/self/ns/net");
        let child = Command::new("/usr/bin/unshare")
            .args(["--net", "--", "sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let c = Self(child);
        // unshare(2) runs after the fork: wait until the pid's namespace is its own
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(c.ns()).map_or(true, |l| l == me) {
            assert!(Instant::now() < deadline, "container never got its own netns");
            std::thread::sleep(Duration::from_millis(2));
        }
        c
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid")
    }

    fn ns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.0.id()))
    }

    /// `/proc/<pid>/net/<file>`: the view of the container's namespace.
    fn net(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/net/{file}", self.0.id())).expect("proc net")
    }

    fn ping(&self, to: Ipv4Addr) -> bool {
        Command::new("/usr/bin/nsenter")
            .arg(format!("--net={}", self.ns().display()))
            .args([BUSYBOX, "ping", "-c1", "-W2", &to.to_string()])
            .stdout(Stdio::null())
            .status()
            .expect("run ping")
            .success()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn links_here() -> String {
    std::fs::read_to_string("/proc/self/net/dev").expect("read /proc/self/net/dev")
}

fn has_link(dev: &str, name: &str) -> bool {
    dev.lines().any(|l| l.trim_start().starts_with(&format!("{name}:")))
}

fn nft(args: &[&str]) -> String {
    let out = Command::new("nft").args(args).output().expect("run nft");
    assert!(out.status.success(), "nft {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn request<'a>(c: &Container, bridge: &'a str, host: &str, addr: Ipv4Net) -> AttachRequest<'a> {
    AttachRequest {
        netns: Netns::Pid(c.pid()),
        bridge,
        host_ifname: host_veth_name(host),
        ifname: "eth0",
        address: addr,
        gateway: Ipv4Addr::new(10, 88, 0, 1),
        default_route: true,
        mtu: 1500,
        route_mtu: None,
        mac: Mac::from_ipv4(addr.addr()),
    }
}

#[test]
fn bridge_attach_ping_nat_and_cleanup() {
    if !inside("bridge_attach_ping_nat_and_cleanup") {
        return;
    }
    let gateway: Ipv4Net = "10.88.0.1/16".parse().unwrap();
    let bridge = Bridge::ensure("berth-t0", gateway, 1500).unwrap();
    Bridge::ensure("berth-t0", gateway, 1500).expect("ensure is idempotent");
    assert!(has_link(&links_here(), "berth-t0"));

    let (a, b) = (Container::start(), Container::start());
    let mut table = MemoryTable::default();
    let mut ipam = Ipam::new(&mut table, "t0", gateway.trunc(), gateway.addr()).unwrap();
    let (addr_a, addr_b) = (ipam.allocate("a").unwrap(), ipam.allocate("b").unwrap());
    assert_eq!(addr_a.to_string(), "10.88.0.2/16");

    let started = Instant::now();
    let att_a = attach(&request(&a, &bridge.name, "aaaa", addr_a)).unwrap();
    let mut req_b = request(&b, &bridge.name, "bbbb", addr_b);
    req_b.netns = Netns::Path(b.ns());
    let att_b = attach(&req_b).unwrap();
    eprintln!("two attaches: {:?}", started.elapsed());

    // inside: eth0 with the default route via the gateway (10.88.0.1 = 0x0158580a LE)
    assert!(has_link(&a.net("dev"), "eth0"));
    assert!(a.net("route").lines().any(|l| l.starts_with("eth0\t00000000\t0100580A")));
    assert!(a.ping(addr_b.addr()), "a -> b");
    assert!(b.ping(addr_a.addr()), "b -> a");
    assert!(a.ping(gateway.addr()), "a -> gateway");

    // NAT in our own table only; a table of someone else is left alone
    nft(&["add", "table", "ip", "other"]);
    nat::enable_forwarding().unwrap();
    nat::ensure(gateway, &bridge.name, false).unwrap();
    nat::ensure(gateway, &bridge.name, false).expect("ensure is idempotent");
    assert!(nat::table_exists().unwrap());
    let listing = nft(&["list", "table", "ip", "berth"]);
    assert_eq!(listing.matches("masquerade").count(), 2, "{listing}");
    assert!(listing.contains("ip saddr 10.88.0.0/16 oifname != \"berth-t0\""), "{listing}");

    // An "upstream host" on a second bridge: a -> upstream leaves through a non-bridge
    // interface of the subnet's own bridge, so it is masqueraded (the counter moves).
    let up_gw: Ipv4Net = "192.0.2.1/24".parse().unwrap();
    let up_bridge = Bridge::ensure("berth-up", up_gw, 1500).unwrap();
    let up = Container::start();
    let mut req_up = request(&up, &up_bridge.name, "upup", "192.0.2.2/24".parse().unwrap());
    req_up.gateway = up_gw.addr();
    let att_up = attach(&req_up).unwrap();
    assert!(a.ping(Ipv4Addr::new(192, 0, 2, 2)), "a -> upstream through NAT");
    let listing = nft(&["list", "table", "ip", "berth"]);
    let outbound = listing.lines().find(|l| l.contains("oifname != \"berth-t0\"")).unwrap();
    assert!(!outbound.contains("packets 0 "), "masquerade never matched: {listing}");
    detach(&att_up).unwrap();
    Bridge::remove(&up_bridge.name).unwrap();

    let started = Instant::now();
    detach(&att_a).unwrap();
    detach(&att_b).unwrap();
    eprintln!("two detaches: {:?}", started.elapsed());
    detach(&att_a).expect("detach is idempotent");
    assert_eq!(ipam.release("a").unwrap(), Some(addr_a.addr()));
    nat::remove(gateway, &bridge.name).unwrap();
    nat::remove(gateway, &bridge.name).expect("remove is idempotent");
    Bridge::remove(&bridge.name).unwrap();
    Bridge::remove(&bridge.name).expect("remove is idempotent");

    let here = links_here();
    for gone in ["berth-t0", "berth-up", &att_a.host_ifname, &att_b.host_ifname] {
        assert!(!has_link(&here, gone), "{gone} left: {here}");
    }
    assert!(!has_link(&a.net("dev"), "eth0") && !has_link(&b.net("dev"), "eth0"));
    assert!(!nat::table_exists().unwrap());
    assert!(nft(&["list", "tables"]).contains("table ip other"), "other table untouched");
}

#[test]
fn failed_attach_leaves_nothing() {
    if !inside("failed_attach_leaves_nothing") {
        return;
    }
    let gateway: Ipv4Net = "10.89.0.1/24".parse().unwrap();
    let bridge = Bridge::ensure("berth-t1", gateway, 1500).unwrap();
    let c = Container::start();
    // a gateway outside the subnet: the route cannot be added, after the pair exists
    let mut req = request(&c, &bridge.name, "cccc", "10.89.0.2/24".parse().unwrap());
    req.gateway = Ipv4Addr::new(192, 0, 2, 1);
    let err = attach(&req).unwrap_err();
    assert!(matches!(err, Error::AddRoute { .. }), "{err:?}");
    assert!(err.to_string().contains("192.0.2.1"), "{err}");
    assert!(!has_link(&links_here(), &req.host_ifname), "host veth left");
    assert!(!has_link(&c.net("dev"), "eth0"), "container end left");

    let missing = request(&c, "no-such-br", "dddd", "10.89.0.3/24".parse().unwrap());
    assert!(matches!(attach(&missing), Err(Error::FindLink { .. })));
    let mut bad_ns = request(&c, &bridge.name, "eeee", "10.89.0.4/24".parse().unwrap());
    bad_ns.netns = Netns::Path("/nonexistent/ns".into());
    assert!(matches!(attach(&bad_ns), Err(Error::OpenNetns { .. })));
    assert!(matches!(Bridge::ensure("bad/name", gateway, 1500), Err(Error::InvalidName { .. })));
    Bridge::remove(&bridge.name).unwrap();
    assert!(!has_link(&links_here(), "berth-t1"));
}

#[test]
fn published_ports_are_map_elements_over_netlink() {
    if !inside("published_ports_are_map_elements_over_netlink") {
        return;
    }
    use berth_net::{Proto, Published};
    let port = |host_ip: Option<Ipv4Addr>, host_port: u16, last: u8| Published {
        proto: Proto::Tcp,
        host_ip,
        host_port,
        container_ip: Ipv4Addr::new(10, 88, 0, last),
        container_port: 80,
    };
    let mine = [port(None, 8080, 2), port(Some(Ipv4Addr::LOCALHOST), 8081, 2)];
    // no table yet: publishing says so, withdrawing is a no-op
    let err = nat::publish(&mine).unwrap_err();
    assert!(err.is_missing_table(), "{err:?}");
    assert!(matches!(&err, Error::Nftables { op, .. } if op.contains("ports_any")), "{err:?}");
    nat::unpublish(&mine).expect("no table: nothing to withdraw");

    let gateway: Ipv4Net = "10.88.0.1/16".parse().unwrap();
    let bridge = Bridge::ensure("berth-p0", gateway, 1500).unwrap();
    nat::ensure(gateway, &bridge.name, false).unwrap();
    nat::publish(&mine).unwrap();
    nat::publish(&mine).expect("publishing again is not an error");
    let any = nft(&["list", "map", "ip", "berth", "ports_any"]);
    assert!(any.contains("tcp . 8080 : 10.88.0.2 . 80"), "{any}");
    let ip = nft(&["list", "map", "ip", "berth", "ports_ip"]);
    assert!(ip.contains("127.0.0.1 . tcp . 8081 : 10.88.0.2 . 80"), "{ip}");

    // the same host port to another container: refused, named, and nothing of the batch
    // applied (8082 is not added either)
    let other = [port(None, 8082, 3), port(None, 8080, 3)];
    let err = nat::publish(&other).unwrap_err();
    let text = chain(&err);
    assert!(text.contains("add element { tcp . 8080 : 10.88.0.3 . 80 } to map"), "{text}");
    assert!(!nft(&["list", "map", "ip", "berth", "ports_any"]).contains("8082"));
    // withdrawing the other container's mapping leaves ours alone
    nat::unpublish(&other[1..]).unwrap_err();
    assert!(nft(&["list", "map", "ip", "berth", "ports_any"]).contains("8080"));

    nat::unpublish(&mine).unwrap();
    nat::unpublish(&mine).expect("withdrawing twice is not an error");
    for map in ["ports_any", "ports_ip"] {
        let listing = nft(&["list", "map", "ip", "berth", map]);
        assert!(!listing.contains("elements"), "{listing}");
    }
    // what one publish and one withdrawal of two ports cost, against `nft` doing the same
    let (mut publish, mut unpublish) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..50 {
        let started = Instant::now();
        nat::publish(&mine).unwrap();
        publish += started.elapsed();
        let started = Instant::now();
        nat::unpublish(&mine).unwrap();
        unpublish += started.elapsed();
    }
    eprintln!("over netlink: publish {:?}, unpublish {:?}", publish / 50, unpublish / 50);
    let started = Instant::now();
    for _ in 0..10 {
        nft(&["add element ip berth ports_any { tcp . 8080 : 10.88.0.2 . 80 }"]);
        nft(&["delete element ip berth ports_any { tcp . 8080 : 10.88.0.2 . 80 }"]);
    }
    eprintln!("the same with the nft binary: {:?}", started.elapsed() / 10);
    // a range of 3000 ports spans several batches
    let many: Vec<Published> = (20000..23000).map(|p| port(None, p, 4)).collect();
    nat::publish(&many).unwrap();
    let any = nft(&["list", "map", "ip", "berth", "ports_any"]);
    assert_eq!(any.matches(": 10.88.0.4 . 80").count(), 3000);
    nat::unpublish(&many).unwrap();
    assert!(!nft(&["list", "map", "ip", "berth", "ports_any"]).contains("elements"));
    nat::remove(gateway, &bridge.name).unwrap();
    Bridge::remove(&bridge.name).unwrap();
}

/// The error and its sources, as `berth` prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
