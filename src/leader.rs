//! Leader election on a `coordination.k8s.io` Lease, with kube's own API: only the holder
//! reconciles and writes status. Writes are optimistic (resourceVersion), so two replicas can
//! never both take the lease.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use std::time::Duration;

/// Where the lease lives and how it is held.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease holds without renewal; another replica takes over after it.
    pub duration: Duration,
    /// How often the holder renews (well below `duration`).
    pub renew_every: Duration,
}

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    tracing::info!(lease = %self.cfg.name, identity = %self.cfg.identity, "acquired the leader lease");
                    return;
                }
                Ok(false) => {
                    tracing::debug!(lease = %self.cfg.name, "another replica holds the leader lease")
                }
                Err(e) => tracing::warn!(error = %e, "could not read or take the leader lease"),
            }
            tokio::time::sleep(self.cfg.renew_every).await;
        }
    }

    /// Renews the lease until renewal fails; returns when leadership is lost.
    pub async fn hold(&self) {
        loop {
            tokio::time::sleep(self.cfg.renew_every).await;
            match self.try_acquire().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(lease = %self.cfg.name, "another replica took the leader lease");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not renew the leader lease");
                    return;
                }
            }
        }
    }

    /// Gives the lease up, so another replica takes over at once (on graceful shutdown).
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str()) {
                spec.holder_identity = None;
                spec.renew_time = None;
                match self
                    .api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => tracing::info!(lease = %self.cfg.name, "released the leader lease"),
                    Err(e) => tracing::warn!(error = %e, "could not release the leader lease"),
                }
            }
        }
    }

    /// Takes or renews the lease if it is free, expired or ours. `Ok(false)`: someone else
    /// holds it.
    async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let me = self.cfg.identity.clone();
        let secs = i32::try_from(self.cfg.duration.as_secs()).unwrap_or(i32::MAX);
        match self.api.get_opt(&self.cfg.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(me),
                        lease_duration_seconds: Some(secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(e) if is_conflict(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                let holder = spec.holder_identity.clone();
                let held_for = i64::from(spec.lease_duration_seconds.unwrap_or(secs));
                let expired = spec.renew_time.as_ref().is_none_or(|t| {
                    t.0.checked_add(jiff::SignedDuration::from_secs(held_for))
                        .is_ok_and(|until| until < now)
                });
                let ours = holder.as_deref() == Some(me.as_str());
                if !(ours || holder.is_none() || expired) {
                    return Ok(false);
                }
                if !ours {
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.holder_identity = Some(me);
                spec.lease_duration_seconds = Some(secs);
                spec.renew_time = Some(MicroTime(now));
                // replace carries the resourceVersion read above: a concurrent taker gets 409.
                match self
                    .api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if is_conflict(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }
}
