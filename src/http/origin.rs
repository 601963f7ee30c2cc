//! The origin this server names itself by, in `Location`, `meta.location`,
//! the console's same-origin check and its OIDC redirect URI. It is the
//! configured `public_url`; else the request's Host only when that is a
//! host this server answers for (`allowed_hosts`, or the address it
//! listens on); else the listening address. A client's Host header never
//! puts another host into what the server tells other clients.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

use super::AppState;

/// `scheme://host[:port]` with no trailing slash.
pub fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let config = &state.config;
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_host(h) && allowed(h, &config.allowed_hosts, config.bind));
    match host {
        Some(host) => [scheme, "://", host].concat(),
        None => format!("{scheme}://{}", config.bind),
    }
}

/// A host name or address with an optional port: the characters a Host
/// header may hold, nothing that could end or extend a URL's authority.
pub fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
}

/// Whether `host` (a Host header) names this server: an `allowed_hosts`
/// entry (without a port it matches any), the listening address, or on a
/// loopback address `localhost` with the listening port.
fn allowed(host: &str, allowed_hosts: &[String], bind: SocketAddr) -> bool {
    let (name, port) = split_port(host);
    if is_listening_address(host, bind) {
        return true;
    }
    if bind.ip().is_loopback()
        && name.eq_ignore_ascii_case("localhost")
        && port == Some(bind.port())
    {
        return true;
    }
    allowed_hosts.iter().any(|entry| {
        let (entry_name, entry_port) = split_port(entry);
        entry_name.eq_ignore_ascii_case(name) && (entry_port.is_none() || entry_port == port)
    })
}

/// Whether `host` is the listening address as it is written
/// (`127.0.0.1:8080`, `[::1]:8080`), in any letter case. Written into a
/// buffer on the stack: this runs for every request that names a host.
fn is_listening_address(host: &str, bind: SocketAddr) -> bool {
    use std::io::Write;
    // The longest, `[v6%scope]:port`, takes 58 bytes.
    let mut text = [0u8; 64];
    let mut rest = &mut text[..];
    if write!(rest, "{bind}").is_err() {
        return false;
    }
    let len = 64 - rest.len();
    host.as_bytes().eq_ignore_ascii_case(&text[..len])
}

/// `("example.com", Some(8080))` from `example.com:8080`; IPv6 literals
/// keep their brackets (`[::1]:8080`).
fn split_port(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && (!name.contains(':') || name.ends_with(']')) => {
            match port.parse() {
                Ok(p) => (name, Some(p)),
                Err(_) => (host, None),
            }
        }
        _ => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(bind: &str) -> SocketAddr {
        bind.parse().unwrap()
    }

    #[test]
    fn only_hosts_that_name_this_server_pass() {
        let listed = vec!["scim.example.com".to_owned(), "10.0.0.5:8080".to_owned()];
        let lo = on("127.0.0.1:8080");
        assert!(allowed("127.0.0.1:8080", &[], lo));
        assert!(allowed("LOCALHOST:8080", &[], lo));
        assert!(!allowed("localhost:9999", &[], lo));
        assert!(!allowed("evil.example", &[], lo));
        assert!(!allowed("evil.example:8080", &[], lo));
        assert!(allowed("scim.example.com", &listed, lo));
        assert!(allowed("Scim.Example.com:443", &listed, lo));
        assert!(allowed("10.0.0.5:8080", &listed, lo));
        assert!(!allowed("10.0.0.5:8081", &listed, lo));
        assert!(!allowed("10.0.0.5", &listed, lo));
        assert!(!allowed("scim.example.com.evil.example", &listed, lo));
        // Not loopback: localhost is not this server's name for others.
        assert!(!allowed("localhost:8080", &[], on("10.0.0.5:8080")));
        assert!(allowed("[::1]:8080", &[], on("[::1]:8080")));
        assert!(allowed("localhost:8080", &[], on("[::1]:8080")));
        let longest = on("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
        assert!(allowed(&longest.to_string().to_uppercase(), &[], longest));
    }

    #[test]
    fn ports_split_off_and_ipv6_literals_stay_whole() {
        assert_eq!(split_port("a.example:80"), ("a.example", Some(80)));
        assert_eq!(split_port("a.example"), ("a.example", None));
        assert_eq!(split_port("[::1]:8080"), ("[::1]", Some(8080)));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("a.example:x"), ("a.example:x", None));
        assert!(is_host("[::1]:8080"));
        assert!(!is_host("evil.example/x"));
        assert!(!is_host("a@b"));
        assert!(!is_host(""));
    }
}
