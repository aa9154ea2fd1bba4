//! The process-wide request budget every Route 53 and Route 53 Domains request passes: one
//! rate limiter (the account's budget is shared), retries with exponential backoff and jitter
//! on throttling, `PriorRequestNotComplete`, 5xx and transport errors, and the counts of what
//! was asked.

use super::Route53Error;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Result<T, E = Route53Error> = std::result::Result<T, E>;

/// How failed requests are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_retries: 8,
        }
    }
}

/// Counts of requests by operation and outcome, for metrics and the benchmark.
#[derive(Default)]
pub struct CallStats {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// The same counts, exported to Prometheus when set.
    exported: std::sync::OnceLock<
        prometheus_client::metrics::family::Family<
            crate::telemetry::RequestLabels,
            prometheus_client::metrics::counter::Counter,
        >,
    >,
}

impl std::fmt::Debug for CallStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStats")
            .field("counts", &self.snapshot())
            .finish()
    }
}

impl CallStats {
    /// Exports the counts to Prometheus from now on (the first registry set stays).
    pub(crate) fn export_to(&self, metrics: &crate::telemetry::Metrics) {
        let _ = self.exported.set(metrics.route53_requests.clone());
    }

    fn record(&self, operation: &'static str, outcome: &'static str) {
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((operation, outcome)).or_default() += 1;
        if let Some(f) = self.exported.get() {
            f.get_or_create(&crate::telemetry::RequestLabels { operation, outcome })
                .inc();
        }
    }

    /// Requests made, by (operation, outcome); outcome is `ok`, `throttled`, `retried` or
    /// `error`.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests made for `operation`, whatever their outcome.
    pub fn calls(&self, operation: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((op, _), _)| *op == operation)
            .map(|(_, n)| n)
            .sum()
    }

    /// All requests made.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Requests that wrote to Route 53.
    pub fn writes(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((op, _), _)| WRITE_OPERATIONS.contains(op))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The operations that change something in Route 53.
pub const WRITE_OPERATIONS: &[&str] = &[
    "CreateHostedZone",
    "ChangeResourceRecordSets",
    "DeleteHostedZone",
    "UpdateDomainNameservers",
];

/// The process-wide request budget and retry policy that every Route 53 and Route 53 Domains
/// request passes, with the counts of what was asked.
#[derive(Clone)]
pub(crate) struct Budget {
    limiter: Arc<DefaultDirectRateLimiter>,
    pub(super) retry: RetryPolicy,
    pub(super) stats: Arc<CallStats>,
}

impl Budget {
    /// `rps` requests a second, `burst` at once at most (governor's own default would let a
    /// whole second's worth through at once, twice the rate in the window that follows).
    pub(crate) fn new(rps: u32, burst: u32, retry: RetryPolicy, stats: Arc<CallStats>) -> Self {
        let rps = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Budget {
            limiter: Arc::new(RateLimiter::direct(
                Quota::per_second(rps).allow_burst(burst),
            )),
            retry,
            stats,
        }
    }

    /// Runs one request under the rate limiter, retrying what is worth retrying.
    pub(crate) async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        mut request: impl FnMut() -> Fut,
    ) -> Result<T>
    where
        Fut: Future<
            Output = std::result::Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
        >,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_jitter();
        let attempt = || {
            let fut = request();
            async {
                self.limiter.until_ready().await;
                let r = fut.await;
                let outcome = match &r {
                    Ok(_) => "ok",
                    Err(e) => match classify(e) {
                        Retry::Throttled => "throttled",
                        Retry::Transient => "retried",
                        Retry::No => "error",
                    },
                };
                self.stats.record(operation, outcome);
                r
            }
        };
        attempt
            .retry(backoff)
            .when(|e| classify(e) != Retry::No)
            .notify(|e, after| {
                tracing::debug!(
                    operation,
                    code = e.code().unwrap_or("-"),
                    ?after,
                    "retrying Route 53 request"
                );
            })
            .await
            .map_err(|e| route53_error(operation, &e))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    Throttled,
    Transient,
    No,
}

/// Error codes that mean "slow down and try again".
const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

fn classify<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Retry {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Retry::Transient
        }
        SdkError::ServiceError(ctx) => {
            if ctx
                .err()
                .code()
                .is_some_and(|c| THROTTLE_CODES.contains(&c))
            {
                Retry::Throttled
            } else if ctx.raw().status().is_server_error() {
                Retry::Transient
            } else {
                Retry::No
            }
        }
        _ => Retry::No,
    }
}

fn route53_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    operation: &'static str,
    e: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Route53Error {
    let (code, message) = match e {
        SdkError::ServiceError(ctx) => (
            ctx.err().code().unwrap_or("Unknown").to_string(),
            ctx.err()
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| ctx.err().to_string()),
        ),
        SdkError::TimeoutError(_) => ("Timeout".into(), "the request timed out".into()),
        SdkError::DispatchFailure(d) => ("DispatchFailure".into(), format!("{d:?}")),
        other => ("Unknown".into(), other.to_string()),
    };
    if classify(e) == Retry::No {
        Route53Error::Api {
            operation,
            code,
            message,
        }
    } else {
        Route53Error::Unavailable {
            operation,
            code,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_what_the_flag_says() {
        let stats = Arc::new(CallStats::default());
        let spaced = Budget::new(5, 1, RetryPolicy::default(), stats.clone());
        assert!(spaced.limiter.check().is_ok());
        assert!(
            spaced.limiter.check().is_err(),
            "a second request waits 1/rps"
        );
        let bursty = Budget::new(5, 3, RetryPolicy::default(), stats);
        assert_eq!((0..5).filter(|_| bursty.limiter.check().is_ok()).count(), 3);
    }
}
