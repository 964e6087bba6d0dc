//! Trust for every source kind: extra CA certificates and pinned server certificates, applied to
//! the one HTTP client that serves archives and git, and translated into Mercurial's settings.
//!
//! Without options the system's roots are trusted: the platform verifier reads them from
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set (as OpenSSL, curl and git do), from
//! the distribution's bundle otherwise.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use crate::Sha256Digest;

/// Why the certificate options could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate file could not be read or holds no PEM certificate.
    #[error("certificate file {path}: {reason} (expected PEM: -----BEGIN CERTIFICATE----- blocks)")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS configuration for pinned certificates could not be built.
    #[error("building the TLS configuration for the pinned certificates failed")]
    Config(#[source] rustls::Error),
    /// The CA bundle handed to Mercurial could not be written.
    #[error("writing the CA bundle for Mercurial to {path}")]
    Bundle {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The trust settings of a fetcher, loaded once from the PEM files given to the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    /// Extra CA certificates, trusted in addition to the system's.
    ca: Vec<CertificateDer<'static>>,
    /// Pinned server certificates: when any is given, a server must present one of them.
    pins: Vec<CertificateDer<'static>>,
    /// The TLS configuration that enforces the pins.
    pinned_tls: Option<rustls::ClientConfig>,
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let file_err = |reason: String| Error::File {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| file_err(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err("no certificate in it".to_owned()));
    }
    Ok(certs)
}

impl Trust {
    /// Read the CA and pinned certificate files.
    pub(crate) fn load(ca_files: &[PathBuf], pin_files: &[PathBuf]) -> Result<Trust, Error> {
        let mut trust = Trust::default();
        for path in ca_files {
            trust.ca.extend(read_pem(path)?);
        }
        for path in pin_files {
            trust.pins.extend(read_pem(path)?);
        }
        if !trust.pins.is_empty() {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let verifier = PinnedVerifier {
                pins: trust.pins.clone(),
                provider: provider.clone(),
            };
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(Error::Config)?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            trust.pinned_tls = Some(config);
        }
        Ok(trust)
    }

    /// Apply the settings to the HTTP client (archives and git).
    pub(crate) fn configure(
        &self,
        builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::blocking::ClientBuilder {
        if let Some(config) = &self.pinned_tls {
            return builder.tls_backend_preconfigured(config.clone());
        }
        if self.ca.is_empty() {
            return builder;
        }
        let certs = self
            .ca
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok());
        builder.tls_certs_merge(certs)
    }

    /// `--config` values that give `hg` the same trust for `url` (empty for non-https URLs).
    ///
    /// Pins become `hostsecurity.HOST:fingerprints`; extra CAs, `SSL_CERT_FILE` or
    /// `SSL_CERT_DIR` become `web.cacerts`, a bundle of the system roots (read as the HTTP
    /// client reads them) and the extra CAs, written under `bundle_dir` (Debian's
    /// `/etc/mercurial/hgrc.d/cacerts.rc` would otherwise win).
    pub(crate) fn hg_config(&self, url: &str, bundle_dir: &Path) -> Result<Vec<String>, Error> {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Ok(Vec::new());
        };
        if parsed.scheme() != "https" {
            return Ok(Vec::new());
        }
        let host = parsed.host_str().unwrap_or_default();
        if !self.pins.is_empty() {
            let fingerprints: Vec<String> = self
                .pins
                .iter()
                .map(|der| format!("sha256:{}", Sha256Digest::of_bytes(der)))
                .collect();
            return Ok(vec![format!(
                "hostsecurity.{host}:fingerprints={}",
                fingerprints.join(",")
            )]);
        }
        let env_roots = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if self.ca.is_empty() && !env_roots {
            return Ok(Vec::new());
        }
        let path = self.write_bundle(bundle_dir)?;
        Ok(vec![format!("web.cacerts={}", path.display())])
    }

    /// The system roots and the extra CAs as one PEM file, named by its content.
    fn write_bundle(&self, dir: &Path) -> Result<PathBuf, Error> {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "reading the system's CA certificates");
        }
        let mut pem = String::new();
        for der in native.certs.iter().chain(&self.ca) {
            let text = base64::engine::general_purpose::STANDARD.encode(der);
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in text.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        let digest = Sha256Digest::of_bytes(pem.as_bytes());
        let path = dir.join(format!("ca-bundle-{digest}.pem"));
        if path.is_file() {
            return Ok(path);
        }
        let bundle_err = |source| Error::Bundle {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(bundle_err)?;
        let tmp = dir.join(format!(".ca-bundle-{}.tmp", std::process::id()));
        std::fs::write(&tmp, &pem).map_err(bundle_err)?;
        std::fs::rename(&tmp, &path).map_err(bundle_err)?;
        tracing::debug!(path = %path.display(), certificates = native.certs.len() + self.ca.len(), "CA bundle for Mercurial");
        Ok(path)
    }
}

/// Whether a failed request failed in the TLS layer (certificate, handshake, alert): such a
/// failure does not go away by retrying.
pub(crate) fn is_tls_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        // io::Error hides the error it wraps from source() (and may wrap another io::Error):
        // look inside.
        let mut inner: &(dyn std::error::Error + 'static) = e;
        loop {
            if inner.is::<rustls::Error>() {
                return true;
            }
            match inner
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        current = e.source();
    }
    false
}

/// Accepts exactly the pinned certificates (any CA, any name), as Mercurial's
/// `hostsecurity.HOST:fingerprints` does; the handshake signatures are still verified, so the
/// server must hold the pinned certificate's key.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

/// The certificate a server presented is not pinned.
struct NotPinned {
    presented: Sha256Digest,
}

impl fmt::Debug for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate (sha256 {}) is not a pinned certificate",
            self.presented
        )
    }
}

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for NotPinned {}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pins
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        Err(CertificateError::Other(OtherError(Arc::new(NotPinned {
            presented: Sha256Digest::of_bytes(end_entity),
        })))
        .into())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
