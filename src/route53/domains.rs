//! The Route 53 Domains adapter: the registrar's nameservers and the state of an operation,
//! under the same request budget as Route 53.

use super::{Budget, Route53Error};
use crate::plan::cutover::OperationState;
use aws_sdk_route53domains::Client;

type Result<T, E = Route53Error> = std::result::Result<T, E>;

/// A Route 53 Domains client (served only in us-east-1).
#[derive(Clone)]
pub struct Route53Domains {
    client: Client,
    budget: Budget,
}

impl std::fmt::Debug for Route53Domains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53Domains").finish()
    }
}

impl Route53Domains {
    pub(crate) fn new(base: &aws_config::SdkConfig, budget: Budget) -> Self {
        let cfg = base
            .clone()
            .into_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
        Self {
            client: Client::new(&cfg),
            budget,
        }
    }

    /// Sets the registrar's nameservers for `domain`; returns the operation id.
    pub async fn update_domain_nameservers(
        &self,
        domain: &str,
        nameservers: &[String],
    ) -> Result<String> {
        use aws_sdk_route53domains::types::Nameserver;
        let mut req = self
            .client
            .update_domain_nameservers()
            .domain_name(domain.trim_end_matches('.'));
        for n in nameservers {
            let ns = Nameserver::builder()
                .name(n.trim_end_matches('.'))
                .build()
                .map_err(|e| Route53Error::InvalidChange(e.to_string()))?;
            req = req.nameservers(ns);
        }
        let out = self
            .budget
            .call("UpdateDomainNameservers", || req.clone().send())
            .await?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    /// The state of an operation.
    pub async fn operation_state(&self, operation_id: &str) -> Result<OperationState> {
        use aws_sdk_route53domains::types::OperationStatus;
        let req = self
            .client
            .get_operation_detail()
            .operation_id(operation_id);
        let out = self
            .budget
            .call("GetOperationDetail", || req.clone().send())
            .await?;
        Ok(match out.status() {
            Some(OperationStatus::Successful) => OperationState::Successful,
            Some(OperationStatus::Error) | Some(OperationStatus::Failed) => {
                OperationState::Failed(out.message().unwrap_or("failed").to_string())
            }
            _ => OperationState::InProgress,
        })
    }

    /// The nameservers the registrar holds for `domain`.
    pub async fn registrar_nameservers(&self, domain: &str) -> Result<Vec<String>> {
        let req = self
            .client
            .get_domain_detail()
            .domain_name(domain.trim_end_matches('.'));
        let out = self
            .budget
            .call("GetDomainDetail", || req.clone().send())
            .await?;
        Ok(out
            .nameservers()
            .iter()
            .map(|n| n.name().to_string())
            .collect())
    }
}

#[async_trait::async_trait]
impl crate::ports::Registrar for Route53Domains {
    async fn update_nameservers(&self, domain: &str, nameservers: &[String]) -> Result<String> {
        self.update_domain_nameservers(domain, nameservers).await
    }

    async fn operation_state(&self, operation_id: &str) -> Result<OperationState> {
        Route53Domains::operation_state(self, operation_id).await
    }

    async fn nameservers(&self, domain: &str) -> Result<Vec<String>> {
        self.registrar_nameservers(domain).await
    }
}
