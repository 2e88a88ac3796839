//! Trust for `wss://` signaling: the system's root certificates and, for a service with a
//! private CA, the CA certificates a client is given. Built once per client.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_tungstenite::Connector;

/// Why the trust for `wss://` could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The CA certificates given are not PEM certificates.
    #[error("the CA certificates are not PEM certificates: {0}")]
    BadCertificates(String),
    /// Neither the system nor the client has a CA certificate to trust.
    #[error("no CA certificates to trust (none on the system, none given)")]
    NoRoots,
}

/// A TLS connector trusting the system's roots and every certificate in `ca_pem`.
pub fn connector(ca_pem: &[u8]) -> Result<Connector, TlsError> {
    let mut roots = RootCertStore::empty();
    // Certificates of the system the platform could not parse are skipped, not fatal.
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    if !ca_pem.is_empty() {
        let given = CertificateDer::pem_slice_iter(ca_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::BadCertificates(e.to_string()))?;
        if given.is_empty() {
            return Err(TlsError::BadCertificates("no certificate in them".into()));
        }
        for certificate in given {
            roots
                .add(certificate)
                .map_err(|e| TlsError::BadCertificates(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_pem_certificate_is_refused() {
        for bad in [
            &b"hello"[..],
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(connector(bad), Err(TlsError::BadCertificates(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
