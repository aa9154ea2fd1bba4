//! Import from a BIND-format zone file: the text from a ConfigMap (the operator) or a path
//! (the CLI), parsed and sorted into what Route 53 will serve.

use super::SourceError;
use crate::api::ZoneFileSource;
use crate::dns::{import::import, zonefile};
use crate::ports::SourceRead;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// Parses a zone file's text; `from` names it in messages and in the status.
pub fn read(text: &str, origin: &str, from: &str) -> Result<SourceRead, SourceError> {
    let (records, set_aside) = zonefile::parse(text, origin)
        .map_err(|e| SourceError::InvalidZoneFile(format!("{from} {e}")))?;
    let mut imported = import(origin, &records);
    imported.skipped.extend(set_aside);
    imported.skipped.sort();
    Ok(SourceRead {
        imported,
        from: format!("zone file {from}"),
        nameservers: Vec::new(),
    })
}

/// Reads `spec.source.zoneFile` from its ConfigMap.
pub async fn from_config_map(
    client: &kube::Client,
    ns: &str,
    origin: &str,
    spec: &ZoneFileSource,
) -> Result<SourceRead, SourceError> {
    let r = &spec.config_map_key_ref;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = cms
        .get_opt(&r.name)
        .await
        .map_err(|e| SourceError::Unreachable(format!("reading ConfigMap {ns}/{}: {e}", r.name)))?
        .ok_or_else(|| {
            SourceError::NotFound(format!(
                "spec.source.zoneFile: ConfigMap {ns}/{} does not exist",
                r.name
            ))
        })?;
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .ok_or_else(|| {
            SourceError::NotFound(format!(
                "spec.source.zoneFile: ConfigMap {ns}/{} has no key {:?}",
                r.name, r.key
            ))
        })?;
    let from = format!("in ConfigMap {ns}/{} key {}", r.name, r.key);
    let mut read = read(
        text,
        origin,
        &format!(
            "spec.source.zoneFile (ConfigMap {ns}/{}, key {})",
            r.name, r.key
        ),
    )?;
    if read.imported.sets.is_empty() {
        return Err(SourceError::InvalidZoneFile(format!(
            "spec.source.zoneFile: the zone file {from} holds no records Route 53 can serve besides the apex SOA and NS: zoneshift does not read an empty zone as \"delete everything\"; nothing was changed"
        )));
    }
    read.from = format!("zone file {from}");
    Ok(read)
}
