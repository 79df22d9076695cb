//! `berth` networking, driven as a user would: the default bridge network, published ports
//! (from the host's loopback, from another container through the gateway: hairpin),
//! user-defined networks with names and aliases, `none`, `host`, `container:NAME`, port
//! conflicts and bad input. Each test's engine runs in a network namespace of its own
//! (`Engine::networked`), so its bridges, veths and nftables rules never touch the host's,
//! and the leak check covers veths and published-port map elements.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

/// A busybox httpd serving `text` at /index.html on port 80.
fn httpd(text: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("echo {text} > /tmp/index.html && exec httpd -f -p 80 -h /tmp"),
    ]
}

/// Every name in a hosts file (not a substring test: a random hostname may start with
/// the letter a container is named).
fn hosts_names(text: &str) -> Vec<&str> {
    text.lines().flat_map(|l| l.split_whitespace().skip(1)).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `wget -qO- URL` from the engine's namespace (the host's side), retried while the server
/// starts.
fn fetch_from_host(env: &Engine, url: &str) -> String {
    let start = Instant::now();
    loop {
        let out = env.in_netns(&["/bin/busybox", "wget", "-qO-", url]);
        if out.status.success() {
            return out.stdout;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{url} never answered: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `wget -qO- URL` from a fresh container on `network`.
fn fetch_from_container(env: &Engine, network: &str, url: &str) -> String {
    let start = Instant::now();
    loop {
        let out = env.run(&["--rm", "--network", network], &["wget", "-qO-", url]);
        if out.status.success() {
            return out.stdout;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{url} never answered: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn default_network_gives_an_address_a_route_and_a_hosts_entry() {
    require_container!(nft);
    let env = Engine::networked("net-default");
    let out = env.run(
        &["--rm", "--name", "probe"],
        &["sh", "-c", "ip -4 -o addr show eth0; ip route; cat /etc/hosts"],
    );
    out.success();
    assert!(out.stdout.contains("inet 10.88.0.2/16"), "{out}");
    assert!(out.stdout.contains("default via 10.88.0.1 dev eth0"), "{out}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("10.88.0.2\t") && l.contains("probe")),
        "{out}"
    );
    // --rm released the address: the next container gets it again
    let again = env.run(&["--rm"], &["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(again.stdout.contains("10.88.0.2/16"), "{again}");
    let bridge = env.in_netns(&["ip", "-o", "addr", "show", "berth0"]);
    assert!(bridge.stdout.contains("10.88.0.1/16"), "{bridge}");
    env.finish();
}

#[test]
fn published_ports_reach_the_container_from_loopback_and_other_containers() {
    require_container!(nft);
    let env = Engine::networked("net-ports");
    let cmd = httpd("hello");
    env.run(&["-d", "--name", "web", "-p", "127.0.0.1:18080:80", "-p", "18081:80"], &strs(&cmd))
        .success();
    assert_eq!(fetch_from_host(&env, "http://127.0.0.1:18080/index.html"), "hello\n");
    assert_eq!(fetch_from_host(&env, "http://127.0.0.1:18081/index.html"), "hello\n");
    // hairpin: another container through the host's (the gateway's) address
    assert_eq!(
        fetch_from_container(&env, "bridge", "http://10.88.0.1:18081/index.html"),
        "hello\n"
    );
    // and directly, container to container on the bridge
    assert_eq!(fetch_from_container(&env, "bridge", "http://10.88.0.2:80/index.html"), "hello\n");

    let port = env.berth(["port", "web"]);
    assert_eq!(port.stdout, "80/tcp -> 127.0.0.1:18080\n80/tcp -> 0.0.0.0:18081\n", "{port}");
    assert_eq!(env.berth(["port", "web", "80"]).stdout.lines().count(), 2);
    env.berth(["port", "web", "81"]).failure();
    let ps = env.berth(["ps"]);
    assert!(ps.stdout.contains("127.0.0.1:18080->80/tcp, 0.0.0.0:18081->80/tcp"), "{ps}");
    let doc = env.inspect("web");
    assert_eq!(doc["NetworkSettings"]["IPAddress"], "10.88.0.2", "{doc}");
    assert_eq!(doc["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], "18080", "{doc}");

    // stopped: the port is withdrawn; started again: back
    env.berth(["stop", "-t", "1", "web"]).success();
    let map = env.in_netns(&["nft", "list", "map", "ip", "berth", "ports_any"]);
    assert!(!map.stdout.contains("elements"), "a stopped container publishes nothing: {map}");
    env.berth(["start", "web"]).success();
    assert_eq!(fetch_from_host(&env, "http://127.0.0.1:18081/index.html"), "hello\n");
    env.finish();
}

#[test]
fn a_taken_host_port_is_a_clear_error_and_nothing_is_left() {
    require_container!(nft);
    let env = Engine::networked("net-taken");
    env.run(&["-d", "--name", "first", "-p", "18090:80"], &["sleep", "1000"]).success();
    let out = env.run(&["-d", "--name", "late", "-p", "18090:80"], &["sleep", "1000"]);
    out.failure();
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("bind host port 0.0.0.0:18090/tcp"), "{out}");
    assert!(out.stderr.contains("in use"), "names the errno: {out}");
    assert!(
        !out.stderr.contains("berth-runtime"),
        "berth's own step failed, not the runtime: {out}"
    );
    let ps = env.berth(["ps", "-a"]);
    assert!(!ps.stdout.contains("late"), "no record left: {ps}");
    let net = env.berth(["network", "inspect", "berth"]);
    assert_eq!(net.stdout.matches("\"Name\": \"first\"").count(), 1, "{net}");
    assert!(!net.stdout.contains("late"), "no address left: {net}");
    env.finish();
}

/// The monitor withdraws the ports and closes their sockets before it records the exit, and
/// deletes the veth only after: the next `run -p` of the same port, started as soon as
/// `run --rm` returns, finds it free; the veths go soon after (`finish` allows 5 s).
#[test]
fn a_port_is_free_again_when_run_rm_returns() {
    require_container!(nft);
    let env = Engine::networked("net-port-reuse");
    for i in 0..5 {
        let out = env.run(&["--rm", "-p", "18095:80"], &["true"]);
        assert!(out.status.success(), "run {i}: {out}");
    }
    env.finish();
}

#[test]
fn user_networks_resolve_names_and_aliases_and_refuse_removal_in_use() {
    require_container!(nft);
    let env = Engine::networked("net-user");
    let id = env.berth(["network", "create", "--subnet", "10.77.0.0/24", "lab"]);
    id.success();
    assert_eq!(id.stdout.trim().len(), 64, "{id}");
    let cmd = httpd("from-a");
    env.run(&["-d", "--name", "a", "--network", "lab", "--network-alias", "web"], &strs(&cmd))
        .success();
    assert_eq!(fetch_from_container(&env, "lab", "http://a/index.html"), "from-a\n");
    assert_eq!(fetch_from_container(&env, "lab", "http://web/index.html"), "from-a\n");
    // a container created later appears in the hosts file of one made before
    env.run(&["-d", "--name", "b", "--network", "lab"], &["sleep", "1000"]).success();
    let hosts = env.berth(["exec", "a", "cat", "/etc/hosts"]);
    assert!(hosts.stdout.lines().any(|l| l.starts_with("10.77.0.3\tb")), "{hosts}");
    // the default network has no names (Docker's rule)
    let other = env.run(&["--rm"], &["cat", "/etc/hosts"]);
    assert!(!hosts_names(&other.stdout).contains(&"a"), "{other}");

    let ls = env.berth(["network", "ls"]);
    assert!(ls.stdout.contains("lab") && ls.stdout.contains("10.77.0.0/24"), "{ls}");
    let doc = env.berth(["network", "inspect", "lab"]);
    assert!(doc.stdout.contains("\"Subnet\": \"10.77.0.0/24\""), "{doc}");
    assert!(doc.stdout.contains("10.77.0.2/24"), "{doc}");
    let busy = env.berth(["network", "rm", "lab"]);
    busy.failure();
    assert!(busy.stderr.contains("remove network lab: it is in use"), "{busy}");

    env.berth(["rm", "-f", "a"]).success();
    let hosts = env.berth(["exec", "b", "cat", "/etc/hosts"]);
    assert!(!hosts_names(&hosts.stdout).contains(&"a"), "a left b's hosts file: {hosts}");
    env.berth(["rm", "-f", "b"]).success();
    let bridge = env.berth(["network", "inspect", "lab"]);
    let name = bridge.stdout.split("br-").nth(1).map(|s| format!("br-{}", &s[..12])).unwrap();
    env.berth(["network", "rm", "lab"]).success();
    env.in_netns(&["ip", "link", "show", &name]).failure();
    env.berth(["network", "inspect", "lab"]).failure();
    env.finish();
}

#[test]
fn none_host_and_container_modes() {
    require_container!(nft);
    let env = Engine::networked("net-modes");
    let none = env.run(&["--rm", "--network", "none"], &["ip", "-o", "link"]);
    none.success();
    assert_eq!(none.stdout.lines().count(), 1, "loopback only: {none}");
    assert!(none.stdout.contains("lo:") && none.stdout.contains("UP"), "{none}");
    // host: the engine's namespace, where the bridge lives
    env.run(&["--rm"], &["true"]).success();
    let host = env.run(&["--rm", "--network", "host"], &["ip", "-o", "link"]);
    assert!(host.stdout.contains("berth0"), "{host}");
    // container:NAME shares the other's namespace: its server on 127.0.0.1
    let cmd = httpd("shared");
    env.run(&["-d", "--name", "srv"], &strs(&cmd)).success();
    let start = Instant::now();
    loop {
        let out = env.run(
            &["--rm", "--network", "container:srv"],
            &["wget", "-qO-", "http://127.0.0.1/index.html"],
        );
        if out.status.success() {
            assert_eq!(out.stdout, "shared\n");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.finish();
}

#[test]
fn bad_network_input_is_refused_and_leaves_nothing() {
    require_container!(nft);
    let env = Engine::networked("net-bad");
    env.berth(["network", "create", "--subnet", "10.66.0.0/16", "one"]).success();
    for (args, want) in [
        (vec!["--subnet", "10.66.1.0/24", "two"], "overlaps subnet 10.66.0.0/16 of network one"),
        (vec!["--subnet", "10.66.0.0", "two"], "expected a.b.c.d/prefix"),
        (vec!["--subnet", "10.67.0.0/31", "two"], "between /8 and /30"),
        (vec!["--subnet", "10.68.0.0/24", "--gateway", "10.69.0.1", "two"], "not a host address"),
        (vec!["one"], "a network named one exists"),
        (vec!["host"], "not none, host"),
        (vec!["-o", "mtu=10", "two"], "from 68 to 65520"),
        (vec!["-o", "foo=1", "two"], "takes mtu=N"),
    ] {
        let mut a = vec!["network", "create"];
        a.extend(args);
        let out = env.berth(&a);
        out.failure();
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
    for (flags, want) in [
        (vec!["--network", "nope"], "no such network: nope"),
        (vec!["-p", "80:80:80:80"], "invalid --publish"),
        (vec!["-p", "99999:80"], "invalid host port"),
        (vec!["--network", "none", "-p", "80"], "ports cannot be published with --network none"),
        (vec!["--network", "container:ghost"], "no such container: ghost"),
        (vec!["--add-host", "nocolon"], "expected HOST:IP"),
        (vec!["--dns", "not-an-ip"], "not an IP address"),
    ] {
        let out = env.run(&flags, &["true"]);
        assert_eq!(out.code(), Some(125), "{flags:?}: {out}");
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "no record left");
    let doc = env.berth(["network", "inspect", "berth"]);
    assert!(doc.stdout.contains("\"Containers\": {}"), "no address left: {doc}");
    assert!(env.berth(["network", "rm", "berth"]).stderr.contains("default network"));
    let pruned = env.berth(["network", "prune", "-f"]);
    assert!(pruned.stdout.contains("one"), "{pruned}");
    env.finish();
}

#[test]
fn concurrent_runs_get_distinct_addresses() {
    require_container!(nft);
    let env = Engine::networked("net-race");
    let outs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let env = &env;
                s.spawn(move || env.run(&["-d", "--name", &format!("c{i}")], &["sleep", "1000"]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        o.success();
    }
    let mut addrs: Vec<String> = (0..6)
        .map(|i| env.inspect(&format!("c{i}"))["NetworkSettings"]["IPAddress"].to_string())
        .collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 6, "{addrs:?}");
    env.finish();
}

/// A "remote host": a network namespace held by a `sleep`, linked to the engine's namespace
/// by a veth pair (engine side 192.0.2.1/24, remote side 192.0.2.2/24). Killed on drop.
struct RemoteHost {
    holder: std::process::Child,
}

impl RemoteHost {
    fn new(env: &Engine) -> RemoteHost {
        let holder = std::process::Command::new("unshare")
            .args(["--net", "--", "sleep", "infinity"])
            .spawn()
            .unwrap();
        let remote = RemoteHost { holder };
        let pid = remote.holder.id().to_string();
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let start = Instant::now();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap() == own {
            assert!(start.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(2));
        }
        env.in_netns(&[
            "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "eth0", "netns", &pid,
        ])
        .success();
        env.in_netns(&["ip", "addr", "add", "192.0.2.1/24", "dev", "uplink0"]).success();
        env.in_netns(&["ip", "link", "set", "uplink0", "up"]).success();
        for cmd in [
            vec!["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            remote.run(&cmd).success();
        }
        remote
    }

    /// Starts a server in the remote namespace, killed when the guard drops; its output
    /// goes nowhere (an inherited pipe would keep the test's reader waiting).
    fn spawn(&self, argv: &[&str]) -> KillOnDrop {
        let child = std::process::Command::new("nsenter")
            .arg(format!("--net=/proc/{}/ns/net", self.holder.id()))
            .arg("--")
            .args(argv)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        KillOnDrop(child)
    }

    fn run(&self, argv: &[&str]) -> berth_test_support::command::Output {
        let mut c = std::process::Command::new("nsenter");
        c.arg(format!("--net=/proc/{}/ns/net", self.holder.id())).arg("--").args(argv);
        berth_test_support::command::TestCommand::new(c).output()
    }
}

/// A process killed and reaped when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn published_ports_are_reachable_from_another_host_and_outbound_is_masqueraded() {
    require_container!(nft);
    let env = Engine::networked("net-remote");
    let remote = RemoteHost::new(&env);
    let cmd = httpd("remote-ok");
    env.run(&["-d", "--name", "web", "-p", "18082:80"], &strs(&cmd)).success();
    let start = Instant::now();
    loop {
        let out =
            remote.run(&["/bin/busybox", "wget", "-qO-", "http://192.0.2.1:18082/index.html"]);
        if out.status.success() {
            assert_eq!(out.stdout, "remote-ok\n");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // a port published on 127.0.0.1 only is not reachable from elsewhere
    env.run(&["-d", "--name", "local", "-p", "127.0.0.1:18083:80"], &strs(&cmd)).success();
    let out = remote.run(&["/bin/busybox", "wget", "-qO-", "http://192.0.2.1:18083/index.html"]);
    out.failure();
    // outbound: a container reaches the remote host, which sees the engine's address
    let server = remote.spawn(&["/bin/busybox", "nc", "-l", "-p", "9000"]);
    let start = Instant::now();
    loop {
        let out = env.run(&["--rm"], &["sh", "-c", "echo over-nat | nc 192.0.2.2 9000"]);
        if out.status.success() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // the client connected (busybox nc fails on a refused connection); the counter below
    // proves the connection left through the masquerade rule
    drop(server);
    let counters = env.in_netns(&["nft", "list", "chain", "ip", "berth", "postrouting"]);
    let outbound = counters.stdout.lines().find(|l| l.contains("oifname != \"berth0\"")).unwrap();
    assert!(!outbound.contains("packets 0 "), "outbound was not masqueraded: {counters}");
    env.finish();
}

#[test]
fn connect_and_disconnect_a_running_container() {
    require_container!(nft);
    let env = Engine::networked("net-connect");
    env.berth(["network", "create", "--subnet", "10.78.0.0/24", "back"]).success();
    let cmd = httpd("db-answer");
    env.run(&["-d", "--name", "db", "--network", "back"], &strs(&cmd)).success();
    env.run(&["-d", "--name", "app"], &["sleep", "1000"]).success();
    env.berth(["network", "connect", "--alias", "api", "back", "app"]).success();
    let links = env.berth(["exec", "app", "ip", "-4", "-o", "addr"]);
    assert!(links.stdout.contains("eth1") && links.stdout.contains("10.78.0.3/24"), "{links}");
    let got = env.berth(["exec", "app", "wget", "-qO-", "http://db/index.html"]);
    assert_eq!(got.stdout, "db-answer\n", "{got}");
    let hosts = env.berth(["exec", "db", "cat", "/etc/hosts"]);
    assert!(hosts.stdout.contains("10.78.0.3\tapp api"), "{hosts}");
    env.berth(["network", "connect", "back", "app"]).failure();
    // kept across a restart
    env.berth(["restart", "-t", "1", "app"]).success();
    let links = env.berth(["exec", "app", "ip", "-4", "-o", "addr"]);
    assert!(links.stdout.contains("10.78.0.3/24"), "{links}");

    env.berth(["network", "disconnect", "back", "app"]).success();
    let links = env.berth(["exec", "app", "ip", "-o", "link"]);
    assert!(!links.stdout.contains("eth1"), "{links}");
    let hosts = env.berth(["exec", "db", "cat", "/etc/hosts"]);
    assert!(!hosts.stdout.contains("app"), "{hosts}");
    let out = env.berth(["network", "disconnect", "back", "app"]);
    assert!(out.stderr.contains("is not connected"), "{out}");
    env.finish();
}

#[test]
fn system_prune_removes_stopped_containers_unused_networks_and_orphan_addresses() {
    require_container!(nft);
    let env = Engine::networked("net-prune");
    env.berth(["network", "create", "spare"]).success();
    env.berth(["network", "create", "used"]).success();
    env.run(&["-d", "--name", "keep", "--network", "used"], &["sleep", "1000"]).success();
    env.run(&["--name", "done"], &["true"]).success();
    let out = env.berth(["system", "prune", "-f"]);
    out.success();
    assert!(out.stdout.contains("Deleted Networks:\nspare\n"), "{out}");
    assert!(out.stdout.contains("Deleted Containers:"), "{out}");
    let ls = env.berth(["network", "ls"]);
    assert!(ls.stdout.contains("used") && !ls.stdout.contains("spare"), "{ls}");
    assert_eq!(env.berth(["ps", "-aq"]).stdout.lines().count(), 1, "only the running one");
    env.finish();
}

#[test]
fn a_berth_killed_half_way_through_run_leaves_nothing_after_system_prune() {
    require_container!(nft);
    let env = Engine::networked("net-fault");
    let rootfs = env.rootfs().display().to_string();
    for point in [
        "create-after-rootfs",
        "create-after-network-plan",
        "create-after-record",
        "start-after-monitor",
    ] {
        let out = env
            .command()
            .env("BERTH_ENGINE_FAULT", point)
            .args([
                "run",
                "-d",
                "--name",
                "victim",
                "-p",
                "18099:80",
                "--cgroup-parent",
                env.parent(),
                "--rootfs",
                rootfs.as_str(),
                "-",
                "sleep",
                "1000",
            ])
            .output();
        assert_eq!(out.code(), None, "{point}: killed by SIGKILL: {out}");
        // what is recorded can be removed; what is not, system prune finds
        for id in env.berth(["ps", "-aq", "--no-trunc"]).stdout.lines() {
            env.berth(["rm", "-f", id]).success();
        }
        env.berth(["system", "prune", "-f"]).success();
        let doc = env.berth(["network", "inspect", "berth"]);
        assert!(doc.stdout.contains("\"Containers\": {}"), "{point}: address left: {doc}");
        let dirs = std::fs::read_dir(env.path("data/containers")).unwrap().count();
        assert_eq!(dirs, 0, "{point}: container directory left");
        assert!(env.leftovers().is_empty(), "{point}: {:?}", env.leftovers());
        // and the port is free again
        env.run(&["--rm", "-p", "18099:80"], &["true"]).success();
    }
    env.finish();
}

#[test]
fn a_network_mtu_is_the_default_routes_and_the_links_run_at_65520() {
    require_container!(nft);
    let env = Engine::networked("net-mtu");
    env.berth(["network", "create", "-o", "mtu=9000", "jumbo"]).success();
    // the host's iproute2 in the container's namespace (busybox's `ip` shows no metrics)
    let routes = |name: &str| {
        let pid = env.inspect(name)["State"]["Pid"].as_i64().unwrap().to_string();
        let ns = format!("--net=/proc/{pid}/ns/net");
        let mut c = std::process::Command::new("nsenter");
        c.args([ns.as_str(), "--", "sh", "-c"]);
        c.arg("ip -o link show eth0; ip route show; ip route get 192.0.2.9");
        berth_test_support::command::TestCommand::new(c).output()
    };
    env.run(&["-d", "--name", "j", "--network", "jumbo"], &["sleep", "1000"]).success();
    let out = routes("j");
    assert!(out.stdout.lines().next().unwrap().contains(" mtu 65520 "), "{out}");
    assert!(out.stdout.contains("default via 10.89.0.1 dev eth0 mtu 9000"), "{out}");
    let doc = env.berth(["network", "inspect", "jumbo"]);
    assert!(doc.stdout.contains("\"com.docker.network.driver.mtu\": \"9000\""), "{doc}");
    env.run(&["-d", "--name", "d"], &["sleep", "1000"]).success();
    let out = routes("d");
    assert!(out.stdout.lines().next().unwrap().contains(" mtu 65520 "), "{out}");
    assert!(out.stdout.contains("default via 10.88.0.1 dev eth0 mtu 1500"), "{out}");
    // off the bridge: the network's MTU; on it: the link's
    assert!(out.stdout.contains("192.0.2.9 via 10.88.0.1 dev eth0 src 10.88.0.2"), "{out}");
    assert!(out.stdout.lines().last().unwrap().contains("mtu 1500"), "{out}");
    assert!(!out
        .stdout
        .contains("10.88.0.0/16 dev eth0 proto kernel scope link src 10.88.0.2 mtu"));
    let bridge = env.in_netns(&["ip", "-o", "link", "show", "berth0"]);
    assert!(bridge.stdout.contains(" mtu 65520 "), "{bridge}");
    env.finish();
}

#[test]
fn after_a_simulated_reboot_the_records_recover_and_the_container_starts_again() {
    require_container!(nft);
    let env = Engine::networked("net-reboot");
    let cmd = httpd("after-reboot");
    env.run(&["-d", "--name", "svc", "-p", "127.0.0.1:18110:80"], &strs(&cmd)).success();
    assert_eq!(fetch_from_host(&env, "http://127.0.0.1:18110/index.html"), "after-reboot\n");
    // "reboot": every process of it dies, /run is empty, the bridge and the table are gone
    let id = env.inspect("svc")["Id"].as_str().unwrap().to_string();
    let run = env.path("run");
    let monitor =
        std::fs::read_to_string(run.join("containers").join(&id).join("monitor.pid")).unwrap();
    let pid = env.inspect("svc")["State"]["Pid"].as_i64().unwrap();
    for p in [monitor.trim().to_string(), pid.to_string()] {
        let _ = std::process::Command::new("kill").args(["-9", &p]).status();
    }
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    // the runtime's state (and its cgroup) would not survive a reboot either
    let _ = std::process::Command::new(berth_test_support::engine::bin("berth-runtime"))
        .arg("--root")
        .arg(run.join("runtime"))
        .args(["delete", "--force", &id])
        .status();
    std::process::Command::new("rm")
        .arg("-rf")
        .arg("--one-file-system")
        .arg(&run)
        .status()
        .unwrap();
    env.in_netns(&["ip", "link", "del", "berth0"]).success();
    env.in_netns(&["nft", "delete", "table", "ip", "berth"]).success();

    let ps = env.berth(["ps", "-a"]);
    assert!(ps.stdout.contains("Exited (255)"), "the record says it died: {ps}");
    env.berth(["start", "svc"]).success();
    assert_eq!(fetch_from_host(&env, "http://127.0.0.1:18110/index.html"), "after-reboot\n");
    env.finish();
}

#[test]
fn a_flushed_ruleset_is_rebuilt_when_a_container_publishes_again() {
    require_container!(nft);
    let env = Engine::networked("net-flush");
    let cmd = httpd("rebuilt");
    env.run(&["-d", "--name", "a", "-p", "127.0.0.1:18120:80"], &strs(&cmd)).success();
    // a firewall reload flushes everything, berth's table included
    env.in_netns(&["nft", "flush", "ruleset"]).success();
    env.run(&["-d", "--name", "b", "-p", "127.0.0.1:18121:80"], &strs(&cmd)).success();
    assert_eq!(fetch_from_host(&env, "http://127.0.0.1:18121/index.html"), "rebuilt\n");
    env.finish();
}

#[test]
fn an_internal_network_reaches_its_peers_but_nothing_outside() {
    require_container!(nft);
    let env = Engine::networked("net-internal");
    let remote = RemoteHost::new(&env);
    env.berth(["network", "create", "--internal", "--subnet", "10.79.0.0/24", "vault"]).success();
    let cmd = httpd("inside");
    env.run(&["-d", "--name", "peer", "--network", "vault"], &strs(&cmd)).success();
    assert_eq!(fetch_from_container(&env, "vault", "http://peer/index.html"), "inside\n");
    // the same request to the remote host works from the default network, not from vault
    let _server = remote.spawn(&["/bin/busybox", "httpd", "-f", "-p", "9100", "-h", "/etc"]);
    let url = "http://192.0.2.2:9100/debian_version";
    let version = std::fs::read_to_string("/etc/debian_version").unwrap();
    assert_eq!(fetch_from_container(&env, "bridge", url), version);
    // `timeout` execs the command in its own pid, and pid 1 ignores SIGTERM: keep sh as pid 1
    let probe = format!("timeout 2 wget -qO- {url}; exit $?");
    let out = env.run(&["--rm", "--network", "vault"], &["sh", "-c", &probe]);
    out.failure();
    env.finish();
}
