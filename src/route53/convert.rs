//! Translation between the record model and the Route 53 SDK's types.

use super::batch::Cost;
use crate::zone::{
    normalize_target, normalize_value, Alias, Failover, GeoLocation, RecordKey, RecordSet,
    RecordType, Routing,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, GeoLocation as SdkGeo, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, ResourceRecordSetRegion, RrType,
};

/// The SDK's name for a record type.
pub fn sdk_type(t: RecordType) -> RrType {
    RrType::from(t.as_str())
}

/// Reads a record set as Route 53 returns it. Values Route 53 holds that zoneshift cannot
/// parse (written by hand, say) are kept as they are, so they compare unequal and get fixed.
pub fn from_sdk(rr: &ResourceRecordSet) -> Option<RecordSet> {
    let rtype = RecordType::parse(rr.r#type().as_str())?;
    let name = normalize_target(rr.name()).unwrap_or_else(|_| rr.name().to_ascii_lowercase());
    let mut values: Vec<String> = rr
        .resource_records()
        .iter()
        .map(|r| normalize_value(rtype, r.value()).unwrap_or_else(|_| r.value().trim().to_string()))
        .collect();
    values.sort();
    values.dedup();
    let alias = rr.alias_target().map(|a| Alias {
        dns_name: normalize_target(a.dns_name())
            .unwrap_or_else(|_| a.dns_name().to_ascii_lowercase()),
        hosted_zone_id: a
            .hosted_zone_id()
            .trim_start_matches("/hostedzone/")
            .to_string(),
        evaluate_target_health: a.evaluate_target_health(),
    });
    let routing = Routing {
        weight: rr.weight().and_then(|w| u8::try_from(w).ok()),
        region: rr.region().map(|r| r.as_str().to_string()),
        failover: rr.failover().map(|f| match f {
            ResourceRecordSetFailover::Secondary => Failover::Secondary,
            _ => Failover::Primary,
        }),
        geo_location: rr.geo_location().map(|g| GeoLocation {
            continent_code: g.continent_code().map(str::to_string),
            country_code: g.country_code().map(str::to_string),
            subdivision_code: g.subdivision_code().map(str::to_string),
        }),
        multi_value_answer: rr.multi_value_answer(),
        health_check_id: rr.health_check_id().map(str::to_string),
    };
    Some(RecordSet {
        key: RecordKey::new(name, rtype, rr.set_identifier().map(str::to_string)),
        ttl: if alias.is_some() {
            None
        } else {
            rr.ttl().and_then(|t| u32::try_from(t).ok())
        },
        values,
        alias,
        routing,
    })
}

/// Writes a record set in the SDK's form.
pub fn to_sdk(set: &RecordSet) -> Result<ResourceRecordSet, String> {
    let mut b = ResourceRecordSet::builder()
        .name(&set.key.name)
        .r#type(sdk_type(set.key.rtype))
        .set_set_identifier(set.key.set_identifier.clone())
        .set_ttl(set.ttl.map(i64::from));
    for v in &set.values {
        b = b.resource_records(
            ResourceRecord::builder()
                .value(v)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(a) = &set.alias {
        b = b.alias_target(
            AliasTarget::builder()
                .dns_name(&a.dns_name)
                .hosted_zone_id(&a.hosted_zone_id)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let r = &set.routing;
    b = b
        .set_weight(r.weight.map(i64::from))
        .set_region(r.region.as_deref().map(ResourceRecordSetRegion::from))
        .set_failover(
            r.failover
                .map(|f| ResourceRecordSetFailover::from(f.as_str())),
        )
        .set_multi_value_answer(r.multi_value_answer)
        .set_health_check_id(r.health_check_id.clone());
    if let Some(g) = &r.geo_location {
        b = b.geo_location(
            SdkGeo::builder()
                .set_continent_code(g.continent_code.clone())
                .set_country_code(g.country_code.clone())
                .set_subdivision_code(g.subdivision_code.clone())
                .build(),
        );
    }
    b.build().map_err(|e| e.to_string())
}

/// A change of `action` on `rrset`.
pub fn change(action: ChangeAction, rrset: ResourceRecordSet) -> Result<Change, String> {
    Change::builder()
        .action(action)
        .resource_record_set(rrset)
        .build()
        .map_err(|e| e.to_string())
}

/// What a change costs against a batch's limits: every `ResourceRecord` value (an alias target
/// counts as one), and UPSERT twice.
pub fn change_cost(c: &Change) -> Cost {
    let Some(rr) = c.resource_record_set() else {
        return Cost::default();
    };
    let (values, chars) = match rr.alias_target() {
        Some(a) => (1, a.dns_name().len()),
        None => (
            rr.resource_records().len(),
            rr.resource_records().iter().map(|r| r.value().len()).sum(),
        ),
    };
    let factor = if *c.action() == ChangeAction::Upsert {
        2
    } else {
        1
    };
    Cost {
        values: values * factor,
        chars: chars * factor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_the_sdk_type() {
        let set = RecordSet {
            key: RecordKey::new("*.example.com.", RecordType::Txt, Some("eu".into())),
            ttl: Some(60),
            values: vec!["\"a\" \"b\"".into()],
            alias: None,
            routing: Routing {
                region: Some("eu-west-1".into()),
                ..Default::default()
            },
        };
        let mut sdk = to_sdk(&set).unwrap();
        // Route 53 returns the wildcard escaped.
        sdk.name = "\\052.example.com.".into();
        assert_eq!(from_sdk(&sdk).unwrap(), set);
    }

    #[test]
    fn upsert_counts_twice() {
        let set = RecordSet {
            key: RecordKey::new("a.example.com.", RecordType::A, None),
            ttl: Some(60),
            values: vec!["192.0.2.1".into(), "192.0.2.2".into()],
            alias: None,
            routing: Routing::default(),
        };
        let rr = to_sdk(&set).unwrap();
        assert_eq!(
            change_cost(&change(ChangeAction::Create, rr.clone()).unwrap()),
            Cost {
                values: 2,
                chars: 18
            }
        );
        assert_eq!(
            change_cost(&change(ChangeAction::Upsert, rr).unwrap()),
            Cost {
                values: 4,
                chars: 36
            }
        );
    }
}
