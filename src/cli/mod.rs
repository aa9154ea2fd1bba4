//! The one-shot commands beside the controller: `import` writes a manifest from the live zone,
//! `plan` shows what a reconcile would change. Both only read.

pub mod import;
pub mod plan;

use crate::dns::import::{import as sort_records, Imported};
use crate::dns::{resolve_server, transfer, zonefile, TsigKey};
use std::time::Duration;

/// Where the live zone is read from.
#[derive(Clone, Debug)]
pub enum LiveZone {
    /// A zone transfer from this server (`host[:port]` or `ip[:port]`).
    Axfr {
        server: String,
        tsig: Option<TsigKey>,
    },
    /// A BIND-format zone file's text, and where it came from (for messages).
    ZoneFile { text: String, path: String },
}

/// Reads and sorts the live zone; the error is a sentence naming the server or the line.
pub async fn read_live_zone(
    origin: &str,
    source: &LiveZone,
    timeout: Duration,
) -> Result<(Imported, String), String> {
    match source {
        LiveZone::ZoneFile { text, path } => {
            let (records, set_aside) =
                zonefile::parse(text, origin).map_err(|e| format!("{path} {e}"))?;
            let mut imported = sort_records(origin, &records);
            imported.skipped.extend(set_aside);
            imported.skipped.sort();
            Ok((imported, format!("zone file {path}")))
        }
        LiveZone::Axfr { server, tsig } => {
            let mut failures = Vec::new();
            for addr in resolve_server(server).await? {
                match transfer::axfr(addr, origin, tsig.as_ref(), timeout).await {
                    Ok(records) => {
                        return Ok((sort_records(origin, &records), format!("AXFR from {addr}")))
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            Err(failures.join("; "))
        }
    }
}
