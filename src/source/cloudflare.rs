//! Import from Cloudflare's v4 API: the zone's records listed page by page with an API token
//! scoped to Zone DNS Read, within Cloudflare's request budget, and what Cloudflare serves
//! differently from what it stores (proxied records, flattened CNAMEs, automatic TTLs) carried
//! honestly: the origin's value is imported and the difference listed for a person.

mod records;

pub use records::convert;

use super::SourceError;
use crate::api::CloudflareSource;
use crate::ports::SourceRead;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Cloudflare's API, as `--cloudflare-api-url` defaults to.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";
/// Cloudflare's documented budget is 1200 requests per five minutes per token: 4 per second.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 4;
/// Records per page (Cloudflare's default is 100; fewer pages spend less of the budget).
const PER_PAGE: u32 = 1000;
/// Retries of a request that failed on the network or with a 5xx answer.
const ERROR_RETRIES: u32 = 3;
/// The largest response body read (a page of records is a few hundred kilobytes).
const MAX_BODY: usize = 64 << 20;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// How zoneshift talks to Cloudflare: the API's base URL (an operator flag, never a resource
/// field), one HTTP client and one request budget for the whole process.
#[derive(Clone)]
pub struct CloudflareApi {
    base: String,
    http: Result<HttpClient<Https, Empty<Bytes>>, String>,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// Rate-limited answers (429) waited out in a row before an import gives up, and the
    /// longest wait honoured.
    pub retries: u32,
    pub max_wait: Duration,
    pub timeout: Duration,
}

impl std::fmt::Debug for CloudflareApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CloudflareApi({})", self.base)
    }
}

impl Default for CloudflareApi {
    fn default() -> Self {
        Self::new(DEFAULT_API_URL, DEFAULT_REQUESTS_PER_SECOND)
    }
}

impl CloudflareApi {
    /// The API at `base` (`https://…`, or `http://` for a local stand-in), at most `rps`
    /// requests per second.
    pub fn new(base: &str, rps: u32) -> Self {
        let rps = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: http_client(),
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(rps))),
            retries: 8,
            max_wait: Duration::from_secs(120),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }
}

/// The API's base URL must be `https://`, or `http://` on a loopback address (a local
/// stand-in): a token never crosses a network in clear text.
pub fn check_api_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if loopback => Ok(()),
        Some("http") => Err(format!(
            "{url} is plain http on a non-loopback host: use https"
        )),
        _ => Err(format!("{url} is not an http(s) URL")),
    }
}

/// The HTTP client over the rustls stack already built for kube and the AWS SDK, with the
/// system's roots; without them, plain `http://` still works and `https://` says why not.
fn http_client() -> Result<HttpClient<Https, Empty<Bytes>>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(b) => b,
        Err(_) => {
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
        }
    };
    let https = builder.https_or_http().enable_http1().build();
    Ok(HttpClient::builder(TokioExecutor::new()).build(https))
}

/// Which zone, as the spec or the command line names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneRef {
    Name(String),
    Id(String),
}

/// Cloudflare's response envelope.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
    result_info: Option<ResultInfo>,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Clone, Copy, Debug, Default)]
struct ResultInfo {
    total_pages: Option<u32>,
    total_count: Option<u64>,
}

/// A zone as Cloudflare lists it.
#[derive(Deserialize, Clone, Debug)]
pub struct CfZone {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub name_servers: Vec<String>,
}

/// A DNS record as Cloudflare lists it.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct CfRecord {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub ttl: u32,
    #[serde(default)]
    pub proxied: bool,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
}

/// Cloudflare error codes that mean the token is missing, invalid, expired or revoked, or
/// lacks a permission.
const AUTH_CODES: &[i64] = &[1000, 6003, 6111, 9103, 9106, 9109, 10000, 10001];

/// Lists a zone through the API with one token; `token_from` names where the token came from
/// (`Secret dns/cf key token`) in every message about it.
pub struct Lister<'a> {
    pub api: &'a CloudflareApi,
    pub token: &'a str,
    pub token_from: &'a str,
}

