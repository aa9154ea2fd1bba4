//! Import from a zone text: the text from a ConfigMap (the operator) or a path (the CLI), a
//! BIND-format zone file (a provider's export among them) or an octoDNS zone YAML, told apart
//! by their content, parsed and sorted into what Route 53 will serve.

use super::SourceError;
use crate::api::ZoneFileSource;
use crate::dns::zonefile::{self, Flavour};
use crate::ports::SourceRead;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// What a zone text is: a zone file (written by BIND or exported by a provider) or an
/// octoDNS zone YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    ZoneFile(Flavour),
    Octodns,
}

impl Format {
    /// The format named by `--from`: `octodns`, `bind`, or a provider whose export it is.
    pub fn parse(s: &str) -> Option<Format> {
        if s.eq_ignore_ascii_case("octodns") {
            Some(Format::Octodns)
        } else {
            Flavour::parse(s).map(Format::ZoneFile)
        }
    }

    /// Tells the format from the text itself.
    pub fn detect(text: &str) -> Format {
        if super::octodns::looks_like(text) {
            Format::Octodns
        } else {
            Format::ZoneFile(Flavour::detect(text))
        }
    }

    fn describe(self) -> String {
        match self {
            Format::Octodns => "octoDNS zone YAML".into(),
            Format::ZoneFile(Flavour::Bind) => "zone file".into(),
            Format::ZoneFile(f) => format!("zone file ({} export)", f.name()),
        }
    }
}

/// Parses a zone text, its format told from its content; `from` names it in messages and in
/// the status.
pub fn read(text: &str, origin: &str, from: &str) -> Result<SourceRead, SourceError> {
    read_as(text, origin, from, None)
}

/// [`read`], with the format given where it cannot be told from the content.
pub fn read_as(
    text: &str,
    origin: &str,
    from: &str,
    format: Option<Format>,
) -> Result<SourceRead, SourceError> {
    let format = format.unwrap_or_else(|| Format::detect(text));
    let imported = match format {
        Format::ZoneFile(flavour) => zonefile::read_as(text, origin, flavour)
            .map_err(|e| SourceError::InvalidZoneFile(format!("{from} {e}")))?,
        Format::Octodns => super::octodns::read(text, origin)
            .map_err(|e| SourceError::InvalidZoneFile(format!("{from} (octoDNS YAML): {e}")))?,
    };
    Ok(SourceRead {
        imported,
        from: format!("{} {from}", format.describe()),
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
    read.from = format!("{} {from}", Format::detect(text).describe());
    Ok(read)
}
