//! The seed document's lab, as issue 6 asks for it: a three-member etcd cluster behind
//! HAProxy, in berth containers on a user-defined network, from images built from Debian's
//! `etcd-server` and `haproxy` packages (the registry fixture's `etcd` and `haproxy`).
//!
//! The members find each other by name (`--initial-cluster etcd-1=http://etcd-1:2380,…`),
//! HAProxy publishes 127.0.0.1:23790 to their client port, and the test is the host's
//! `etcdctl` through that port: health, a put and a get; with one member stopped the cluster
//! still serves; started again, the member rejoins. Then everything is removed and nothing
//! may be left. The engine runs in a network namespace of its own (`Engine::networked`).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use berth_test_support::engine::Engine;
use berth_test_support::registry;
use berth_test_support::require_container;

const HAPROXY_CFG: &str = "\
global
    maxconn 256
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend etcd
    bind :2379
    default_backend members
backend members
    default-server inter 500ms fall 2 rise 2
    server etcd-1 etcd-1:2379 check
    server etcd-2 etcd-2:2379 check
    server etcd-3 etcd-3:2379 check
";

const CLUSTER: &str =
    "etcd-1=http://etcd-1:2380,etcd-2=http://etcd-2:2380,etcd-3=http://etcd-3:2380";

/// `etcdctl ARGS…` from the engine's namespace (the host's side of the published port).
fn etcdctl(env: &Engine, endpoint: &str, args: &[&str]) -> berth_test_support::command::Output {
    let ep = format!("--endpoints=http://{endpoint}");
    let mut argv = vec!["etcdctl", ep.as_str(), "--command-timeout=3s", "--dial-timeout=2s"];
    argv.extend_from_slice(args);
    env.in_netns(&argv)
}

/// Retries `etcdctl` until it succeeds and its stdout contains `want`.
fn eventually(env: &Engine, endpoint: &str, args: &[&str], want: &str, secs: u64) -> String {
    let start = Instant::now();
    loop {
        let out = etcdctl(env, endpoint, args);
        // `endpoint health` reports on stderr, `get` on stdout
        if out.status.success() && (out.stdout.contains(want) || out.stderr.contains(want)) {
            return out.stdout;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "etcdctl {args:?} via {endpoint} never gave {want:?}: {out}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn etcd_cluster_behind_haproxy_survives_a_member_stop_and_leaves_nothing() {
    require_container!(nft, etcdctl);
    let fx = berth_test_support::require_registry!();
    let (etcd, haproxy) = match (fx.image(registry::ETCD), fx.image(registry::HAPROXY)) {
        (Ok(_), Ok(_)) => {
            (fx.plain.reference(registry::ETCD), fx.plain.reference(registry::HAPROXY))
        }
        (Err(why), _) | (_, Err(why)) => {
            if berth_test_support::prereq::strict() {
                panic!("the lab needs the fixture's etcd and haproxy images: {why}");
            }
            eprintln!("SKIP: {why}");
            return;
        }
    };
    let env = Engine::networked("lab");
    env.host_berth(["pull", etcd.as_str()]).success();
    env.host_berth(["pull", haproxy.as_str()]).success();
    env.berth(["network", "create", "--subnet", "10.90.0.0/24", "lab"]).success();

    // Created first, started together: every name is in every hosts file before any
    // member resolves the initial cluster.
    for n in ["etcd-1", "etcd-2", "etcd-3"] {
        let adv_peer = format!("--initial-advertise-peer-urls=http://{n}:2380");
        let adv_client = format!("--advertise-client-urls=http://{n}:2379");
        let cluster = format!("--initial-cluster={CLUSTER}");
        let name = format!("--name={n}");
        env.berth([
            "create",
            "--name",
            n,
            "--network",
            "lab",
            "--memory",
            "256m",
            "--cpus",
            "0.5",
            "--cgroup-parent",
            env.parent(),
            etcd.as_str(),
            name.as_str(),
            adv_peer.as_str(),
            "--listen-peer-urls=http://0.0.0.0:2380",
            "--listen-client-urls=http://0.0.0.0:2379",
            adv_client.as_str(),
            cluster.as_str(),
            "--initial-cluster-state=new",
            "--initial-cluster-token=berth-lab",
        ])
        .success();
    }
    env.berth(["start", "etcd-1", "etcd-2", "etcd-3"]).success();

    let cfg = env.path("haproxy.cfg");
    std::fs::write(&cfg, HAPROXY_CFG).unwrap();
    let mount = format!("{}:/etc/haproxy/haproxy.cfg:ro", cfg.display());
    env.berth([
        "run",
        "-d",
        "--name",
        "lb",
        "--network",
        "lab",
        "-p",
        "127.0.0.1:23790:2379",
        "-v",
        mount.as_str(),
        "--cgroup-parent",
        env.parent(),
        haproxy.as_str(),
    ])
    .success();

    let lb = "127.0.0.1:23790";
    eventually(&env, lb, &["endpoint", "health"], "is healthy", 90);
    etcdctl(&env, lb, &["put", "seed", "berth"]).success();
    assert_eq!(
        eventually(&env, lb, &["get", "seed", "--print-value-only"], "berth", 10),
        "berth\n"
    );
    let members = eventually(&env, lb, &["member", "list"], "etcd-3", 10);
    assert_eq!(members.matches("started").count(), 3, "{members}");

    // One member down: the cluster keeps its quorum, HAProxy routes around it.
    env.berth(["stop", "-t", "5", "etcd-2"]).success();
    eventually(&env, lb, &["put", "during", "outage"], "OK", 30);
    eventually(&env, lb, &["get", "during", "--print-value-only"], "outage", 30);

    // Back: it rejoins and serves what was written while it was away.
    env.berth(["start", "etcd-2"]).success();
    let ip2 = env.inspect("etcd-2")["NetworkSettings"]["IPAddress"].as_str().unwrap().to_string();
    let direct = format!("{ip2}:2379");
    eventually(&env, &direct, &["endpoint", "health"], "is healthy", 60);
    eventually(&env, &direct, &["get", "during", "--print-value-only"], "outage", 30);

    for c in ["lb", "etcd-1", "etcd-2", "etcd-3"] {
        env.berth(["rm", "-f", c]).success();
    }
    env.berth(["network", "rm", "lab"]).success();
    let links = env.in_netns(&["ip", "-o", "link"]);
    assert!(!links.stdout.contains("br-") && !links.stdout.contains("veth"), "{links}");
    env.finish();
}
