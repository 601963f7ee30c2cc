//! Where a stream may send (server-side request forgery): an endpoint's
//! host may not be, or resolve to, an address inside the operator's
//! networks (loopback, private, link-local, the cloud metadata services,
//! carrier-grade NAT, unique-local IPv6, ...) unless `event_allow_private`
//! names the host or a network holding the address. Pure: the delivery
//! worker's resolver and the stream's creation ask these rules about the
//! addresses they found.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an address is one a stream may not reach unless allowed: any
/// that is not a public unicast address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address inside IPv6 (mapped, compatible, NAT64's
            // well-known prefix, 6to4) is judged as that address.
            if let Some(v4) = embedded_v4(v6) {
                return internal_v4(v4);
            }
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                // fc00::/7 unique local (AWS's fd00:ec2::254 metadata too)
                || (s[0] & 0xfe00) == 0xfc00
                // fe80::/10 link-local, fec0::/10 site-local (deprecated)
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // 100::/64 discard, 2001:db8::/32 documentation
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        // 169.254.0.0/16: link-local, the metadata services (169.254.169.254)
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // 0.0.0.0/8 "this network"
        || o[0] == 0
        // 100.64.0.0/10 carrier-grade NAT (Alibaba's metadata, 100.100.100.200)
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        // 240.0.0.0/4 reserved
        || o[0] >= 240
}

/// The IPv4 address an IPv6 address carries, when it is one of the forms
/// that reach an IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // ::a.b.c.d (compatible, deprecated), but not :: and ::1
    if s[..6].iter().all(|x| *x == 0) && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail());
    }
    // 64:ff9b::/96 NAT64
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0) {
        return Some(tail());
    }
    // 2002::/16 6to4: the IPv4 address in the next 32 bits
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// What `event_allow_private` allows: host names (as the endpoint spells
/// them, any case) that may resolve to internal addresses, and networks
/// (`10.1.0.0/16`, an address alone) whose addresses may be reached.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    hosts: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl Allowed {
    pub fn new(list: &[String]) -> Allowed {
        let mut a = Allowed::default();
        for entry in list {
            match network(entry) {
                Some(net) => a.nets.push(net),
                None => a
                    .hosts
                    .push(entry.trim().trim_end_matches('.').to_ascii_lowercase()),
            }
        }
        a
    }

    /// Whether `host` (an endpoint's host: a name, or an address) may
    /// reach `ip`.
    pub fn may_reach(&self, host: &str, ip: IpAddr) -> bool {
        if !is_internal(ip) {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host) || self.nets.iter().any(|(net, len)| within(ip, *net, *len))
    }
}

/// A network written `address/length`, or one address.
fn network(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

fn within(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let bits = |ip: IpAddr| -> (u128, u8) {
        match ip {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        }
    };
    let (a, width) = bits(ip);
    let (n, net_width) = bits(net);
    if width != net_width {
        return false;
    }
    let shift = u32::from(width - len.min(width));
    if shift >= 128 {
        return true;
    }
    (a >> shift) == (n >> shift)
}

/// Checks `event_allow_private`: each entry a host name or a network.
pub fn check_config(list: &[String]) -> Result<(), String> {
    for e in list {
        let e = e.trim();
        let ok = network(e).is_some()
            || (!e.is_empty()
                && !e.contains('/')
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)));
        if !ok {
            return Err(format!(
                "event_allow_private: {e:?} is neither a host name nor a network (10.0.0.0/8)"
            ));
        }
    }
    Ok(())
}

/// A host that names this machine whatever DNS says (RFC 6761).
pub fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// Why a stream may not send to a host (the message for the
/// administrator); None when it may. `addresses` are what the host is or
/// resolves to.
pub fn refusal(host: &str, addresses: &[IpAddr], allowed: &Allowed) -> Option<String> {
    let blocked = addresses.iter().find(|ip| !allowed.may_reach(host, **ip));
    let local = is_local_name(host) && !allowed.hosts.contains(&host.to_ascii_lowercase());
    (blocked.is_some() || local).then(|| {
        format!(
            "'endpoint' reaches an internal address ({}): only hosts or networks event_allow_private names may",
            blocked.map_or_else(|| host.to_owned(), IpAddr::to_string)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_public_ones_are_not() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_allow_list_names_hosts_or_networks() {
        let a = Allowed::new(&[
            "hooks.internal".into(),
            "10.1.0.0/16".into(),
            "127.0.0.1".into(),
            "fd00::/8".into(),
        ]);
        assert!(a.may_reach("Hooks.Internal.", ip("10.9.9.9")));
        assert!(a.may_reach("x", ip("10.1.200.3")));
        assert!(!a.may_reach("x", ip("10.2.0.1")));
        assert!(a.may_reach("127.0.0.1", ip("127.0.0.1")));
        assert!(!a.may_reach("x", ip("127.0.0.2")));
        assert!(a.may_reach("x", ip("fd12::1")));
        assert!(a.may_reach("x", ip("1.1.1.1")));
        assert!(refusal("x", &[ip("1.1.1.1"), ip("10.2.0.1")], &a).is_some());
        assert!(refusal("x", &[ip("1.1.1.1")], &a).is_none());
        assert!(refusal("app.localhost", &[], &a).is_some());
        assert!(refusal("hooks.internal", &[ip("192.168.0.1")], &a).is_none());
        assert!(check_config(&["10.0.0.0/8".into(), "hooks.example".into()]).is_ok());
        assert!(check_config(&["10.0.0.0/99".into()]).is_err());
        assert!(check_config(&["http://x".into()]).is_err());
    }
}
