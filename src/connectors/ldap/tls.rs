//! TLS for LDAP: LDAPS or StartTLS, verifying the server against a CA from a Secret (or the
//! system's roots), verification on unless `insecureSkipVerify`.

use std::sync::Arc;

use ldap3::LdapConnSettings;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::api::TlsSettings;
use crate::engine::Snapshot;
use crate::connectors::TargetError;

#[derive(Clone, Default)]
pub struct TlsOptions {
    ca_pem: Option<String>,
    start_tls: bool,
    insecure: bool,
}

impl TlsOptions {
    pub fn from_spec(
        tls: Option<&TlsSettings>,
        snapshot: &Snapshot,
        ns: &str,
    ) -> Result<Self, TargetError> {
        let Some(tls) = tls else {
            return Ok(Self::default());
        };
        let ca_pem = match &tls.ca_secret_ref {
            None => None,
            Some(r) => Some(
                crate::connectors::secret_value_of(snapshot, ns, &r.secret_name, &r.key, "CA")?
                    .to_string(),
            ),
        };
        Ok(Self {
            ca_pem,
            start_tls: tls.start_tls,
            insecure: tls.insecure_skip_verify,
        })
    }

    pub fn apply(&self, mut settings: LdapConnSettings) -> Result<LdapConnSettings, TargetError> {
        settings = settings.set_starttls(self.start_tls);
        if self.insecure {
            return Ok(settings.set_no_tls_verify(true));
        }
        if let Some(pem) = &self.ca_pem {
            let mut roots = RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        TargetError::config(format!("the CA certificate is not PEM: {e}"))
                    })?;
            if certs.is_empty() {
                return Err(TargetError::config("the CA Secret holds no certificate"));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    TargetError::config(format!("the CA certificate cannot be used: {e}"))
                })?;
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| TargetError::config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            settings = settings.set_config(Arc::new(config));
        }
        Ok(settings)
    }
}
