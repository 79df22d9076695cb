use proptest::prelude::*;

use super::*;

fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
    let r = Reference::parse(s).unwrap();
    (
        r.registry().to_owned(),
        r.repository().to_owned(),
        r.tag().map(str::to_owned),
        r.digest().map(ToString::to_string),
    )
}

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn docker_hub_defaults() {
    let lib = |t: &str| ("docker.io".into(), "library/busybox".into(), Some(t.into()), None);
    assert_eq!(parts("busybox"), lib("latest"));
    assert_eq!(parts("busybox:1.36"), lib("1.36"));
    assert_eq!(parts("library/busybox:1.36"), lib("1.36"));
    assert_eq!(parts("docker.io/busybox:1.36"), lib("1.36"));
    assert_eq!(parts("index.docker.io/library/busybox:1.36"), lib("1.36"));
    assert_eq!(parts("team/app").1, "team/app");
    assert_eq!(Reference::parse("busybox").unwrap().api_host(), "registry-1.docker.io");
}

#[test]
fn registries_ports_and_localhost() {
    assert_eq!(parts("localhost/app").0, "localhost");
    assert_eq!(
        parts("localhost:5000/a/b/c:v1"),
        ("localhost:5000".into(), "a/b/c".into(), Some("v1".into()), None)
    );
    assert_eq!(parts("127.0.0.1:5000/app").0, "127.0.0.1:5000");
    assert_eq!(parts("quay.io/org/app:tag").0, "quay.io");
    assert_eq!(parts("[::1]:5000/app").0, "[::1]:5000");
    // a port-looking suffix on the last component is a tag, not a port
    assert_eq!(
        parts("app:5000"),
        ("docker.io".into(), "library/app".into(), Some("5000".into()), None)
    );
    assert_eq!(Reference::parse("quay.io/org/app").unwrap().api_host(), "quay.io");
}

#[test]
fn digests() {
    let d = format!("sha256:{HEX}");
    let (_, repo, tag, digest) = parts(&format!("busybox@{d}"));
    assert_eq!(
        (repo.as_str(), tag, digest.as_deref()),
        ("library/busybox", None, Some(d.as_str()))
    );
    let r = Reference::parse(format!("busybox:1.36@{d}")).unwrap();
    assert_eq!(r.tag(), Some("1.36"));
    assert_eq!(r.manifest_selector(), d);
    let long = format!("sha512:{HEX}{HEX}");
    assert!(Reference::parse(format!("a@{long}")).is_ok());
}

#[test]
fn display_and_familiar() {
    let r = Reference::parse("busybox").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(r.familiar(), "busybox:latest");
    let r = Reference::parse("localhost:5000/app:v1").unwrap();
    assert_eq!(r.familiar(), "localhost:5000/app:v1");
    assert_eq!(Reference::parse("team/app:v").unwrap().familiar(), "team/app:v");
    assert_eq!(Reference::parse("busybox").unwrap().with_tag("x").unwrap().familiar(), "busybox:x");
}

#[test]
fn rejects_with_accepted_forms() {
    for bad in [
        "",
        "Busybox",
        "busybox:",
        "busybox:-x",
        "busybox@sha256:abc",
        "busybox@md5:0123",
        "a//b",
        "/a",
        "a/",
        "a..b",
        "a___b",
        "-a",
        "localhost:99999/a",
        "loc_al.host:1/a",
        "busybox:tag:tag",
        HEX,
        &format!("busybox:{}", "t".repeat(129)),
        &format!("reg.io/{}", "a".repeat(260)),
    ] {
        let err = Reference::parse(bad).expect_err(bad);
        let text = err.to_string();
        assert!(text.contains("accepted forms"), "{text}");
        assert!(text.contains(&format!("{bad:?}")), "{text}");
    }
}

#[test]
fn separators() {
    for ok in ["a.b", "a_b", "a__b", "a-b", "a---b", "a.b-c_d__e", "0x"] {
        assert!(Reference::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["a.-b", "a._b", "a-_b", "a.", "a_"] {
        assert!(Reference::parse(bad).is_err(), "{bad}");
    }
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,2}"
}

fn registry() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("localhost".to_owned())),
        "[a-z][a-z0-9-]{0,6}[a-z0-9](\\.[a-z0-9]{1,5}){1,2}(:[0-9]{1,4})?".prop_map(Some),
        "localhost:[1-9][0-9]{0,3}".prop_map(Some),
        "127\\.0\\.0\\.1:[1-9][0-9]{0,3}".prop_map(Some),
    ]
}

fn reference_string() -> impl Strategy<Value = String> {
    (
        registry(),
        prop::collection::vec(component(), 1..4),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of(prop_oneof!["[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))]),
    )
        .prop_map(|(reg, path, tag, digest)| {
            // Without a registry, a first component with a '.' would be read as one.
            let reg = reg.or_else(|| path[0].contains('.').then(|| "localhost".to_owned()));
            let mut s = reg.map(|r| format!("{r}/")).unwrap_or_default();
            s.push_str(&path.join("/"));
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = digest {
                s.push('@');
                s.push_str(&d);
            }
            s
        })
}

proptest! {
    #[test]
    fn display_round_trips(s in reference_string()) {
        let r = Reference::parse(&s).unwrap();
        let again = Reference::parse(r.to_string()).unwrap();
        prop_assert_eq!(&again, &r);
        prop_assert_eq!(again.to_string(), r.to_string());
        let familiar = Reference::parse(r.familiar()).unwrap();
        prop_assert_eq!(familiar, r);
    }

    #[test]
    fn never_panics(s in "\\PC{0,40}") {
        let _ = Reference::parse(&s);
    }
}
