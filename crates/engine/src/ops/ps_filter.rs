//! `ps --filter KEY=VALUE`, Docker's semantics: values of the same key are alternatives (OR),
//! different keys must all hold (AND), and a `status` filter lists stopped containers
//! without `-a`.
//!
//! Keys: `id` (a prefix of the id), `name` (a regular expression searched in the name, with
//! or without Docker's leading `/`), `label` (`K` present, or `K=V`), `status` (Docker's
//! states), `ancestor` (an image reference or id prefix, matched through the image store).

use std::collections::BTreeMap;

use crate::db::Record;
use crate::error::{Error, Result};
use crate::spec::RunOptions;

const KEYS: [&str; 5] = ["ancestor", "id", "label", "name", "status"];
const STATES: [&str; 7] =
    ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/// Parsed `--filter` flags.
#[derive(Debug, Default)]
pub struct Filters {
    by_key: BTreeMap<&'static str, Vec<String>>,
    names: Vec<regex::Regex>,
}

impl Filters {
    /// Parses `KEY=VALUE` flags; an unknown key or status, or a bad name pattern, is an error.
    pub fn parse(flags: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for flag in flags {
            let bad = |reason: String| Error::InvalidFlag {
                flag: "--filter",
                value: flag.clone(),
                reason,
            };
            let (key, value) =
                flag.split_once('=').ok_or_else(|| bad("expected KEY=VALUE".into()))?;
            let Some(key) = KEYS.iter().find(|k| **k == key) else {
                return Err(bad(format!("unknown filter {key:?}: use one of {}", KEYS.join(", "))));
            };
            if *key == "status" && !STATES.contains(&value) {
                return Err(bad(format!("unknown status: use one of {}", STATES.join(", "))));
            }
            if *key == "name" {
                f.names.push(regex::Regex::new(value).map_err(|e| bad(e.to_string()))?);
            }
            f.by_key.entry(key).or_default().push(value.to_string());
        }
        Ok(f)
    }

    /// Whether matching needs image ids (an `ancestor` filter): the image store is opened
    /// only then.
    pub fn needs_images(&self) -> bool {
        self.by_key.contains_key("ancestor")
    }

    /// Whether stopped containers are listed without `-a` (Docker: with a status filter).
    pub fn lists_stopped(&self) -> bool {
        self.by_key.contains_key("status")
    }

    /// Whether `r` (its state as `ps` shows it, `paused` included) passes every key;
    /// `image_id` gives the image id of a reference, when the store knows it.
    pub fn matches(&self, r: &Record, image_id: &dyn Fn(&str) -> Option<String>) -> bool {
        self.by_key.iter().all(|(key, values)| match *key {
            "id" => values.iter().any(|v| r.id.starts_with(v.as_str())),
            "name" => {
                let slashed = format!("/{}", r.name);
                self.names.iter().any(|re| re.is_match(&r.name) || re.is_match(&slashed))
            }
            "status" => values.contains(&r.state),
            "label" => {
                let opts: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
                values.iter().any(|v| match v.split_once('=') {
                    Some((k, want)) => opts.labels.get(k).is_some_and(|have| have == want),
                    None => opts.labels.contains_key(v),
                })
            }
            "ancestor" => {
                let mine = image_id(&r.image);
                values.iter().any(|v| {
                    *v == r.image
                        || match (&mine, image_id(v)) {
                            (Some(a), Some(b)) => *a == b,
                            (Some(a), None) => {
                                let v = v.strip_prefix("sha256:").unwrap_or(v);
                                v.len() >= 4 && a.trim_start_matches("sha256:").starts_with(v)
                            }
                            _ => false,
                        }
                })
            }
            _ => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str, state: &str, labels: &[(&str, &str)], image: &str) -> Record {
        let opts = RunOptions {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        Record {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            command: vec![],
            created: String::new(),
            state: state.into(),
            pid: 0,
            exit_code: None,
            started_at: None,
            finished_at: None,
            runtime: String::new(),
            auto_remove: false,
            config: serde_json::to_string(&opts).unwrap(),
            oom_killed: false,
        }
    }

    fn f(flags: &[&str]) -> Filters {
        Filters::parse(&flags.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ids(image: &str) -> Option<String> {
        match image {
            "busybox" | "busybox:latest" => Some("sha256:aaaa1111".into()),
            "alpine" => Some("sha256:bbbb2222".into()),
            _ => None,
        }
    }

    #[test]
    fn same_key_ors_different_keys_and() {
        let web = rec("abc1", "web", "running", &[("tier", "front")], "busybox");
        let db = rec("def2", "db", "exited", &[("tier", "back")], "alpine");
        let both = f(&["status=running", "status=exited"]);
        assert!(both.matches(&web, &ids) && both.matches(&db, &ids));
        let and = f(&["status=running", "label=tier=back"]);
        assert!(!and.matches(&web, &ids) && !and.matches(&db, &ids));
        let labels = f(&["label=tier=back", "label=tier=front"]);
        assert!(labels.matches(&web, &ids) && labels.matches(&db, &ids));
        assert!(f(&["label=tier"]).matches(&web, &ids));
        assert!(!f(&["label=owner"]).matches(&web, &ids));
        assert!(f(&[]).matches(&web, &ids));
        assert!(both.lists_stopped() && !labels.lists_stopped());
    }

    #[test]
    fn names_ids_and_ancestors() {
        let web = rec("abc1", "web-1", "running", &[], "busybox:latest");
        assert!(f(&["name=web"]).matches(&web, &ids));
        assert!(f(&["name=^web-1$"]).matches(&web, &ids));
        assert!(f(&["name=^/web"]).matches(&web, &ids), "Docker's leading slash");
        assert!(!f(&["name=^eb"]).matches(&web, &ids));
        assert!(f(&["id=abc"]).matches(&web, &ids) && !f(&["id=bc"]).matches(&web, &ids));
        assert!(f(&["ancestor=busybox"]).matches(&web, &ids), "the same image id");
        assert!(f(&["ancestor=aaaa11"]).matches(&web, &ids), "an image id prefix");
        assert!(!f(&["ancestor=alpine"]).matches(&web, &ids));
        let plain = rec("abc2", "p", "created", &[], "rootfs:/srv/root");
        assert!(f(&["ancestor=rootfs:/srv/root"]).matches(&plain, &ids));
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in ["status", "color=red", "status=sleeping", "name=(", "=x"] {
            assert!(Filters::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
