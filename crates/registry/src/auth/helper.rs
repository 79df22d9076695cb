//! Docker credential helpers: `docker-credential-NAME get` with the server on stdin, JSON on
//! stdout (`{"ServerURL": …, "Username": …, "Secret": …}`), as named by `credHelpers` (per
//! registry) or `credsStore` (every registry) in `config.json`; `store` with that JSON on
//! stdin (`login`) and `erase` with the server on stdin (`logout`). The protocol is
//! docker/docker-credential-helpers' `client.Get`, `client.Store` and `client.Erase`.
//!
//! A helper runs once per registry and repository a client asks about (the client caches the
//! answer), without a timeout, as Docker's CLI runs it.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::auth::file::Credentials;
use crate::error::Error;
use crate::reference::DOCKER_HUB;

/// What a helper prints (exit status 1) when it has nothing for the server.
const NOT_FOUND: &str = "credentials not found in native keychain";
/// The `Username` under which a helper returns an identity token as the `Secret`.
const TOKEN_USERNAME: &str = "<token>";
/// Docker's server name for Docker Hub, which helpers are asked for.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

#[derive(serde::Deserialize)]
struct Reply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-NAME get` for `registry` (`host[:port]`, `docker.io`).
/// `Ok(None)` when the helper has no credentials for it.
pub(crate) fn get(name: &str, registry: &str) -> Result<Option<Credentials>, Error> {
    let server = server_url(registry);
    let (program, out) = call(name, "get", registry, server.as_bytes())?;
    parse(&out.stdout, &out.stderr, out.status.success())
        .map_err(|msg| failed(&program, "get", registry, invalid(msg)))
}

/// Runs `docker-credential-NAME store` for `registry` with `creds` (`login`).
pub(crate) fn store(name: &str, registry: &str, creds: &Credentials) -> Result<(), Error> {
    let (username, secret) = match &creds.identity_token {
        Some(token) => (TOKEN_USERNAME, token.as_str()),
        None => (creds.username.as_str(), creds.password.as_str()),
    };
    let body = serde_json::json!({
        "ServerURL": server_url(registry),
        "Username": username,
        "Secret": secret,
    });
    let (program, out) = call(name, "store", registry, body.to_string().as_bytes())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(failed(&program, "store", registry, invalid(said(&out)))),
    }
}

/// Runs `docker-credential-NAME erase` for `registry` (`logout`); a helper that had nothing
/// for it ("credentials not found") is not an error.
pub(crate) fn erase(name: &str, registry: &str) -> Result<(), Error> {
    let server = server_url(registry);
    let (program, out) = call(name, "erase", registry, server.as_bytes())?;
    let text = String::from_utf8_lossy(&out.stdout);
    match out.status.success() || text.trim() == NOT_FOUND {
        true => Ok(()),
        false => Err(failed(&program, "erase", registry, invalid(said(&out)))),
    }
}

/// The server name helpers know a registry by: Docker's URL for Docker Hub, else `registry`.
fn server_url(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_SERVER
    } else {
        registry
    }
}

fn failed(program: &str, verb: &'static str, registry: &str, source: std::io::Error) -> Error {
    let server = server_url(registry).to_owned();
    Error::CredentialHelper { helper: program.to_owned(), verb, server, source }
}

/// Runs `docker-credential-NAME VERB` with `input` on stdin; returns the program's name and
/// its output, whatever its exit status.
fn call(
    name: &str,
    verb: &'static str,
    registry: &str,
    input: &[u8],
) -> Result<(String, std::process::Output), Error> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(&program, verb, registry, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading gets EPIPE here: its exit status tells more.
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().map_err(|e| failed(&program, verb, registry, e))?;
    Ok((program, out))
}

/// What a failed helper printed, stdout then stderr, on one line.
fn said(out: &std::process::Output) -> String {
    let text = [String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)];
    let text = [text[0].trim(), text[1].trim()].join(" ");
    format!("failed: {}", text.trim()).trim_end().to_owned()
}

/// The helper's answer: credentials, `None` for "not found", or why it is unusable.
fn parse(stdout: &[u8], stderr: &[u8], success: bool) -> Result<Option<Credentials>, String> {
    let text = String::from_utf8_lossy(stdout);
    if !success {
        if text.trim() == NOT_FOUND {
            return Ok(None);
        }
        let said = [text.trim(), String::from_utf8_lossy(stderr).trim()].join(" ");
        return Err(format!("failed: {}", said.trim()).trim_end().to_owned());
    }
    let reply: Reply =
        serde_json::from_slice(stdout).map_err(|e| format!("printed no credentials JSON: {e}"))?;
    if reply.username == TOKEN_USERNAME {
        return Ok(Some(Credentials {
            username: String::new(),
            password: String::new(),
            identity_token: Some(reply.secret),
        }));
    }
    if reply.username.is_empty() && reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials { username: reply.username, password: reply.secret, identity_token: None }))
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let ok = parse(br#"{"ServerURL":"r:1","Username":"u","Secret":"p"}"#, b"", true);
        let c = ok.unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        let token = parse(br#"{"Username":"<token>","Secret":"rt"}"#, b"", true).unwrap();
        assert_eq!(token.unwrap().identity_token.as_deref(), Some("rt"));
        assert_eq!(parse(b"credentials not found in native keychain\n", b"", false), Ok(None));
        let failed = parse(b"", b"locked keyring\n", false).unwrap_err();
        assert_eq!(failed, "failed: locked keyring");
        let junk = parse(b"user=u", b"", true).unwrap_err();
        assert!(junk.starts_with("printed no credentials JSON"), "{junk}");
    }

    #[test]
    fn a_missing_helper_is_an_error_naming_it() {
        let err = get("berth-no-such-helper", "r.io:5000").unwrap_err();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            text.starts_with(
                "credential helper docker-credential-berth-no-such-helper get r.io:5000: "
            ),
            "{text}"
        );
        assert!(
            matches!(err, Error::CredentialHelper { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
    }
}
