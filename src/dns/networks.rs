//! `--allowed-source-networks`: the networks in which the old provider's servers may be. A
//! resource names its source's servers (`spec.source.nameservers`), so without a bound a
//! person who may create a HostedZoneMigration could make the operator send DNS messages to
//! any address it can reach, in-cluster ones included. With the flag set, a server whose
//! address is outside every listed network is never asked.

use std::fmt;
use std::net::IpAddr;

/// One network: an address and a prefix length (`192.0.2.0/24`, `2001:db8::/32`, or one
/// address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Reads `ADDRESS[/PREFIX]`; host bits set under the prefix are refused (a typo, most
    /// often: `10.1.2.3/8` for `10.0.0.0/8`).
    pub fn parse(text: &str) -> Result<Network, String> {
        let s = text.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| {
            format!("{s:?} is not a network: an address, or ADDRESS/PREFIX such as 192.0.2.0/24")
        })?;
        if let IpAddr::V6(v6) = addr {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Err(format!(
                    "{s:?} is an IPv4-mapped IPv6 network: write it as IPv4 ({v4}, with its prefix less 96)"
                ));
            }
        }
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        let net = Network { addr, prefix };
        if bits(addr) & !mask(prefix, max) != 0 {
            return Err(format!(
                "{s:?} has bits set after its /{prefix} prefix: the network is {}",
                Network {
                    addr: masked(addr, prefix),
                    prefix
                }
            ));
        }
        Ok(net)
    }

    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        masked(ip, self.prefix) == self.addr
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Reads a list of networks; the error names the entry.
pub fn parse_all(list: &[String]) -> Result<Vec<Network>, String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(Network::parse)
        .collect()
}

/// Whether `ip` may be asked: always when `allowed` is empty (no bound set).
pub fn allows(allowed: &[Network], ip: IpAddr) -> bool {
    allowed.is_empty() || allowed.iter().any(|n| n.contains(ip))
}

/// The list as the flag takes it, for messages.
pub fn describe(allowed: &[Network]) -> String {
    allowed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The first `prefix` bits of an address `width` bits wide.
fn mask(prefix: u8, width: u8) -> u128 {
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    match prefix {
        0 => 0,
        p if p >= width => all,
        p => all & !(all >> p),
    }
}

fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = mask(prefix, 32) as u32;
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask(prefix, 128)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn networks_hold_their_addresses_only() {
        let n = Network::parse("192.0.2.0/24").unwrap();
        assert!(n.contains(ip("192.0.2.0")) && n.contains(ip("192.0.2.255")));
        assert!(!n.contains(ip("192.0.3.1")) && !n.contains(ip("2001:db8::1")));
        assert!(
            n.contains(ip("::ffff:192.0.2.7")),
            "IPv4-mapped counts as IPv4"
        );
        let one = Network::parse("127.0.0.53").unwrap();
        assert!(one.contains(ip("127.0.0.53")) && !one.contains(ip("127.0.0.54")));
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        let host6 = Network::parse("2001:db8::53").unwrap();
        assert_eq!(host6.to_string(), "2001:db8::53/128");
        assert!(host6.contains(ip("2001:db8::53")) && !host6.contains(ip("2001:db8::54")));
        let loop6 = Network::parse("::1/128").unwrap();
        assert!(loop6.contains(ip("::1")) && !loop6.contains(ip("127.0.0.1")));
        let any6 = Network::parse("::/0").unwrap();
        assert!(any6.contains(ip("2001:db8::1")) && !any6.contains(ip("192.0.2.1")));
        let host4 = Network::parse("192.0.2.1/32").unwrap();
        assert!(host4.contains(ip("192.0.2.1")) && !host4.contains(ip("192.0.2.0")));
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("10.1.2.3")) && !all.contains(ip("::1")));
        assert_eq!(
            Network::parse(" 10.0.0.0/8 ").unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn a_bad_network_is_refused_with_why() {
        let e = Network::parse("10.1.2.3/8").unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
        assert!(Network::parse("192.0.2.0/33")
            .unwrap_err()
            .contains("0 to 32"));
        assert!(Network::parse("2001:db8::/129")
            .unwrap_err()
            .contains("0 to 128"));
        assert!(Network::parse("ns1.example.net")
            .unwrap_err()
            .contains("not a network"));
        assert!(Network::parse("192.0.2.0/x").is_err());
        let e = Network::parse("::ffff:192.0.2.0/120").unwrap_err();
        assert!(e.contains("IPv4-mapped"), "{e}");
        let e = parse_all(&["192.0.2.0/24".into(), "".into(), "bad".into()]).unwrap_err();
        assert!(e.contains("\"bad\""), "{e}");
    }

    #[test]
    fn no_bound_allows_every_address() {
        assert!(allows(&[], ip("10.0.0.1")));
        let list = parse_all(&["192.0.2.0/24".into(), "2001:db8::/32".into()]).unwrap();
        assert!(allows(&list, ip("2001:db8::53")) && !allows(&list, ip("10.0.0.1")));
        assert_eq!(describe(&list), "192.0.2.0/24,2001:db8::/32");
    }
}
