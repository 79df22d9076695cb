//! `berth pull` and `berth images` output.

use std::io::Write;

use berth_engine::ops::{self, Engine};

use super::args;

pub(super) fn pull(engine: &Engine, a: &args::PullArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let o = ops::pull::PullOptions { platform: a.platform.clone(), insecure_tls: !a.tls_verify };
    let quiet = a.quiet;
    let mut lines: Vec<String> = Vec::new();
    let info = ops::pull::pull(engine, &a.image, &o, &mut |p| {
        if quiet {
            return;
        }
        let line = match p {
            ops::pull::Progress::Resolved { digest, layers } => {
                format!("{}: resolved {digest} ({layers} layers)", a.image)
            }
            ops::pull::Progress::LayerExists(l) => format!("{l}: Already exists"),
            ops::pull::Progress::LayerDone(l) => format!("{l}: Pull complete"),
        };
        eprintln!("{line}");
        lines.push(line);
    })?;
    if quiet {
        writeln!(out, "{}", info.id)?;
    } else {
        writeln!(out, "Digest: {}", info.id)?;
    }
    Ok(())
}

pub(super) fn images(
    engine: &Engine,
    a: &args::ImagesArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let list = ops::images::list(engine)?;
    let short =
        |d: &dyn std::fmt::Display| d.to_string().chars().skip(7).take(12).collect::<String>();
    if a.quiet {
        for i in &list {
            writeln!(out, "{}", short(&i.id))?;
        }
        return Ok(());
    }
    if a.format == "json" {
        for i in &list {
            let v = serde_json::json!({"Id": i.id.to_string(), "RepoTags": i.references, "Size": i.size, "Created": i.created, "Platform": i.platform});
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<40}{:<16}{}{:<14}{:<24}SIZE",
        "REPOSITORY",
        "TAG",
        if a.digests { format!("{:<73}", "DIGEST") } else { String::new() },
        "IMAGE ID",
        "CREATED"
    )?;
    for i in &list {
        let refs = if i.references.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            i.references.clone()
        };
        for r in refs {
            let (repo, tag) = r
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .unwrap_or((r.as_str(), "<none>"));
            let secs = u64::try_from(i.created).unwrap_or(0);
            let created = ops::ps::ago(Some(&berth_sys::time::rfc3339_of(secs)));
            let digest = if a.digests { format!("{:<73}", i.id) } else { String::new() };
            writeln!(
                out,
                "{repo:<40}{tag:<16}{digest}{:<14}{created:<24}{:.1}MB",
                short(&i.id),
                i.size as f64 / 1e6
            )?;
        }
    }
    Ok(())
}
