//! The server-side request forgery guard (`crate::events::guard` has the
//! rules): an endpoint is refused when its host is, or resolves to, an
//! internal address that `event_allow_private` does not allow, when the
//! stream is created (if its name resolves then) and again at every
//! connection, on the addresses the connection will use (the delivery
//! client resolves through [`Resolver`], so a name that changes its
//! answer after the check, DNS rebinding, is caught too).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::events::guard::{Allowed, refusal};

/// How long a stream's creation waits for its endpoint's name to resolve;
/// a name that does not resolve yet is checked at each connection.
const CREATE_LOOKUP: Duration = Duration::from_secs(2);

/// The endpoint's host: a name, or the address it spells.
fn host(url: &str) -> Option<(String, Option<IpAddr>)> {
    let parsed = Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    Some((host.to_owned(), ip))
}

/// Refuses an endpoint whose host is an internal address or names this
/// machine (`localhost`), without resolving anything: at every attempt,
/// since a connection to an address is not resolved.
pub fn check_host(url: &str, allowed: &Allowed) -> Result<(), String> {
    let Some((host, ip)) = host(url) else {
        return Ok(());
    };
    let addresses: Vec<IpAddr> = ip.into_iter().collect();
    refusal(&host, &addresses, allowed).map_or(Ok(()), Err)
}

/// [`check_host`], then, when the name resolves now, its addresses: at a
/// stream's creation, so that an endpoint inside the network is refused
/// with a clear message rather than failing at each delivery.
pub async fn check_endpoint(url: &str, allowed: &Allowed) -> Result<(), String> {
    check_host(url, allowed)?;
    let Some((host, None)) = host(url) else {
        return Ok(());
    };
    let lookup = tokio::net::lookup_host((host.as_str(), 0));
    let addresses: Vec<IpAddr> = match tokio::time::timeout(CREATE_LOOKUP, lookup).await {
        Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
        // Not resolvable now: checked when it is, at each connection.
        _ => return Ok(()),
    };
    refusal(&host, &addresses, allowed).map_or(Ok(()), Err)
}

/// A connection refused because its host resolved to an internal
/// address.
#[derive(Debug)]
pub struct InternalAddress(pub String);

impl std::fmt::Display for InternalAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InternalAddress {}

/// The delivery client's resolver: the system's, then the rules; a name
/// with any internal address that is not allowed does not connect at all.
pub struct Resolver {
    allowed: Arc<Allowed>,
}

impl Resolver {
    pub fn new(allowed: Allowed) -> Arc<Resolver> {
        Arc::new(Resolver {
            allowed: Arc::new(allowed),
        })
    }
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
            if let Some(why) = refusal(&host, &ips, &allowed) {
                return Err(Box::new(InternalAddress(why)) as _);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The guard's refusal somewhere in a request's error, if it is one.
pub fn refused<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a str> {
    let mut at = Some(e);
    while let Some(err) = at {
        if let Some(InternalAddress(why)) = err.downcast_ref::<InternalAddress>() {
            return Some(why);
        }
        at = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn the_resolver_refuses_internal_answers_unless_allowed() {
        let name = || Name::from_str("localhost").expect("a name");
        let refused_here = Resolver::new(Allowed::default())
            .resolve(name())
            .await
            .err()
            .expect("refused");
        let why = refused(refused_here.as_ref()).expect("the guard's refusal");
        assert!(why.contains("internal address"), "{why}");
        let allowed = Resolver::new(Allowed::new(&["localhost".into()]))
            .resolve(name())
            .await
            .expect("allowed");
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn addresses_in_the_url_are_checked_without_resolving() {
        let none = Allowed::default();
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest",
            "https://localhost:8443/",
        ] {
            assert!(check_host(url, &none).is_err(), "{url}");
        }
        assert!(check_host("https://93.184.215.14/", &none).is_ok());
        assert!(check_host("https://hooks.example.com/", &none).is_ok());
        let loopback = Allowed::new(&["127.0.0.0/8".into()]);
        assert!(check_host("https://127.0.0.1/", &loopback).is_ok());
    }
}
