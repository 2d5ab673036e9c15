//! TLS to PostgreSQL, with rustls: `sslmode` and `sslrootcert` are read
//! from the database URL's query (as libpq spells them) and taken out
//! before the rest goes to `tokio-postgres`.
//!
//! - `sslmode=disable` (or none): plain TCP, for loopback and private
//!   networks only.
//! - `sslmode=require`: encrypted, the server's certificate not checked
//!   (libpq's meaning): stops eavesdropping, not an active impostor.
//! - `sslmode=verify-full&sslrootcert=FILE`: encrypted, the certificate
//!   must chain to a root in FILE (PEM) and name the host in the URL.
//!
//! `prefer`, `allow` and `verify-ca` are refused rather than half-honoured:
//! a silent fallback to plain text, or a certificate accepted for any name,
//! is not what an operator who wrote them expects from a payment system.

use crate::error::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

/// What the URL asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PgTls {
    Disable,
    Require,
    VerifyFull { root_cert: PathBuf },
}

/// The URL without `sslmode`/`sslrootcert`, and the TLS they asked for.
pub(crate) fn split_tls(database_url: &str) -> Result<(String, PgTls), StoreError> {
    let invalid =
        |e: &dyn std::fmt::Display| StoreError::Config(format!("invalid PostgreSQL URL: {e}"));
    let mut url = url::Url::parse(database_url).map_err(|e| invalid(&e))?;
    let mut mode = None;
    let mut root_cert = None;
    // The other parameters keep their text as given: re-encoding them
    // as a form would turn `%20` into `+`, which the PostgreSQL client
    // reads as a plus sign (`options=-c%20name%3Dvalue` would break).
    let kept: Vec<String> = url
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let Some((name, value)) = url::form_urlencoded::parse(pair.as_bytes()).next() else {
                return true;
            };
            match name.as_ref() {
                "sslmode" => mode = Some(value.into_owned()),
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                _ => return true,
            }
            false
        })
        .map(str::to_owned)
        .collect();
    url.set_query((!kept.is_empty()).then(|| kept.join("&")).as_deref());
    let tls =
        match (mode.as_deref(), root_cert) {
            (None | Some("disable"), None) => PgTls::Disable,
            (Some("require"), None) => PgTls::Require,
            (Some("verify-full"), Some(root_cert)) => PgTls::VerifyFull { root_cert },
            (Some("verify-full"), None) => return Err(StoreError::Config(
                "sslmode=verify-full needs sslrootcert=FILE (the PEM root certificates to trust)"
                    .into(),
            )),
            (Some(other @ ("prefer" | "allow" | "verify-ca")), _) => {
                return Err(StoreError::Config(format!(
                    "sslmode={other} is not supported: use disable, require or verify-full"
                )))
            }
            (None | Some("disable") | Some("require"), Some(_)) => {
                return Err(StoreError::Config(
                    "sslrootcert is only used with sslmode=verify-full".into(),
                ))
            }
            (Some(other), _) => return Err(StoreError::Config(format!("unknown sslmode={other}"))),
        };
    Ok((url.to_string(), tls))
}

/// The rustls client configuration for `tls` (`None` for plain TCP).
pub(crate) fn client_config(tls: &PgTls) -> Result<Option<ClientConfig>, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?;
    match tls {
        PgTls::Disable => Ok(None),
        PgTls::Require => Ok(Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
        )),
        PgTls::VerifyFull { root_cert } => {
            let unreadable = |e: &dyn std::fmt::Display| {
                StoreError::Config(format!("sslrootcert {}: {e}", root_cert.display()))
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(root_cert).map_err(|e| unreadable(&e))? {
                roots
                    .add(cert.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
            Ok(Some(
                builder.with_root_certificates(roots).with_no_client_auth(),
            ))
        }
    }
}

/// `sslmode=require`: any certificate is accepted, but the handshake's
/// signatures are still checked, so the session is encrypted to whoever
/// holds the presented certificate's key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let (url, tls) = split_tls(
            "postgres://u@db.example:5432/p?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@db.example:5432/p?application_name=x");
        assert_eq!(
            tls,
            PgTls::VerifyFull {
                root_cert: "/ca.pem".into()
            }
        );
        let (url, tls) = split_tls("postgres://u@h/p").unwrap();
        assert_eq!((url.as_str(), tls), ("postgres://u@h/p", PgTls::Disable));
        assert_eq!(
            split_tls("postgres://u@h/p?sslmode=require").unwrap().1,
            PgTls::Require
        );
    }

    #[test]
    fn other_parameters_keep_their_encoding() {
        let (url, tls) = split_tls(
            "postgres://u@h/p?options=-c%20synchronous_commit%3Doff&sslmode=require&application_name=a%2Bb",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u@h/p?options=-c%20synchronous_commit%3Doff&application_name=a%2Bb"
        );
        assert_eq!(tls, PgTls::Require);
        let config: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(config.get_options(), Some("-c synchronous_commit=off"));
        assert_eq!(config.get_application_name(), Some("a+b"));
    }

    #[test]
    fn half_honoured_modes_are_refused() {
        for url in [
            "postgres://u@h/p?sslmode=prefer",
            "postgres://u@h/p?sslmode=verify-ca&sslrootcert=/ca.pem",
            "postgres://u@h/p?sslmode=verify-full",
            "postgres://u@h/p?sslmode=require&sslrootcert=/ca.pem",
            "postgres://u@h/p?sslmode=bogus",
        ] {
            assert!(
                matches!(split_tls(url), Err(StoreError::Config(_))),
                "{url}"
            );
        }
    }
}
