//! `berth` volumes and mounts: `-v NAME:/dst` (a named volume, made if missing, filled from
//! the image when empty), `-v /dst` (anonymous), `--mount type=bind|volume|tmpfs`, `volume
//! create|ls|inspect|rm|prune`, `rm -v`; a volume in use is not removed, and removing one
//! neither follows symlinks nor deletes through a mount. An image's `VOLUME`s (an image
//! built here as a docker-archive and loaded) get anonymous volumes. Each test has its own
//! engine.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

fn mountpoint(env: &Engine, name: &str) -> PathBuf {
    let out = env.berth(["volume", "inspect", name]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    PathBuf::from(v[0]["Mountpoint"].as_str().unwrap())
}

#[test]
fn named_volume_starts_with_the_image_content_and_outlives_containers() {
    require_container!();
    let env = Engine::with_rootfs("volumes");
    let app = env.rootfs().join("srv/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("seed"), "from the image\n").unwrap();
    let out = env.run(
        &["--rm", "-v", "data:/srv/app"],
        &["sh", "-c", "cat /srv/app/seed; echo kept > /srv/app/written"],
    );
    out.success();
    assert_eq!(out.stdout, "from the image\n", "{out}");
    let ls = env.berth(["volume", "ls"]);
    assert!(ls.stdout.lines().any(|l| l.split_whitespace().eq(["local", "data"])), "{ls}");
    // A second container sees what the first wrote; the image is not copied again.
    std::fs::write(app.join("seed"), "changed in the image\n").unwrap();
    let out = env.run(
        &["--rm", "--mount", "type=volume,source=data,target=/srv/app,readonly"],
        &[
            "sh",
            "-c",
            "cat /srv/app/seed /srv/app/written; touch /srv/app/x 2>/dev/null || echo ro",
        ],
    );
    assert_eq!(out.stdout, "from the image\nkept\nro\n", "{out}");
    let data = mountpoint(&env, "data");
    assert!(data.ends_with("volumes/data/_data") && data.join("written").exists());
    assert!(!app.join("written").exists(), "the writes went to the volume, not the rootfs");
    env.berth(["volume", "rm", "data"]).success();
    assert!(!data.exists());
    assert_eq!(env.berth(["volume", "ls", "-q"]).stdout, "");
    env.finish();
}

#[test]
fn a_volume_in_use_is_not_removed_until_its_container_is() {
    require_container!();
    let env = Engine::with_rootfs("volumes");
    env.berth(["volume", "create", "--label", "purpose=test", "shared"]).success();
    assert_eq!(env.berth(["volume", "create", "shared"]).stdout, "shared\n", "idempotent");
    env.make("create", &["--name", "user", "-v", "shared:/data"], &["true"]).success();
    let out = env.berth(["volume", "rm", "shared"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("in use"), "{out}");
    let id = env.inspect("user")["Id"].as_str().unwrap().to_string();
    assert!(out.stderr.contains(&id[..12]), "names the container\n{out}");
    let prune = env.berth(["volume", "prune", "-f", "-a"]);
    assert!(!prune.stdout.contains("shared"), "in use: not pruned\n{prune}");
    let doc: serde_json::Value =
        serde_json::from_str(&env.berth(["volume", "inspect", "shared"]).stdout).unwrap();
    assert_eq!(doc[0]["Labels"]["purpose"], "test");
    env.berth(["rm", "user"]).success();
    env.berth(["volume", "rm", "shared"]).success();
    let missing = env.berth(["volume", "rm", "shared"]);
    assert_eq!(missing.code(), Some(125), "{missing}");
    assert!(missing.stderr.contains("no such volume: shared"), "{missing}");
    env.berth(["volume", "rm", "-f", "shared"]).success();
    assert_eq!(env.berth(["volume", "inspect", "nothing"]).code(), Some(125));
    env.finish();
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_prune() {
    require_container!();
    let env = Engine::with_rootfs("volumes");
    env.make("create", &["--name", "a", "-v", "/scratch"], &["true"]).success();
    env.make("create", &["--name", "b", "--mount", "type=volume,target=/cache"], &["true"])
        .success();
    let mounts = &env.inspect("a")["Mounts"];
    assert_eq!(mounts[0]["Type"], "volume", "{mounts}");
    assert_eq!(mounts[0]["Destination"], "/scratch");
    let anon = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(anon.len(), 64, "{mounts}");
    let b_anon = env.inspect("b")["Mounts"][0]["Name"].as_str().unwrap().to_string();
    env.berth(["rm", "-v", "a"]).success();
    assert_eq!(env.berth(["volume", "inspect", &anon]).code(), Some(125), "rm -v removed it");
    env.berth(["rm", "b"]).success();
    let left = env.berth(["volume", "ls", "-q"]);
    assert_eq!(left.stdout, format!("{b_anon}\n"), "rm without -v keeps it");
    let prune = env.berth(["volume", "prune", "-f"]);
    assert!(prune.stdout.contains(&b_anon), "{prune}");
    assert_eq!(env.berth(["volume", "ls", "-q"]).stdout, "");
    // run --rm takes its anonymous volumes along, as Docker's.
    env.run(&["--rm", "-v", "/tmpdata"], &["true"]).success();
    assert_eq!(env.berth(["volume", "ls", "-q"]).stdout, "");
    env.finish();
}

#[test]
fn mount_binds_tmpfs_and_volumes() {
    require_container!();
    let env = Engine::with_rootfs("volumes");
    let host = env.path("hostdir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "host file\n").unwrap();
    let bind = format!("type=bind,source={},target=/host,readonly", host.display());
    let script = "cat /host/f; touch /host/g 2>/dev/null || echo ro; \
                  grep ' /t ' /proc/mounts | cut -d' ' -f3; echo v > /vol/v; cat /vol/v";
    let out = env.run(
        &[
            "--rm",
            "--mount",
            &bind,
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m",
            "--mount",
            "source=vol,target=/vol",
        ],
        &["sh", "-c", script],
    );
    out.success();
    assert_eq!(out.stdout, "host file\nro\ntmpfs\nv\n", "{out}");
    assert!(!host.join("g").exists());
    env.finish();
}

#[test]
fn bad_mounts_fail_with_125_and_leave_nothing() {
    require_container!();
    let env = Engine::with_rootfs("volumes");
    let cases: [(&[&str], &str); 6] = [
        (&["--mount", "type=bind,target=/x"], "needs a source"),
        (&["--mount", "type=nfs,target=/x"], "type must be"),
        (&["--mount", "type=volume,source=v,target=/x,colour=red"], "unknown key"),
        (&["--mount", "source=v"], "target is required"),
        (&["-v", "xx:/a", "-v", "yy:/a"], "duplicate"),
        (&["-v", "bad/name:/a"], "--volume"),
    ];
    for (flags, needle) in cases {
        for verb in ["run", "create"] {
            let out = env.make(verb, flags, &["true"]);
            assert_eq!(out.code(), Some(125), "{verb} {flags:?}\n{out}");
            assert!(out.stderr.contains(needle), "{needle}\n{out}");
        }
    }
    // A create failing after its volumes were made (an unknown user) removes them.
    let out =
        env.make("run", &["-v", "made:/m", "-v", "/anon", "--user", "nobody-here"], &["true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(env.berth(["volume", "ls", "-q"]).stdout, "", "no volume left");
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "no record");
    assert!(!env.path("data/volumes/made").exists());
    env.finish();
}

#[test]
fn volume_rm_neither_follows_symlinks_nor_deletes_through_a_mount() {
    require_container!();
    let env = Engine::with_rootfs("volumes");
    let precious = env.path("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("keep"), "x").unwrap();
    // A container leaves a symlink to a host path in the volume: removal unlinks the link.
    let link = format!("ln -s {} /v/link", precious.display());
    env.run(&["--rm", "-v", "linked:/v"], &["sh", "-c", &link]).success();
    env.berth(["volume", "rm", "linked"]).success();
    assert!(precious.join("keep").exists(), "the symlink was not followed");
    // Something mounted inside a volume (in a private mount namespace, so the host never
    // sees it): volume rm refuses rather than delete the mounted files.
    env.berth(["volume", "create", "mounted"]).success();
    let data = mountpoint(&env, "mounted");
    std::fs::create_dir(data.join("mnt")).unwrap();
    let berth = env.command().into_command();
    let mut sh = Command::new("unshare");
    sh.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2" && exec "$3" volume rm mounted"#)
        .args(["sh", &precious.display().to_string(), &data.join("mnt").display().to_string()])
        .arg(berth.get_program())
        .envs(berth.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let out = sh.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("Device or resource busy"), "{stderr}");
    assert!(precious.join("keep").exists(), "nothing deleted through the mount");
    // Outside that namespace nothing is mounted there: the removal goes through.
    env.berth(["volume", "rm", "mounted"]).success();
    assert!(precious.join("keep").exists());
    env.finish();
}

/// Loads `volumes:latest`: the engine's busybox rootfs plus `/data/seed`, with
/// `"Volumes": {"/data": {}, "/cache/": {}}` and `Cmd` `sh` in its config.
fn load_volume_image(env: &Engine) -> &'static str {
    let rootfs = env.rootfs();
    std::fs::create_dir_all(rootfs.join("data")).unwrap();
    std::fs::write(rootfs.join("data/seed"), "from the image\n").unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    layer.follow_symlinks(false);
    layer.append_dir_all(".", &rootfs).unwrap();
    let layer = layer.into_inner().unwrap();
    let config = serde_json::json!({
        "Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/data": {}, "/cache/": {}},
    });
    let archive = berth_test_support::tarfile::docker_archive("volumes:latest", &config, &[layer]);
    let path = env.path("volumes.tar");
    std::fs::write(&path, archive).unwrap();
    env.berth(["load", "-i", &path.display().to_string()]).success();
    "volumes:latest"
}

/// `berth run --cgroup-parent … FLAGS IMAGE CMD…`.
fn run_image(
    env: &Engine,
    flags: &[&str],
    image: &str,
    cmd: &[&str],
) -> berth_test_support::Output {
    let mut args = vec!["run", "--cgroup-parent", env.parent()];
    args.extend_from_slice(flags);
    args.push(image);
    args.extend_from_slice(cmd);
    env.berth(args)
}

/// inspect's `Mounts` as (Destination, Type, Name) sorted by destination.
fn mounts(env: &Engine, name: &str) -> Vec<(String, String, String)> {
    let doc = env.inspect(name);
    let mut out: Vec<(String, String, String)> = doc["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (s("Destination"), s("Type"), s("Name"))
        })
        .collect();
    out.sort();
    out
}

fn volume_names(env: &Engine) -> Vec<String> {
    let out = env.berth(["volume", "ls", "-q"]);
    out.success();
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn image_volumes_get_anonymous_volumes_filled_from_the_image_and_rm_v_removes_them() {
    require_container!();
    let env = Engine::with_rootfs("image-volumes");
    let image = load_volume_image(&env);
    let out = run_image(
        &env,
        &["--name", "c"],
        image,
        &["sh", "-c", "cat /data/seed; echo kept > /data/written; grep -c ' /cache ' /proc/mounts"],
    );
    out.success();
    assert_eq!(out.stdout, "from the image\n1\n", "copied up, /cache a mount: {out}");
    let m = mounts(&env, "c");
    let dests: Vec<&str> = m.iter().map(|(d, _, _)| d.as_str()).collect();
    assert_eq!(dests, ["/cache", "/data"], "{m:?}");
    assert!(m.iter().all(|(_, t, n)| t == "volume" && n.len() == 64), "{m:?}");
    let config_volumes = &env.inspect("c")["Config"]["Volumes"];
    assert_eq!(config_volumes, &serde_json::json!({"/data": {}, "/cache/": {}}), "as the image");
    let names = volume_names(&env);
    assert_eq!(names.len(), 2, "{names:?}");
    let data = mountpoint(&env, &m[1].2);
    assert_eq!(std::fs::read_to_string(data.join("written")).unwrap(), "kept\n");
    assert!(!env.rootfs().join("data/written").exists());
    let v: serde_json::Value =
        serde_json::from_str(&env.berth(["volume", "inspect", &m[1].2]).stdout).unwrap();
    assert_eq!(v[0]["Anonymous"], true, "{v}");
    // Something the user mounts there takes the place of the image's volume.
    let out = run_image(
        &env,
        &["--name", "d", "-v", "named:/data", "--tmpfs", "/cache"],
        image,
        &["sh", "-c", "cat /data/seed"],
    );
    out.success();
    assert_eq!(out.stdout, "from the image\n", "{out}");
    assert_eq!(mounts(&env, "d"), [("/data".into(), "volume".into(), "named".into())]);
    // Config.Volumes: the image's, whatever covers them, plus `-v /dst` volumes.
    run_image(&env, &["--name", "f", "-v", "/extra"], image, &["true"]).success();
    let config_volumes = &env.inspect("f")["Config"]["Volumes"];
    let want = serde_json::json!({"/data": {}, "/cache/": {}, "/extra": {}});
    assert_eq!(config_volumes, &want);
    env.berth(["rm", "-v", "f"]).success();
    assert_eq!(volume_names(&env).len(), 3, "only `named` is new");
    // rm -v removes c's two; d's named volume stays after rm -v too.
    env.berth(["rm", "-v", "c", "d"]).success();
    assert_eq!(volume_names(&env), ["named"]);
    assert!(!data.exists());
    // rm without -v keeps them, run --rm does not.
    run_image(&env, &["--name", "e"], image, &["true"]).success();
    env.berth(["rm", "e"]).success();
    assert_eq!(volume_names(&env).len(), 3, "kept without -v");
    run_image(&env, &["--rm"], image, &["true"]).success();
    assert_eq!(volume_names(&env).len(), 3, "--rm took its own along");
    env.finish();
}

#[test]
fn system_prune_removes_unused_anonymous_volumes_only_with_volumes() {
    require_container!();
    let env = Engine::with_rootfs("system-prune-volumes");
    env.berth(["volume", "create", "keep"]).success();
    env.make(
        "run",
        &["--name", "gone", "-v", "/scratch"],
        &["sh", "-c", "head -c 3000 /dev/zero > /scratch/f"],
    )
    .success();
    env.make("run", &["-d", "--name", "busy", "-v", "/busy"], &["sleep", "60"]).success();
    let anon = |name: &str| env.inspect(name)["Mounts"][0]["Name"].as_str().unwrap().to_string();
    let (gone, busy) = (anon("gone"), anon("busy"));
    let names = |env: &Engine| {
        let mut v = volume_names(env);
        v.sort();
        v
    };
    let mut all = vec![gone.clone(), busy.clone(), "keep".to_string()];
    all.sort();
    // Without --volumes: the stopped container goes, every volume stays.
    let out = env.berth(["system", "prune", "-f"]);
    out.success();
    assert!(out.stdout.contains("Deleted Containers:") && !out.stdout.contains("Volumes"), "{out}");
    assert_eq!(names(&env), all);
    // The question names the volumes; "n" removes nothing.
    let answer = env.path("answer");
    std::fs::write(&answer, "n\n").unwrap();
    let out = env
        .command()
        .stdin(std::fs::File::open(&answer).unwrap())
        .args(["system", "prune", "--volumes"])
        .output();
    out.success();
    assert!(
        out.stdout.contains("  - all anonymous volumes not used by at least one container\n"),
        "{out}"
    );
    assert_eq!(names(&env), all);
    // With --volumes: the anonymous volume no container uses; named and in-use ones stay.
    let out = env.berth(["system", "prune", "-f", "--volumes"]);
    out.success();
    assert!(out.stdout.contains(&format!("Deleted Volumes:\n{gone}\n\n")), "{out}");
    assert!(out.stdout.contains("Total reclaimed space: 3kB\n"), "{out}");
    let mut left = vec![busy.clone(), "keep".to_string()];
    left.sort();
    assert_eq!(names(&env), left);
    env.berth(["rm", "-f", "busy"]).success();
    // volume prune reports the bytes too, and -a takes the named one.
    let out = env.berth(["volume", "prune", "-f", "-a"]);
    out.success();
    assert!(out.stdout.contains(&busy) && out.stdout.contains("keep"), "{out}");
    assert!(out.stdout.contains("Total reclaimed space: 0B"), "{out}");
    assert!(volume_names(&env).is_empty());
    env.finish();
}
