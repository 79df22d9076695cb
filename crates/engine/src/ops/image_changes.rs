//! `commit --change`: the Dockerfile instructions Docker's `commit -c` accepts, applied to
//! an image config's `config` object: `CMD`, `ENTRYPOINT` (JSON array or shell form,
//! which becomes `/bin/sh -c "…"`), `ENV`, `LABEL` (`k=v …`, or the old `ENV k v`), `WORKDIR`,
//! `USER`, `EXPOSE` (`80`, `53/udp`), `VOLUME`, `STOPSIGNAL`.

use serde_json::{json, Map, Value};

/// Applies one `--change` line to `config`; the error says why it is not one.
pub(crate) fn apply(config: &mut Map<String, Value>, line: &str) -> Result<(), String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let instruction = word.to_ascii_uppercase();
    if rest.is_empty() {
        return Err(format!("{instruction} needs an argument"));
    }
    match instruction.as_str() {
        "CMD" => {
            config.insert("Cmd".into(), command(rest)?);
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), command(rest)?);
        }
        "ENV" => {
            let pairs = pairs(rest)?;
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or("the image's Env is not a list")?;
            for (k, v) in pairs {
                list.retain(|e| {
                    e.as_str().and_then(|e| e.split_once('=')).map(|x| x.0) != Some(&k)
                });
                list.push(Value::String(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let pairs = pairs(rest)?;
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            let map = labels.as_object_mut().ok_or("the image's Labels is not an object")?;
            for (k, v) in pairs {
                map.insert(k, Value::String(v));
            }
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), Value::String(unquote(rest)));
        }
        "USER" => {
            config.insert("User".into(), Value::String(unquote(rest)));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), Value::String(unquote(rest)));
        }
        "EXPOSE" => set_keys(config, "ExposedPorts", rest.split_whitespace().map(port))?,
        "VOLUME" => {
            let paths: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(list) => list,
                Err(_) => rest.split_whitespace().map(unquote).collect(),
            };
            set_keys(config, "Volumes", paths.into_iter())?;
        }
        _ => return Err(format!("{word} is not a valid change command")),
    }
    Ok(())
}

/// A JSON array (exec form) as is; anything else is shell form.
fn command(rest: &str) -> Result<Value, String> {
    if rest.starts_with('[') {
        let list: Vec<String> =
            serde_json::from_str(rest).map_err(|x| format!("not a JSON array of strings: {x}"))?;
        return Ok(json!(list));
    }
    Ok(json!(["/bin/sh", "-c", rest]))
}

fn port(p: &str) -> String {
    if p.contains('/') {
        p.to_ascii_lowercase()
    } else {
        format!("{p}/tcp")
    }
}

fn set_keys(
    config: &mut Map<String, Value>,
    key: &str,
    keys: impl Iterator<Item = String>,
) -> Result<(), String> {
    let v = config.entry(key).or_insert_with(|| json!({}));
    if v.is_null() {
        *v = json!({});
    }
    let map = v.as_object_mut().ok_or(format!("the image's {key} is not an object"))?;
    for k in keys {
        map.insert(k, json!({}));
    }
    Ok(())
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s).to_string()
}

/// `k=v k2="v 2"`, or the legacy `k v w` (one pair, the value the rest of the line).
fn pairs(rest: &str) -> Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) =
            rest.split_once(char::is_whitespace).ok_or(format!("{rest:?} has no value"))?;
        return Ok(vec![(k.to_string(), unquote(v))]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("{rest:?}: expected KEY=VALUE"));
        }
        let mut value = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => {
                    chars.next();
                    value.extend(chars.peek().copied());
                }
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
            chars.next();
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lines: &[&str]) -> Value {
        let mut c = json!({"Env": ["PATH=/bin", "A=old"], "Cmd": ["sh"]});
        for l in lines {
            apply(c.as_object_mut().unwrap(), l).unwrap();
        }
        c
    }

    #[test]
    fn dockers_change_instructions() {
        let c = applied(&[
            r#"CMD ["x", "y"]"#,
            "ENTRYPOINT echo hi",
            r#"ENV A=new B="two words""#,
            "env C three words",
            "WORKDIR /srv",
            "USER 1000:1000",
            "LABEL tier=web",
            "EXPOSE 80 53/UDP",
        ]);
        assert_eq!(c["Cmd"], json!(["x", "y"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=new", "B=two words", "C=three words"]));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["Labels"], json!({"tier": "web"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    }

    #[test]
    fn bad_changes_say_why() {
        let mut c = Map::new();
        assert!(apply(&mut c, "RUN rm -rf /").unwrap_err().contains("not a valid change"));
        assert!(apply(&mut c, "CMD [not json").is_err());
        assert!(apply(&mut c, "WORKDIR").is_err());
        assert!(apply(&mut c, "ENV =x").is_err());
        assert!(c.is_empty(), "nothing applied: {c:?}");
    }
}
