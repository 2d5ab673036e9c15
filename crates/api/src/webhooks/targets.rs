//! SSRF protection (OWASP API 7): a webhook may go only to public
//! addresses unless the operator allows private targets. At creation the
//! URL's form is checked (a literal address, or a name such as `localhost`
//! that is loopback by definition, must be public) without resolving it, so
//! endpoints can be made offline; at each delivery the host is resolved and
//! *every* address checked; the delivery then connects only to the addresses that passed
//! ([`CheckedResolver`] is the HTTP client's resolver), so a DNS answer
//! that changes between the check and the connection (rebinding) cannot
//! reach a private address. Redirects are never followed.

use portcullis_domain::webhooks::targets::{is_public, Host};
use portcullis_domain::webhooks::WebhookUrl;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Longest wait for a DNS answer.
const RESOLVE_TIMEOUT_MS: u64 = 5_000;
/// Most addresses of one name that are checked and tried.
const ADDRESSES_MAX: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the host {0} could not be resolved")]
    Unresolved(String),
    #[error("the host {host} resolves to {ip}, which is not a public address (private targets are for local development only: start the server with --webhooks-allow-private-targets)")]
    NotPublic { host: String, ip: IpAddr },
}

/// Checks what can be checked of `url` without the network: a literal
/// address must be public, and so must names that are loopback by
/// definition (`localhost`, `*.localhost`, RFC 6761). Other names are
/// resolved and checked at each delivery.
pub fn check_url_form(url: &WebhookUrl, allow_private: bool) -> Result<(), TargetError> {
    match url.host() {
        Host::Ip(ip) => check_ip(&ip.to_string(), ip, allow_private),
        Host::Name(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                check_ip(&name, IpAddr::from([127, 0, 0, 1]), allow_private)
            } else {
                Ok(())
            }
        }
    }
}

/// Checks that `url` may receive webhooks: its literal address, or every
/// address its name resolves to, is public (or private targets are allowed).
pub async fn check_url(url: &WebhookUrl, allow_private: bool) -> Result<(), TargetError> {
    match url.host() {
        Host::Ip(ip) => check_ip(&ip.to_string(), ip, allow_private),
        Host::Name(name) => resolve_checked(name, url.port(), allow_private)
            .await
            .map(drop),
    }
}

fn check_ip(host: &str, ip: IpAddr, allow_private: bool) -> Result<(), TargetError> {
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(TargetError::NotPublic {
            host: host.to_owned(),
            ip,
        })
    }
}

/// The addresses of `name`, all of them checked.
pub async fn resolve_checked(
    name: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, TargetError> {
    let unresolved = || TargetError::Unresolved(name.to_owned());
    let lookup = tokio::net::lookup_host((name, port));
    let found = tokio::time::timeout(Duration::from_millis(RESOLVE_TIMEOUT_MS), lookup)
        .await
        .map_err(|_| unresolved())?
        .map_err(|_| unresolved())?;
    let addresses: Vec<SocketAddr> = found.take(ADDRESSES_MAX).collect();
    if addresses.is_empty() {
        return Err(unresolved());
    }
    for address in &addresses {
        check_ip(name, address.ip(), allow_private)?;
    }
    Ok(addresses)
}

/// The webhook client's resolver: answers only checked addresses, so the
/// connection goes exactly where the check looked.
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // The port is the URL's; the connector sets it on each address.
            let addresses = resolve_checked(name.as_str(), 0, allow_private).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_names_and_literals_are_refused_unless_allowed() {
        for text in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
        ] {
            let url = WebhookUrl::parse(text).unwrap();
            assert!(check_url(&url, false).await.is_err(), "{text}");
            assert!(check_url(&url, true).await.is_ok(), "{text}");
        }
    }

    #[test]
    fn creation_checks_the_form_without_resolving() {
        // `.invalid` never resolves (RFC 6761): creation must not need DNS.
        let offline = WebhookUrl::parse("https://hooks.example.invalid/stripe").unwrap();
        assert!(check_url_form(&offline, false).is_ok());
        for text in [
            "http://localhost:9/",
            "http://app.localhost/",
            "http://10.0.0.1/",
        ] {
            let url = WebhookUrl::parse(text).unwrap();
            let err = check_url_form(&url, false).unwrap_err().to_string();
            assert!(
                err.contains("--webhooks-allow-private-targets"),
                "{text}: {err}"
            );
            assert!(check_url_form(&url, true).is_ok(), "{text}");
        }
    }
}
