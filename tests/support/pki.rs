//! A test CA made here (rcgen) and server certificates it signs, for tusk's
//! `server-tls-cert`/`server-tls-key`, and clients that trust only that CA (`tests/tls.rs`,
//! the Chromium test in `tests/optional.rs`).

use super::{free_port, set_env, TestDb, Tusk};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

/// A test CA in a directory of its own, deleted on drop.
pub struct Pki {
    pub dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("tusk-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Names of their own: a leaf whose subject is its issuer's looks self-signed to OpenSSL.
        params.distinguished_name.push(DnType::CommonName, "tusk test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
        Pki { dir, ca }
    }

    pub fn ca_path(&self) -> String {
        self.path("ca.pem")
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// A certificate for localhost and 127.0.0.1 with this serial number, signed by the CA,
    /// written to `cert.pem` and `key.pem`; its DER.
    pub fn issue(&self, serial: u64) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("p");
        params.serial_number = Some(serial.into());
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        std::fs::write(self.dir.join("cert.pem"), cert.pem()).expect("write cert");
        std::fs::write(self.dir.join("key.pem"), key.serialize_pem()).expect("write key");
        cert.der().to_vec()
    }

    pub fn env(&self, db: &TestDb) -> Vec<(String, String)> {
        let mut env = db.seed_env();
        set_env(&mut env, "PGRST_SERVER_TLS_CERT", &self.path("cert.pem"));
        set_env(&mut env, "PGRST_SERVER_TLS_KEY", &self.path("key.pem"));
        env
    }

    /// A rustls client trusting only the CA, offering `alpn`.
    pub fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(self.ca_path()).expect("ca pem")).expect("root");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// `GET path` over TLS (HTTP/1.1): the status line and the served certificate's DER.
    pub async fn get(&self, port: u16, path: &str) -> Result<(String, Vec<u8>), String> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut tls = self.client(&[b"http/1.1"]).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let served = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        // A peer that closes without close_notify is fine here.
        let _ = tls.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        Ok((text.lines().next().unwrap_or_default().to_string(), served.unwrap_or_default()))
    }

    /// Spawns tusk with TLS and waits until it answers over HTTPS.
    pub async fn start(&self, env: &[(String, String)]) -> Tusk {
        let mut t = Tusk::spawn(env, free_port());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(t.is_running(), "tusk exited: {}", t.output.text());
            match self.get(t.port, "/").await {
                Ok((status, _)) if status.starts_with("HTTP/1.1 ") && !status.contains(" 503") => return t,
                _ if Instant::now() > deadline => panic!("not ready over HTTPS: {}", t.output.text()),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
