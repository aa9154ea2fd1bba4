//! BIND-format zone files (RFC 1035 master files with BIND's extensions), read the way
//! `named-checkzone` reads them, into the record model.
//!
//! zoneshift reads zone files with its own small lexer rather than hickory's zone-file parser:
//! that parser refuses valid files (`@` in record data, RFC 3597 generic data, `$GENERATE`,
//! owner names with `_` or escapes, algorithm mnemonics), changes others without a word
//! (backslashes in NAPTR, decimal escapes in TXT) and names no line. Values go through the
//! same normalisation as values from Route 53 and from `spec.records`, and hickory still reads
//! RFC 3597 generic data in wire format. tests/zonefiles.rs compares every reading with
//! `named-checkzone`'s.

mod entries;
mod flavour;
mod generate;
mod lexer;
mod rdata;
mod sort;

pub use entries::Entry;
pub use flavour::Flavour;
pub use rdata::absolute_name;

use crate::zone::Imported;

/// A zone file that cannot be read: the line and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ZoneFileError {
    pub line: usize,
    pub message: String,
}

/// Reads a zone file for `origin` (also the `$ORIGIN` until the file sets one) into what
/// Route 53 will serve, the apex SOA and NS as observations, and every record that cannot be
/// carried, by name and type, with the reason. An error names the line and changes nothing.
pub fn read(text: &str, origin: &str) -> Result<Imported, ZoneFileError> {
    read_as(text, origin, Flavour::detect(text))
}

/// [`read`] for an export of the given provider, whose quirks are then undone.
pub fn read_as(text: &str, origin: &str, flavour: Flavour) -> Result<Imported, ZoneFileError> {
    let origin = crate::zone::normalize_target(origin).map_err(|e| ZoneFileError {
        line: 0,
        message: format!("origin {origin}: {e}"),
    })?;
    let entries = entries::entries(text, &origin, flavour)?;
    sort::sort(&origin, &entries, flavour)
}

/// The records of a zone file, one per record, before they are sorted into an import: for
/// tests and for the exports' readers.
pub fn records(text: &str, origin: &str) -> Result<Vec<Entry>, ZoneFileError> {
    let origin = crate::zone::normalize_target(origin).map_err(|e| ZoneFileError {
        line: 0,
        message: format!("origin {origin}: {e}"),
    })?;
    entries::entries(text, &origin, Flavour::detect(text))
}

#[cfg(test)]
mod tests;
