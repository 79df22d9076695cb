//! `WWW-Authenticate` challenges (RFC 9110 11.6.1): `Bearer realm="…",service="…",scope="…"`
//! and `Basic realm="…"`, several per header or over several headers.

/// A challenge berth can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Send `Authorization: Basic`.
    Basic,
    /// Get a token from `realm` (distribution's token auth spec).
    Bearer {
        /// Token server URL.
        realm: String,
        /// `service` parameter to pass on.
        service: Option<String>,
        /// `scope` the registry asked for, if any.
        scope: Option<String>,
    },
}

/// The challenges in one header value; unknown schemes and malformed parts are skipped.
pub(crate) fn parse(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    for (scheme, params) in split(header) {
        let get = |k: &str| {
            params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone())
        };
        if scheme.eq_ignore_ascii_case("basic") {
            out.push(Challenge::Basic);
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if let Some(realm) = get("realm") {
                out.push(Challenge::Bearer { realm, service: get("service"), scope: get("scope") });
            }
        }
    }
    out
}

type Params = Vec<(String, String)>;

fn split(header: &str) -> Vec<(String, Params)> {
    let mut p = Parser { s: header.as_bytes(), i: 0 };
    let mut out: Vec<(String, Params)> = Vec::new();
    loop {
        p.skip(|c| c == b' ' || c == b'\t' || c == b',');
        let Some(scheme) = p.token() else { break };
        let mut params = Vec::new();
        loop {
            p.skip(|c| c == b' ' || c == b'\t');
            let mark = p.i;
            let Some(name) = p.token() else { break };
            p.skip(|c| c == b' ' || c == b'\t');
            if !p.eat(b'=') {
                // Not `name=`: the next scheme (or a token68 we do not use).
                p.i = mark;
                break;
            }
            p.skip(|c| c == b' ' || c == b'\t');
            let value =
                if p.peek() == Some(b'"') { p.quoted() } else { p.token().unwrap_or_default() };
            params.push((name, value));
            p.skip(|c| c == b' ' || c == b'\t');
            if !p.eat(b',') {
                break;
            }
        }
        out.push((scheme, params));
        if p.i >= p.s.len() {
            break;
        }
        if p.peek().is_some_and(|c| !is_tchar(c) && c != b',' && c != b' ') {
            p.i += 1; // skip garbage so the loop always advances
        }
    }
    out
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        self.skip(is_tchar);
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut v = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        v.push(n);
                        self.i += 1;
                    }
                }
                c => v.push(c),
            }
        }
        String::from_utf8_lossy(&v).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
        }
    }

    #[test]
    fn docker_hub() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        assert_eq!(
            parse(h),
            [bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                Some("repository:library/busybox:pull")
            )]
        );
    }

    #[test]
    fn basic_and_case() {
        assert_eq!(parse(r#"Basic realm="Registry Realm""#), [Challenge::Basic]);
        assert_eq!(parse("basic"), [Challenge::Basic]);
        assert_eq!(parse(r#"BEARER Realm="http://t/x""#), [bearer("http://t/x", None, None)]);
    }

    #[test]
    fn several_and_odd_spacing() {
        let h = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Bearer realm = "https://a/t" , service=reg"#;
        assert_eq!(parse(h), [Challenge::Basic, bearer("https://a/t", Some("reg"), None)]);
        let scopes = r#"Bearer realm="https://a/t",scope="repository:a:pull repository:b:pull""#;
        assert_eq!(
            parse(scopes),
            [bearer("https://a/t", None, Some("repository:a:pull repository:b:pull"))]
        );
    }

    #[test]
    fn malformed_is_skipped() {
        assert_eq!(parse(""), []);
        assert_eq!(parse("Bearer"), []);
        assert_eq!(parse(r#"Bearer service="x""#), []);
        assert_eq!(parse(r#"Bearer realm="unterminated"#), [bearer("unterminated", None, None)]);
        assert_eq!(parse("=== ,,, \u{1}"), []);
    }
}
