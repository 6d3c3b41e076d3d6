//! The cluster's key material in the data dir, created on first start and reused after (as
//! k3s keeps it under `server/tls`): the cluster CA (`tls/server-ca.crt`, its key beside it)
//! that pods find in `kube-root-ca.crt`, and the service-account signing key
//! (`tls/service.key`) that signs and verifies service-account tokens. Keys are written 0600
//! in a 0700 directory.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// The CA certificate and the signing key, as PEM.
#[derive(Clone)]
pub struct Pki {
    pub ca_certificate: String,
    pub service_account_key: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pki { .. }")
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Writes a file only its owner may read (created new, never over an existing one).
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// A new self-signed CA valid for ten years, named as k3s names its CAs.
fn new_ca() -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let now = jiff::Timestamp::now();
    let name = format!("ferrokube-server-ca@{}", now.as_second());
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let (year, month, day) = (i32::from(date.year()), date.month() as u8, date.day() as u8);
    params.not_before = rcgen::date_time_ymd(year, month, day);
    params.not_after = rcgen::date_time_ymd(year + 10, month, day.min(28));
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A new signing key (ECDSA P-256, PKCS#8 PEM).
pub fn new_signing_key() -> String {
    KeyPair::generate()
        .expect("the platform can make a P-256 key")
        .serialize_pem()
}

impl Pki {
    /// Reads the key material under `data_dir/tls`, creating what is missing.
    pub fn load_or_create(data_dir: &Path) -> io::Result<Pki> {
        let dir = data_dir.join("tls");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let at = |name: &str| -> PathBuf { dir.join(name) };
        if !at("server-ca.crt").exists() {
            let (cert, key) = new_ca().map_err(other)?;
            write_private(&at("server-ca.key"), &key)?;
            std::fs::write(at("server-ca.crt"), cert)?;
        }
        if !at("service.key").exists() {
            write_private(&at("service.key"), &new_signing_key())?;
        }
        let read = |name: &str| {
            std::fs::read_to_string(at(name))
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", at(name).display())))
        };
        Ok(Pki {
            ca_certificate: read("server-ca.crt")?,
            service_account_key: read("service.key")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path()).unwrap();
        assert!(
            first
                .ca_certificate
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(first.service_account_key.contains("PRIVATE KEY"));
        let again = Pki::load_or_create(dir.path()).unwrap();
        assert_eq!(first.ca_certificate, again.ca_certificate, "reused");
        assert_eq!(first.service_account_key, again.service_account_key);
        let mode = |name: &str| {
            let path = dir.path().join("tls").join(name);
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(""), 0o700);
        assert_eq!((mode("server-ca.key"), mode("service.key")), (0o600, 0o600));
    }
}
