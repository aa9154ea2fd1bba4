//! The one-shot commands beside the controller: `import` writes a manifest from the live zone,
//! `plan` shows what a reconcile would change. Both only read.

pub mod import;
pub mod plan;
pub mod run;

use crate::dns::TsigKey;
use crate::zone::Imported;
use std::time::Duration;

/// Where the live zone is read from.
#[derive(Clone, Debug)]
pub enum LiveZone {
    /// A zone transfer from this server (`host[:port]` or `ip[:port]`).
    Axfr {
        server: String,
        tsig: Option<TsigKey>,
    },
    /// A zone file's text, where it came from (for messages), and its format where the
    /// command line gives it.
    ZoneFile {
        text: String,
        path: String,
        format: Option<crate::source::zonefile::Format>,
    },
    /// Cloudflare's API with a token (from `CLOUDFLARE_API_TOKEN`).
    Cloudflare {
        api_url: String,
        token: String,
        zone: crate::source::cloudflare::ZoneRef,
    },
}

/// Reads and sorts the live zone; the error is a sentence naming the server or the line.
pub async fn read_live_zone(
    origin: &str,
    source: &LiveZone,
    timeout: Duration,
) -> Result<(Imported, String), String> {
    let read = match source {
        LiveZone::ZoneFile { text, path, format } => {
            crate::source::zonefile::read_as(text, origin, path, *format)
        }
        LiveZone::Axfr { server, tsig } => {
            let servers = [server.clone()];
            let dns = crate::dns::Settings {
                timeout,
                ..Default::default()
            };
            crate::source::axfr::transfer(&servers, origin, tsig.as_ref(), &dns).await
        }
        LiveZone::Cloudflare {
            api_url,
            token,
            zone,
        } => {
            use crate::source::cloudflare::{self, CloudflareApi, Lister};
            cloudflare::check_api_url(api_url).map_err(|e| format!("--cloudflare-api-url: {e}"))?;
            let from = "CLOUDFLARE_API_TOKEN";
            cloudflare::check_token(token, from).map_err(|e| e.to_string())?;
            let mut api = CloudflareApi::new(api_url, cloudflare::DEFAULT_REQUESTS_PER_SECOND);
            api.timeout = timeout;
            let lister = Lister {
                api: &api,
                token,
                token_from: from,
            };
            cloudflare::import(&lister, zone, origin).await
        }
    };
    let read = read.map_err(|e| e.to_string())?;
    Ok((read.imported, read.from))
}

/// Reads a TSIG key file as `tsig-keygen` writes it.
pub fn read_tsig(path: &std::path::Path) -> Result<crate::dns::TsigKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    crate::dns::TsigKey::from_bind_file(&text).map_err(|e| format!("{}: {e}", path.display()))
}
