//! Mutual TLS for the cluster's gRPC and Arrow Flight connections: every process presents a
//! certificate signed by the cluster's authority and accepts only peers that do.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use ballista_core::extension::EndpointOverrideFn;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::cli::TlsArgs;

#[derive(Clone)]
pub struct Tls {
    authority: Certificate,
    identity: Identity,
}

impl Tls {
    /// The files named by `--tls-ca`, `--tls-cert` and `--tls-key`; `None` without them.
    pub fn load(args: &TlsArgs) -> anyhow::Result<Option<Tls>> {
        let (Some(ca), Some(cert), Some(key)) = (&args.tls_ca, &args.tls_cert, &args.tls_key)
        else {
            return Ok(None);
        };
        let authority = Certificate::from_pem(read_pem(ca, "CERTIFICATE")?);
        let identity = Identity::from_pem(
            read_pem(cert, "CERTIFICATE")?,
            read_pem(key, "PRIVATE KEY")?,
        );
        Ok(Some(Tls {
            authority,
            identity,
        }))
    }

    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.authority.clone())
    }

    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.authority.clone())
            .identity(self.identity.clone())
    }

    /// Ballista dials its scheduler at `http://…` whatever its TLS setting: the endpoint is rebuilt
    /// as `https://…` with this process's TLS, or tonic would skip the handshake. Ballista's own
    /// timeouts on the endpoint are set again here.
    pub fn endpoint_override(&self) -> EndpointOverrideFn {
        let client = self.client();
        Arc::new(move |endpoint: Endpoint| {
            let uri = endpoint.uri().to_string();
            let uri = match uri.strip_prefix("http://") {
                Some(rest) => format!("https://{rest}"),
                None => uri,
            };
            Ok(Endpoint::from_shared(uri)?
                .connect_timeout(std::time::Duration::from_secs(20))
                .tcp_keepalive(Some(std::time::Duration::from_secs(60)))
                .tls_config(client.clone())?)
        })
    }
}

fn read_pem(path: &Path, kind: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read TLS file {}", path.display()))?;
    if !text.contains("-----BEGIN ") || !text.contains(kind) {
        anyhow::bail!(
            "TLS file {} holds no PEM {kind} (a \"-----BEGIN … {kind}-----\" block)",
            path.display()
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> TlsArgs {
        TlsArgs {
            tls_ca: Some(dir.join("ca.pem")),
            tls_cert: Some(dir.join("cert.pem")),
            tls_key: Some(dir.join("key.pem")),
        }
    }

    #[test]
    fn no_flags_no_tls() {
        let none = TlsArgs {
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        };
        assert!(Tls::load(&none).unwrap().is_none());
    }

    #[test]
    fn a_missing_or_non_pem_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = Tls::load(&args(dir.path())).err().unwrap().to_string();
        assert!(error.contains("cannot read TLS file"), "{error}");
        assert!(error.contains("ca.pem"), "{error}");

        std::fs::write(
            dir.path().join("ca.pem"),
            "-----BEGIN CERTIFICATE-----\nAA\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("cert.pem"),
            "-----BEGIN CERTIFICATE-----\nAA\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
        let error = Tls::load(&args(dir.path())).err().unwrap().to_string();
        assert!(
            error.contains("key.pem holds no PEM PRIVATE KEY"),
            "{error}"
        );
    }
}
