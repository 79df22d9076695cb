//! What an image config gives a container besides its command, environment, working
//! directory and user (those are in `run::with_image_defaults`): its labels, under the
//! container's own (Docker merges them so), its `StopSignal` unless `--stop-signal`, and
//! its `Volumes` (made into anonymous volumes by `volume_mounts::resolve`).

use serde_json::Value;

use crate::spec::RunOptions;

/// Completes `o` from the image config `cfg` (`config` of the config blob).
pub(crate) fn merge(o: &mut RunOptions, cfg: &Value) {
    if let Some(labels) = cfg["Labels"].as_object() {
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                o.labels.entry(k.clone()).or_insert_with(|| v.to_string());
            }
        }
    }
    if o.stop_signal.is_none() {
        o.stop_signal = cfg["StopSignal"].as_str().filter(|s| !s.is_empty()).map(String::from);
    }
    if let Some(volumes) = cfg["Volumes"].as_object() {
        o.image_volumes = volumes.keys().cloned().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_labels_win_and_the_flag_signal_wins() {
        let cfg = serde_json::json!({
            "Labels": {"tier": "image", "maintainer": "someone"},
            "StopSignal": "SIGQUIT",
            "Volumes": {"/data": {}, "/var/cache": {}},
        });
        let mut o = RunOptions::default();
        o.labels.insert("tier".into(), "flag".into());
        merge(&mut o, &cfg);
        assert_eq!(o.labels["tier"], "flag");
        assert_eq!(o.labels["maintainer"], "someone");
        assert_eq!(o.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(o.image_volumes, ["/data", "/var/cache"]);
        let mut o = RunOptions { stop_signal: Some("USR1".into()), ..Default::default() };
        merge(&mut o, &cfg);
        assert_eq!(o.stop_signal.as_deref(), Some("USR1"));
        merge(&mut o, &Value::Null);
    }
}
