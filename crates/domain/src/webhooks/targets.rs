//! Where webhooks may be sent: `http`/`https` URLs, and only to public
//! addresses. An address is *not* public when it is unspecified, loopback,
//! private (RFC 1918), shared (CGNAT, RFC 6598), link-local (which holds
//! the cloud metadata service, 169.254.169.254), unique-local IPv6 (which
//! holds AWS's fd00:ec2::254), multicast, broadcast, reserved or
//! documentation space; an IPv6 address that embeds an IPv4 one (mapped,
//! compatible, NAT64, 6to4) is judged by the IPv4 address inside; the
//! IPv4-translated range (`::ffff:0:0/96`, SIIT), local-use NAT64
//! (`64:ff9b:1::/48`), Teredo (`2001::/32`), benchmarking (`2001:2::/48`)
//! and ORCHID (`2001:10::/28`, `2001:20::/28`) are never public: what they
//! reach depends on translators inside someone's network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest URL accepted.
pub const URL_CHARS_MAX: usize = 2048;

/// A webhook endpoint's URL: absolute, `http` or `https`, with a host and
/// without credentials.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(url::Url);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("Invalid URL: must be an absolute http or https URL with a host, at most {URL_CHARS_MAX} characters, without user or password.")]
    Invalid,
}

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        if text.chars().count() > URL_CHARS_MAX {
            return Err(UrlError::Invalid);
        }
        let url = url::Url::parse(text).map_err(|_| UrlError::Invalid)?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none();
        usable.then_some(Self(url)).ok_or(UrlError::Invalid)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as written (brackets stripped from IPv6 literals).
    pub fn host(&self) -> Host<'_> {
        match self.0.host() {
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => Host::Name(name),
            None => unreachable!("parse refuses URLs without a host"),
        }
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

/// A URL's host: an address, or a name to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

impl TryFrom<String> for WebhookUrl {
    type Error = UrlError;
    fn try_from(text: String) -> Result<Self, UrlError> {
        Self::parse(&text)
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> String {
        url.0.into()
    }
}

/// True when webhooks may be sent to `ip` without allowing private targets.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let forbidden = a == 0                                  // "this network"
        || a == 10                                          // private
        || a == 127                                         // loopback
        || (a == 100 && (64..128).contains(&b))             // CGNAT
        || (a == 169 && b == 254)                           // link-local, metadata
        || (a == 172 && (16..32).contains(&b))              // private
        || (a == 192 && b == 0 && c == 0)                   // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                   // documentation
        || (a == 192 && b == 88 && c == 99)                 // 6to4 relay anycast
        || (a == 192 && b == 168)                           // private
        || (a == 198 && (18..20).contains(&b))              // benchmarking
        || (a == 198 && b == 51 && c == 100)                // documentation
        || (a == 203 && b == 0 && c == 113)                 // documentation
        || a >= 224; // multicast, reserved, broadcast
    !forbidden
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let forbidden = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00                        // unique local (fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80                        // link-local
        || (s[0] & 0xffc0) == 0xfec0                        // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00                        // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)               // documentation
        || (s[0] == 0x2001 && s[1] == 0)                    // Teredo
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0)  // benchmarking
        || (s[0] == 0x2001 && (s[1] & 0xffe0) == 0x0020)    // ORCHIDv2
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010)    // ORCHID
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1)  // local-use NAT64
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]                // IPv4-translated (SIIT)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]); // discard-only
    !forbidden
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64
/// (64:ff9b::/96) or 6to4 (2002::/16) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) && !(s[5] == 0 && s[6] == 0) {
        return Some(low(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn private_loopback_link_local_cgnat_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:0:7f00:1",
            "::ffff:0:808:808",
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1:ffff::1",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
        ] {
            assert!(!public(ip), "{ip} must not be public");
        }
    }

    #[test]
    fn ordinary_internet_addresses_are_public() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2a00:1450:4001::200e",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn only_absolute_http_and_https_urls_with_a_host_parse() {
        assert!(WebhookUrl::parse("https://example.com/hooks").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/hooks",
            "https://user:pw@example.com/",
            "gopher://x",
            "",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad} must be refused");
        }
        let url = WebhookUrl::parse("http://[::1]:8080/x").unwrap();
        assert_eq!(url.host(), Host::Ip("::1".parse().unwrap()));
        assert_eq!(url.port(), 8080);
        assert_eq!(WebhookUrl::parse("https://a.example/").unwrap().port(), 443);
    }
}