impl Lister<'_> {
    /// One GET within the budget: network errors and 5xx answers are retried with backoff
    /// (`ERROR_RETRIES` times), a 429 waits its `Retry-After` (`retries` times).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, ResultInfo), SourceError> {
        let url = format!("{}{path}", self.api.base);
        let (mut errors, mut throttled) = (0u32, 0u32);
        loop {
            self.api.limiter.until_ready().await;
            let backoff = Duration::from_millis(500u64 << errors.min(6)).min(self.api.max_wait);
            match self.send(&url).await? {
                Err(e) if errors < ERROR_RETRIES => {
                    errors += 1;
                    tracing::info!(%url, error = %e, errors, "Cloudflare API: retrying");
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => {
                    return Err(SourceError::Unreachable(format!(
                        "Cloudflare API {url}: {e} (tried {} times)",
                        errors + 1
                    )))
                }
                Ok((status, retry_after, _)) if status.as_u16() == 429 => {
                    if throttled >= self.api.retries {
                        return Err(SourceError::Unreachable(format!(
                            "Cloudflare API is rate-limiting zoneshift (HTTP 429, {} times in a row); the next import tries again",
                            throttled + 1
                        )));
                    }
                    throttled += 1;
                    let wait = Duration::from_secs(retry_after.unwrap_or(1)).min(self.api.max_wait);
                    tracing::info!(%url, wait_s = wait.as_secs(), throttled, "Cloudflare API: rate-limited, waiting Retry-After");
                    tokio::time::sleep(wait).await;
                }
                Ok((status, _, body)) => return self.read(status, &body),
            }
        }
    }

    /// Sends one GET; a 5xx answer comes back as an error to retry. The outer error is a
    /// request that cannot be made at all.
    async fn send(
        &self,
        url: &str,
    ) -> Result<Result<(hyper::StatusCode, Option<u64>, Bytes), String>, SourceError> {
        let http = self.api.http.as_ref().map_err(|e| {
            SourceError::Unreachable(format!("Cloudflare API client cannot start: {e}"))
        })?;
        let req = hyper::Request::get(url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("zoneshift/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| {
                SourceError::Unreachable(format!("request {url} (--cloudflare-api-url): {e}"))
            })?;
        let sent = tokio::time::timeout(self.api.timeout, async {
            let resp = http.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, retry_after, body))
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.api.timeout)));
        Ok(match sent {
            Ok((status, _, _)) if status.is_server_error() => {
                Err(format!("HTTP {}", status.as_u16()))
            }
            other => other,
        })
    }
    /// An answer: the result, or the error it means.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        status: hyper::StatusCode,
        body: &[u8],
    ) -> Result<(T, ResultInfo), SourceError> {
        let env: Result<Envelope<T>, _> = serde_json::from_slice(body);
        let errors = match &env {
            Ok(e) => e
                .errors
                .iter()
                .map(|m| format!("{} ({})", m.message, m.code))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => format!("unreadable answer: {e}"),
        };
        let denied = status.as_u16() == 401
            || status.as_u16() == 403
            || env
                .as_ref()
                .is_ok_and(|e| e.errors.iter().any(|m| AUTH_CODES.contains(&m.code)));
        if denied {
            return Err(SourceError::AccessDenied(format!(
                "Cloudflare refused the API token in {} (HTTP {}: {errors}): it is invalid, expired or revoked, or lacks Zone DNS Read on this zone; nothing was changed",
                self.token_from,
                status.as_u16()
            )));
        }
        match env {
            Ok(Envelope {
                success: true,
                result: Some(r),
                result_info,
                ..
            }) if status.is_success() => Ok((r, result_info.unwrap_or_default())),
            _ if status.as_u16() == 404 => Err(SourceError::NotFound(format!(
                "spec.source.cloudflare: Cloudflare has no such zone (HTTP 404: {errors}); check zone or zoneId"
            ))),
            _ => Err(SourceError::TransferFailed(format!(
                "Cloudflare API answered HTTP {}: {errors}",
                status.as_u16()
            ))),
        }
    }

    /// The zone, by name or id; its name must be `origin`.
    pub async fn zone(&self, zone: &ZoneRef, origin: &str) -> Result<CfZone, SourceError> {
        let domain = origin.trim_end_matches('.');
        let found = match zone {
            ZoneRef::Id(id) => {
                if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(SourceError::NotFound(format!(
                        "spec.source.cloudflare.zoneId {id:?} is not a Cloudflare zone id"
                    )));
                }
                let (z, _): (CfZone, _) = self.get(&format!("/zones/{id}")).await?;
                z
            }
            ZoneRef::Name(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name != domain {
                    return Err(SourceError::NotFound(format!(
                        "spec.source.cloudflare.zone {name} is not the domain {domain}"
                    )));
                }
                let (zones, _): (Vec<CfZone>, _) =
                    self.get(&format!("/zones?name={name}&per_page=50")).await?;
                zones
                    .into_iter()
                    .find(|z| z.name.eq_ignore_ascii_case(&name))
                    .ok_or_else(|| {
                        SourceError::NotFound(format!(
                            "Cloudflare shows no zone {name} to the API token in {} (the zone is elsewhere, or the token is not scoped to it)",
                            self.token_from
                        ))
                    })?
            }
        };
        if !found
            .name
            .trim_end_matches('.')
            .eq_ignore_ascii_case(domain)
        {
            return Err(SourceError::NotFound(format!(
                "spec.source.cloudflare.zoneId {} is the zone {}, not {domain}",
                found.id, found.name
            )));
        }
        Ok(found)
    }

    /// Every record of the zone, page by page. A listing during which the zone's record
    /// count changed is read again, so a change at Cloudflare never shifts a record out of it.
    pub async fn records(&self, zone_id: &str) -> Result<Vec<CfRecord>, SourceError> {
        let mut last = String::new();
        for _ in 0..3 {
            let mut out: Vec<CfRecord> = Vec::new();
            let mut seen = BTreeSet::new();
            let mut total: Option<u64> = None;
            let mut stable = true;
            let mut page = 1u32;
            loop {
                let path = format!("/zones/{zone_id}/dns_records?page={page}&per_page={PER_PAGE}");
                let (records, info): (Vec<CfRecord>, _) = self.get(&path).await?;
                if total.is_some() && info.total_count.is_some() && total != info.total_count {
                    stable = false;
                    last = format!(
                        "the record count changed from {} to {} during the listing",
                        total.unwrap_or_default(),
                        info.total_count.unwrap_or_default()
                    );
                    break;
                }
                total = total.or(info.total_count);
                let n = records.len();
                for r in records {
                    if r.id.is_empty() || seen.insert(r.id.clone()) {
                        out.push(r);
                    }
                }
                let more = match info.total_pages {
                    Some(pages) => page < pages,
                    None => n as u32 >= PER_PAGE,
                };
                if !more || n == 0 {
                    break;
                }
                page += 1;
            }
            if stable {
                return Ok(out);
            }
        }
        Err(SourceError::Unreachable(format!(
            "the Cloudflare zone kept changing while it was listed ({last}); the next import tries again"
        )))
    }
}

