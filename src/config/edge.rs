//! tusk's own settings of the HTTP edge, validated: response compression, static files, rate
//! limits and the trusted proxies (`server-compression`, `server-static-*`, `server-rate-limit*`,
//! `server-trusted-proxies`). Refuses a static path that is not an absolute URL path of plain
//! segments, a negative rate, and a proxy that is not an address or a CIDR range.

use super::{invalid, ConfigError, Raw};
use std::net::IpAddr;

/// The edge settings, read for each request (a reload applies them).
#[derive(Debug, Clone)]
pub struct Edge {
    /// `server-compression`: compress responses (gzip, br, zstd) when the client accepts it.
    pub compression: bool,
    /// `server-static-dir`: the directory served under `static_path`.
    pub static_dir: Option<std::path::PathBuf>,
    /// `server-static-path`: the URL prefix, `/static` by default, without a trailing `/`.
    pub static_path: String,
    /// `server-static-cache-control`: the `Cache-Control` of static files.
    pub static_cache_control: String,
    /// `server-rate-limit`: requests per second per key; 0 is off.
    pub rate_limit: u32,
    /// `server-rate-limit-burst`: the bucket size (requests at once); never 0 when limiting.
    pub rate_limit_burst: u32,
    /// `server-trusted-proxies`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<Cidr>,
}

/// An address range: an address and how many leading bits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `::1`, `fd00::/8` (an address alone is all its bits).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a.trim().parse::<IpAddr>().ok()?, Some(b.trim().parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { addr, bits })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u128::from(u32::from(net)), u128::from(u32::from(ip)), 32, self.bits)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(u128::from(net), u128::from(ip), 128, self.bits),
            _ => false,
        }
    }
}

/// Whether the first `bits` of two `width`-bit numbers are equal.
fn prefix_eq(a: u128, b: u128, width: u32, bits: u8) -> bool {
    let shift = width.saturating_sub(u32::from(bits));
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

pub(super) fn read(r: &Raw) -> Result<Edge, ConfigError> {
    let static_path = r.value("server-static-path").trim_end_matches('/').to_string();
    let plain = static_path.starts_with('/')
        && static_path.len() > 1
        && static_path[1..].split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        });
    if !plain {
        return Err(invalid("server-static-path", format!("'{static_path}' is not a URL path like /static")));
    }
    let cache_control = r.value("server-static-cache-control").to_string();
    if cache_control.bytes().any(|b| b.is_ascii_control()) {
        return Err(invalid("server-static-cache-control", "must not contain control characters"));
    }
    let count = |name| u32::try_from(r.int(name)?).map_err(|_| invalid(name, "must be a number from 0 to 4294967295"));
    let rate_limit = count("server-rate-limit")?;
    let burst = count("server-rate-limit-burst")?;
    let mut trusted_proxies = Vec::new();
    for p in r.list("server-trusted-proxies") {
        let cidr = Cidr::parse(&p)
            .ok_or_else(|| invalid("server-trusted-proxies", format!("'{p}' is not an address or a CIDR range")))?;
        trusted_proxies.push(cidr);
    }
    Ok(Edge {
        compression: r.flag("server-compression"),
        static_dir: r.get("server-static-dir").map(std::path::PathBuf::from),
        static_path,
        static_cache_control: cache_control,
        rate_limit,
        rate_limit_burst: if burst == 0 { rate_limit.max(1) } else { burst },
        trusted_proxies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges() {
        let net = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let one = Cidr::parse("::1").expect("cidr");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!(!one.contains("::2".parse().expect("ip")));
        let all = Cidr::parse("0.0.0.0/0").expect("cidr");
        assert!(all.contains("192.0.2.1".parse().expect("ip")));
        assert!(!all.contains("2001:db8::1".parse().expect("ip")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("example.com"), None);
    }
}
