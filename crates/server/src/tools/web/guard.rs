//! The server-side request forgery guard of `visit_url` and `download_url`:
//! a URL may only reach a public address unless `[web_visit]` allows private
//! ones (all, or named hosts). Every hop of a redirect is checked again, IP
//! literals in any spelling are checked after the URL parser normalised them,
//! and names are checked on the addresses the connection will actually use:
//! the client resolves through [`GuardedResolver`], which drops non-public
//! addresses, so a name that re-resolves to an internal address between a
//! check and the connect (DNS rebinding) cannot get through either.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// What may be reached.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Any address.
    pub allow_private: bool,
    /// `host` or `host:port` entries that may be private.
    pub allowed_hosts: Vec<String>,
}

/// True for an address that is not on the public internet: loopback, private,
/// carrier-grade NAT, link-local, unique-local, multicast, broadcast,
/// documentation, benchmarking, reserved and unspecified ranges, and IPv6
/// forms that embed such an IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let seg = ip.segments();
    // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address.
    if seg[..6] == [0, 0, 0, 0, 0, 0] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return ip.is_unspecified() || ip.is_loopback() || internal_v4(v4);
    }
    if seg[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return internal_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
        || seg[0] == 0x2001 && seg[1] == 0x0db8
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an http(s) URL with a host.
    InvalidUrl(String),
    /// It would reach a non-public address.
    Blocked(String),
}

impl Policy {
    fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        self.allowed_hosts.iter().any(|entry| {
            entry.eq_ignore_ascii_case(host)
                || port.is_some_and(|p| entry.eq_ignore_ascii_case(&format!("{host}:{p}")))
        })
    }

    /// Checks a URL before each request (the first and every redirect).
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::InvalidUrl(format!(
                "unsupported scheme: '{}'; use http or https",
                url.scheme()
            )));
        }
        let Some(host) = url.host() else {
            return Err(Refusal::InvalidUrl("missing hostname".into()));
        };
        if self.allow_private {
            return Ok(());
        }
        let name = url.host_str().unwrap_or_default();
        if self.host_allowed(
            name.trim_matches(|c| c == '[' || c == ']'),
            url.port_or_known_default(),
        ) {
            return Ok(());
        }
        let ip = match host {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(_) => return Ok(()),
        };
        if is_internal(ip) {
            return Err(Refusal::Blocked(format!(
                "{ip} is not a public address; access to loopback, private and link-local networks is disabled; set allow_private_networks = true (or list the host in allowed_hosts) in [web_visit] to allow it"
            )));
        }
        Ok(())
    }
}

/// The resolver of the guarded client: a name resolves only to public
/// addresses (unless the policy allows private ones, or names the host).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<Policy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }
}

/// The marker in the error of a name that resolved only to internal addresses.
pub const RESOLVED_INTERNAL: &str = "resolves only to non-public addresses";

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let open = policy.allow_private || policy.host_allowed(&host, None);
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| open || !is_internal(a.ip()))
                .collect();
            if public.is_empty() {
                let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{host} {RESOLVED_INTERNAL} ({}); set allow_private_networks = true (or list the host in allowed_hosts) in [web_visit] to allow it",
                    shown.join(", ")
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn internal_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "::127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "93.184.216.34"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ip_literals_in_any_spelling_are_checked() {
        let p = Policy::default();
        for u in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://[::ffff:7f00:1]/",
            "http://[::1]:8080/x",
        ] {
            let url = Url::parse(u).unwrap();
            assert!(matches!(p.check(&url), Err(Refusal::Blocked(_))), "{u}");
        }
        assert!(matches!(
            p.check(&Url::parse("ftp://example.com/").unwrap()),
            Err(Refusal::InvalidUrl(_))
        ));
        assert!(
            p.check(&Url::parse("https://example.com/").unwrap())
                .is_ok()
        );
        let allow = Policy {
            allow_private: false,
            allowed_hosts: vec!["127.0.0.1:8080".into()],
        };
        assert!(
            allow
                .check(&Url::parse("http://127.0.0.1:8080/").unwrap())
                .is_ok()
        );
        assert!(
            allow
                .check(&Url::parse("http://127.0.0.1:8081/").unwrap())
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn every_mapped_internal_v4_is_internal(a in any::<u32>()) {
            let v4 = Ipv4Addr::from(a);
            prop_assert_eq!(is_internal(IpAddr::V6(v4.to_ipv6_mapped())), is_internal(IpAddr::V4(v4)));
        }
    }
}