/// The first records not carried, for a message: ` (not carried: www A: ...)`.
fn not_carried(skipped: &[crate::zone::Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let first: Vec<String> = skipped.iter().take(5).map(ToString::to_string).collect();
    let more = skipped.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(" (not carried: {}{more})", first.join("; "))
}

/// Imports the zone: lists it, sorts it, and refuses an empty one.
pub async fn import(
    lister: &Lister<'_>,
    zone: &ZoneRef,
    origin: &str,
) -> Result<SourceRead, SourceError> {
    let started = std::time::Instant::now();
    let z = lister.zone(zone, origin).await?;
    let records = lister.records(&z.id).await?;
    let imported = convert(origin, &z.name_servers, &records);
    if records.is_empty() || imported.sets.is_empty() {
        return Err(SourceError::TransferFailed(format!(
            "the Cloudflare zone {} (id {}) lists {} records and none Route 53 can serve{}: zoneshift does not read an empty zone as \"delete everything\"; nothing was changed",
            z.name,
            z.id,
            records.len(),
            not_carried(&imported.skipped)
        )));
    }
    tracing::info!(zone = %z.name, records = records.len(), sets = imported.sets.len(), elapsed_ms = started.elapsed().as_millis() as u64, "imported from Cloudflare");
    Ok(SourceRead {
        imported,
        from: format!(
            "Cloudflare API zone {} (id {}), {} records",
            z.name,
            z.id,
            records.len()
        ),
        nameservers: Vec::new(),
    })
}

/// Reads `spec.source.cloudflare` and imports the zone.
pub async fn from_spec(
    client: &kube::Client,
    api: &CloudflareApi,
    ns: &str,
    origin: &str,
    spec: &CloudflareSource,
) -> Result<SourceRead, SourceError> {
    let zone = match (&spec.zone, &spec.zone_id) {
        (Some(name), None) => ZoneRef::Name(name.clone()),
        (None, Some(id)) => ZoneRef::Id(id.clone()),
        _ => {
            return Err(SourceError::NotFound(
                "spec.source.cloudflare: give exactly one of zone and zoneId".into(),
            ))
        }
    };
    let r = &spec.api_token_secret_ref;
    let token = super::secret_value(
        client,
        ns,
        &r.name,
        &r.key,
        "spec.source.cloudflare.apiTokenSecretRef",
    )
    .await?;
    let token_from = format!("Secret {ns}/{} key {}", r.name, r.key);
    check_token(&token, &token_from)?;
    let lister = Lister {
        api,
        token: &token,
        token_from: &token_from,
    };
    import(&lister, &zone, origin).await
}

/// A token that cannot go into an HTTP header is refused before any request.
pub fn check_token(token: &str, from: &str) -> Result<(), SourceError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SourceError::AccessDenied(format!(
            "the API token in {from} is empty or holds spaces or non-ASCII characters; nothing was changed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_api_url_is_https_or_loopback_http() {
        assert!(check_api_url(DEFAULT_API_URL).is_ok());
        assert!(check_api_url("http://127.0.0.1:4580/client/v4").is_ok());
        assert!(check_api_url("http://[::1]:4580").is_ok());
        assert!(check_api_url("http://api.example.net/client/v4").is_err());
        assert!(check_api_url("ftp://127.0.0.1/").is_err());
    }

    #[test]
    fn cloudflare_errors_map_to_source_errors() {
        let api = CloudflareApi::new("http://127.0.0.1:1", 1);
        let l = Lister {
            api: &api,
            token: "t",
            token_from: "Secret dns/cf key token",
        };
        let answer = |code: u16, body: &str| {
            l.read::<Vec<CfZone>>(hyper::StatusCode::from_u16(code).unwrap(), body.as_bytes())
        };
        let err = |code: i64, msg: &str| {
            format!(
                r#"{{"success":false,"errors":[{{"code":{code},"message":"{msg}"}}],"messages":[],"result":null}}"#
            )
        };
        let denied = answer(400, &err(1000, "Invalid API Token")).unwrap_err();
        assert!(matches!(denied, SourceError::AccessDenied(_)), "{denied:?}");
        assert!(denied.to_string().contains("Secret dns/cf key token"));
        assert!(matches!(
            answer(403, &err(10000, "Authentication error")),
            Err(SourceError::AccessDenied(_))
        ));
        assert!(matches!(
            answer(404, &err(7003, "Could not route")),
            Err(SourceError::NotFound(_))
        ));
        assert!(matches!(
            answer(400, &err(1004, "bad request")),
            Err(SourceError::TransferFailed(_))
        ));
        assert!(matches!(
            answer(200, "<html>not json</html>"),
            Err(SourceError::TransferFailed(_))
        ));
        let ok = answer(
            200,
            r#"{"success":true,"errors":[],"messages":[],"result":[{"id":"a","name":"example.com"}],"result_info":{"page":1,"total_pages":1,"total_count":1}}"#,
        )
        .unwrap();
        assert_eq!(ok.0[0].name, "example.com");
        assert_eq!(ok.1.total_count, Some(1));
    }

    #[test]
    fn a_bad_token_is_refused_before_any_request() {
        assert!(check_token("abc def", "X").is_err());
        assert!(check_token("", "X").is_err());
        assert!(check_token("Abc-123_x", "X").is_ok());
    }
}
