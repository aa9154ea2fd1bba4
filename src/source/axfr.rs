//! Import by zone transfer (AXFR) from the old provider's servers, signed with TSIG when the
//! spec names a key.

use super::SourceError;
use crate::dns::{import::import, resolve_source_server, transfer, DnsError, Settings, TsigKey};
use crate::ports::SourceRead;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

/// Transfers `origin` from the first of `servers` that gives it.
pub async fn transfer(
    servers: &[String],
    origin: &str,
    key: Option<&TsigKey>,
    dns: &Settings,
) -> Result<SourceRead, SourceError> {
    if servers.is_empty() {
        return Err(SourceError::NoNameservers(
            "spec.source.axfr needs spec.source.nameservers: the servers to transfer the zone from"
                .into(),
        ));
    }
    let mut failures = Vec::new();
    // Whether every failure was one that passes by itself (a server down, a transfer cut
    // off): then the source is unreachable for now, and no person is needed yet.
    let mut all_transient = true;
    for server in servers {
        let addrs = match resolve_source_server(server, dns.source_networks).await {
            Ok(a) => a,
            Err(DnsError::NotAllowed(why)) => return Err(SourceError::NotAllowed(why)),
            Err(e) => {
                all_transient = false;
                failures.push(e.to_string());
                continue;
            }
        };
        for addr in addrs {
            match transfer::axfr(addr, origin, key, dns.timeout).await {
                Ok(records) => {
                    return Ok(SourceRead {
                        imported: import(origin, &records),
                        from: format!("AXFR from {addr}"),
                        nameservers: servers.to_vec(),
                    })
                }
                Err(e) => {
                    all_transient &= e.transient();
                    failures.push(e.to_string())
                }
            }
        }
    }
    let message = format!(
        "no source nameserver (spec.source.nameservers) transferred the zone: {}",
        failures.join("; ")
    );
    if all_transient && !failures.is_empty() {
        Err(SourceError::Unreachable(message))
    } else {
        Err(SourceError::TransferFailed(message))
    }
}

/// Reads a TSIG key from a Secret with the keys `name`, `algorithm` and `secret`.
pub async fn read_tsig(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<TsigKey, SourceError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|e| SourceError::Unreachable(format!("reading Secret {ns}/{name}: {e}")))?
        .ok_or_else(|| {
            SourceError::NotFound(format!(
                "spec.source.axfr.tsigSecretRef: Secret {ns}/{name} does not exist"
            ))
        })?;
    let field = |k: &str| -> Result<String, SourceError> {
        let from_data = secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string());
        let from_string = secret.string_data.as_ref().and_then(|d| d.get(k)).cloned();
        from_data.or(from_string).ok_or_else(|| {
            SourceError::NotFound(format!(
                "Secret {ns}/{name} has no key {k:?} (it needs name, algorithm and secret)"
            ))
        })
    };
    Ok(TsigKey {
        name: field("name")?,
        algorithm: field("algorithm")?,
        secret: field("secret")?,
    })
}
