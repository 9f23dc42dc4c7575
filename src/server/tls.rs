//! TLS (rustls, with the ring provider): `server-tls-cert` and `server-tls-key`, both PEM files,
//! make the port speak HTTPS, with HTTP/2 and HTTP/1.1 offered by ALPN.
//!
//! In charge of reading the certificate chain and key, refusing with a message that says which
//! file and what is wrong (missing, not PEM, no certificate, no key, a key that does not match
//! the certificate), and of swapping the served certificate on a config reload: new connections
//! get the new one, open ones keep theirs. A reload whose files are broken keeps the current
//! certificate and logs why. Whether the port speaks TLS at all is decided at start-up.

use std::sync::{Arc, RwLock};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The served TLS configuration, replaced whole on reload.
pub(super) struct Tls {
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl Tls {
    /// Reads the certificate chain and key (`server-tls-cert`, `server-tls-key`).
    pub(super) fn load(cert: &str, key: &str) -> Result<Tls, String> {
        Ok(Tls { current: RwLock::new(server_config(cert, key)?) })
    }

    /// The configuration for a new connection.
    pub(super) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Reads the files again; on an error the current certificate stays, and the error is
    /// returned for the log.
    pub(super) fn reload(&self, cert: &str, key: &str) -> Result<(), String> {
        let fresh = server_config(cert, key)?;
        match self.current.write() {
            Ok(mut slot) => *slot = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

/// The rustls server configuration of a certificate chain and key in PEM files.
fn server_config(cert: &str, key: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = read_chain(cert)?;
    let key = read_key(key)?;
    // ring rather than aws-lc-rs: it builds without cmake or a C toolchain's extras, quickly.
    // rustls deprecates it for lacking post-quantum key exchange; X25519 and the NIST curves
    // remain.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                format!("server-tls-key does not match the certificate in server-tls-cert ({cert})")
            }
            e => format!("server-tls-cert / server-tls-key cannot be used: {e}"),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_file(setting: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{setting}: cannot read {path}: {e}"))
}

/// Every certificate in the file, the server's own first.
fn read_chain(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file("server-tls-cert", path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("server-tls-cert: {path} is not a valid PEM file: {e}"))?;
    if chain.is_empty() {
        return Err(format!("server-tls-cert: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(chain)
}

/// The first private key in the file (PKCS#8, PKCS#1 or SEC1).
fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file("server-tls-key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("server-tls-key: {path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
        }
        e => format!("server-tls-key: {path} is not a valid PEM private key: {e}"),
    })
}

/// A self-signed certificate for `names` (host names or addresses), as PEM (certificate, key):
/// `tusk demo --tls`.
pub fn self_signed(names: Vec<String>) -> Result<(String, String), String> {
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot make a certificate: {e}"))?;
    Ok((made.cert.pem(), made.signing_key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn refusals_name_the_file_and_the_fault() {
        let dir = std::env::temp_dir().join(format!("tusk-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (cert, key) = self_signed(vec!["localhost".into()]).expect("cert");
        let (_, other_key) = self_signed(vec!["localhost".into()]).expect("cert");
        let (cert, key, other_key) =
            (write(&dir, "c.pem", &cert), write(&dir, "k.pem", &key), write(&dir, "o.pem", &other_key));
        let garbage = write(&dir, "g.pem", "not a certificate\n");
        assert!(Tls::load(&cert, &key).is_ok());
        let err = |c: &str, k: &str| Tls::load(c, k).err().expect("refused");
        assert!(err("/nonexistent.pem", &key).contains("server-tls-cert: cannot read /nonexistent.pem"));
        assert!(err(&cert, "/nonexistent.pem").contains("server-tls-key: cannot read"));
        assert!(err(&garbage, &key).contains("holds no PEM certificate"));
        assert!(err(&cert, &garbage).contains("holds no PEM private key"));
        assert!(err(&cert, &other_key).contains("does not match"), "{}", err(&cert, &other_key));
        let tls = Tls::load(&cert, &key).expect("load");
        assert!(tls.reload(&cert, &other_key).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
