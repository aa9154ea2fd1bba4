//! Whose export a zone file is, and that export's quirks: Cloudflare's (automatic TTL 1, the
//! proxied flag in a `cf_tags=` comment), cli53's (Route 53 aliases as `AWS ALIAS`, routing
//! policies in `; AWS` comments), and names without a trailing dot in files without `$ORIGIN`
//! (Cloudflare, Google Cloud DNS, Azure DNS, GoDaddy). Plain BIND files are read as BIND does.

/// The program or provider that wrote a zone file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Bind,
    Cloudflare,
    GoogleCloudDns,
    AzureDns,
    GoDaddy,
    Cli53,
}

impl Flavour {
    pub const NAMES: &'static [(&'static str, Flavour)] = &[
        ("bind", Flavour::Bind),
        ("cloudflare", Flavour::Cloudflare),
        ("google", Flavour::GoogleCloudDns),
        ("azure", Flavour::AzureDns),
        ("godaddy", Flavour::GoDaddy),
        ("cli53", Flavour::Cli53),
    ];

    /// The flavour named by `--from`.
    pub fn parse(s: &str) -> Option<Flavour> {
        Flavour::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        Flavour::NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("bind", |(n, _)| n)
    }

    /// Recognises an export by what each provider writes in it.
    pub fn detect(text: &str) -> Flavour {
        let has = |s: &str| text.contains(s);
        if has("cf_tags=")
            || (has(";; Domain:") && has(";; Exported:"))
            || has("dns.cloudflare.com.")
        {
            Flavour::Cloudflare
        } else if has("AWS ALIAS") || has("; AWS routing=") || has("awsdns-hostmaster.amazon.com.")
        {
            Flavour::Cli53
        } else if has("cloud-dns-hostmaster.google.com.") {
            Flavour::GoogleCloudDns
        } else if has("Exported zone file from Azure DNS")
            || has("azuredns-hostmaster.microsoft.com")
        {
            Flavour::AzureDns
        } else if has("; Exported (y-m-d hh:mm:ss)")
            || has("dns.jomax.net.")
            || has("domaincontrol.com.")
        {
            Flavour::GoDaddy
        } else {
            Flavour::Bind
        }
    }

    /// TTL 1 is Cloudflare's "automatic", which it serves as 300 s.
    pub fn ttl(self, ttl: u32) -> u32 {
        if self == Flavour::Cloudflare && ttl <= 1 {
            300
        } else {
            ttl
        }
    }
}

/// A name of an export without `$ORIGIN` that ends in the zone's name but lacks the trailing
/// dot (`www.example.com` in the zone example.com.) is meant as absolute: the dot is added.
pub fn complete(raw: &str, origin: &str) -> Option<String> {
    let bare = origin.trim_end_matches('.');
    let lower = raw.to_ascii_lowercase();
    (!raw.ends_with('.') && (lower == bare || lower.ends_with(&format!(".{bare}"))))
        .then(|| format!("{raw}."))
}

/// The tags of a Cloudflare export's `cf_tags=` comment.
pub fn cloudflare_tags(comment: &str) -> Vec<String> {
    comment
        .split("cf_tags=")
        .nth(1)
        .map(|t| {
            t.split_whitespace()
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
