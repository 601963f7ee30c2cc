//! What in a request is a secret or names a person: bearer and basic
//! credentials, cookies, CSRF fields, passwords, userNames and email
//! addresses, from headers, the query's filter and JSON or form bodies
//! (malformed JSON included: tests send broken bodies on purpose).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Token,
    Password,
    UserName,
    Email,
    Cookie,
    Csrf,
    /// Key material handed to a server (the admin-token signing key).
    Key,
    /// Planted on purpose (see `super::CANARY`).
    Canary,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Password => "password",
            Kind::UserName => "userName",
            Kind::Email => "email",
            Kind::Cookie => "session cookie",
            Kind::Csrf => "CSRF token",
            Kind::Key => "signing key",
            Kind::Canary => "canary",
        }
    }
}

pub type Found = Vec<(Kind, String)>;

pub fn request(req: &reqwest::Request) -> Found {
    let mut out = Found::new();
    for (name, value) in req.headers() {
        let Ok(value) = value.to_str() else { continue };
        match name.as_str() {
            "authorization" => authorization(value, &mut out),
            "cookie" => {
                for pair in value.split(';') {
                    if let Some((_, v)) = pair.split_once('=') {
                        out.push((Kind::Cookie, v.trim().to_owned()));
                    }
                }
            }
            "x-csrf-token" => out.push((Kind::Csrf, value.to_owned())),
            _ => {}
        }
    }
    for (key, value) in req.url().query_pairs() {
        match key.as_ref() {
            "filter" => filter(&value, &mut out),
            "token" | "access_token" => out.push((Kind::Token, value.into_owned())),
            _ => emails_in(&value, &mut out),
        }
    }
    let Some(body) = req.body().and_then(|b| b.as_bytes()) else {
        return out;
    };
    let form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let text = String::from_utf8_lossy(body);
        if let Ok(url) = reqwest::Url::parse(&format!("http://form/?{text}")) {
            for (key, value) in url.query_pairs() {
                form_field(&key, value.into_owned(), &mut out);
            }
        }
    } else if let Ok(doc) = serde_json::from_slice::<Value>(body) {
        json(&doc, None, &mut out);
    } else {
        raw(&String::from_utf8_lossy(body), &mut out);
    }
    out
}

/// Session cookies a server hands out.
pub fn response(r: &reqwest::Response) -> Found {
    let mut out = Found::new();
    for v in r.headers().get_all("set-cookie") {
        if let Some((_, rest)) = v.to_str().unwrap_or("").split_once('=') {
            let value = rest.split(';').next().unwrap_or("");
            out.push((Kind::Cookie, value.to_owned()));
        }
    }
    out
}

fn authorization(value: &str, out: &mut Found) {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let (user, password) = text.split_once(':').unwrap_or((&text, ""));
            out.push((Kind::UserName, user.to_owned()));
            out.push((Kind::Password, password.to_owned()));
        }
    } else {
        // A mistyped or revoked token is as secret as a good one.
        out.push((Kind::Token, rest.trim().to_owned()));
    }
}

fn form_field(key: &str, value: String, out: &mut Found) {
    match key {
        "_csrf" => out.push((Kind::Csrf, value)),
        "token" => out.push((Kind::Token, value)),
        "password" => out.push((Kind::Password, value)),
        "userName" => out.push((Kind::UserName, value)),
        "email" => out.push((Kind::Email, value)),
        _ => emails_in(&value, out),
    }
}

/// A JSON body: keys name what a value is, at any depth (Bulk's `data`,
/// PATCH values), and PATCH operations name it by `path`.
fn json(v: &Value, kind: Option<Kind>, out: &mut Found) {
    match v {
        Value::String(s) => match kind {
            Some(k) => out.push((k, s.clone())),
            None => emails_in(s, out),
        },
        Value::Array(items) => items.iter().for_each(|i| json(i, kind, out)),
        Value::Object(map) => {
            let path = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                .and_then(|(_, p)| p.as_str());
            for (key, value) in map {
                let key_kind = key_kind(key).or(if key.eq_ignore_ascii_case("value") {
                    path.and_then(path_kind).or(kind)
                } else {
                    None
                });
                json(value, key_kind, out);
            }
        }
        _ => {}
    }
}

fn key_kind(key: &str) -> Option<Kind> {
    // URN-qualified and dotted keys (`urn:...:User:userName`, `name.x`).
    let last = key.rsplit([':', '.']).next().unwrap_or(key);
    match last.to_ascii_lowercase().as_str() {
        "username" => Some(Kind::UserName),
        "password" => Some(Kind::Password),
        "emails" | "email" => Some(Kind::Email),
        "token" | "access_token" | "id_token" => Some(Kind::Token),
        _ => None,
    }
}

fn path_kind(path: &str) -> Option<Kind> {
    let p = path.to_ascii_lowercase();
    let attr = p.rsplit(':').next().unwrap_or(&p);
    if attr.starts_with("username") {
        Some(Kind::UserName)
    } else if attr.starts_with("password") {
        Some(Kind::Password)
    } else if attr.starts_with("emails") {
        Some(Kind::Email)
    } else {
        None
    }
}

/// A filter's string literals: after `userName` they are userNames.
fn filter(f: &str, out: &mut Found) {
    let mut rest = f;
    while let Some(start) = rest.find('"') {
        let before = rest[..start].to_ascii_lowercase();
        let after = &rest[start + 1..];
        let end = literal_end(after);
        let literal = after[..end].replace("\\\"", "\"").replace("\\\\", "\\");
        let attr = before
            .rsplit(['(', ' ', '['])
            .find(|w| !w.is_empty() && !is_op(w));
        if attr.is_some_and(|a| a.ends_with("username")) {
            out.push((Kind::UserName, literal));
        } else {
            emails_in(&literal, out);
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
}

fn is_op(w: &str) -> bool {
    matches!(
        w,
        "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le" | "pr" | "and" | "or" | "not"
    )
}

fn literal_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    s.len()
}

/// A body that is not JSON: `"key": "value"` pairs for the keys that
/// matter, and anything shaped like an email address.
fn raw(text: &str, out: &mut Found) {
    for (key, kind) in [
        ("\"username\"", Kind::UserName),
        ("\"password\"", Kind::Password),
    ] {
        let lower = text.to_ascii_lowercase();
        let mut from = 0;
        while let Some(at) = lower[from..].find(key) {
            let after = &text[from + at + key.len()..];
            let after = after.trim_start().strip_prefix(':').unwrap_or("");
            if let Some(s) = after.trim_start().strip_prefix('"') {
                out.push((kind, s[..literal_end(s)].to_owned()));
            }
            from += at + key.len();
        }
    }
    emails_in(text, out);
}

/// Words shaped like an email address (`x@y.z`).
fn emails_in(text: &str, out: &mut Found) {
    let is_part = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    for word in text.split(|c: char| !is_part(c) && c != '@') {
        let word = word.trim_matches(|c| c == '.' || c == '\'');
        if let Some((local, domain)) = word.split_once('@')
            && !local.is_empty()
            && domain.contains('.')
            && !domain.contains('@')
        {
            out.push((Kind::Email, word.to_owned()));
        }
    }
}
