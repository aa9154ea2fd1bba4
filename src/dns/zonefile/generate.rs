//! BIND's `$GENERATE range lhs [ttl] [class] type rhs`: one record per value of the range, with
//! `$` and `${offset,width,base}` in the owner and the data replaced by it.

use super::lexer::Tok;

/// The most records one `$GENERATE` may make: a typo in a range must not make millions.
const MAX_GENERATED: u64 = 65536;

/// The record lines a `$GENERATE` stands for (its arguments, after the directive).
pub fn expand(args: &[Tok]) -> Result<Vec<Vec<Tok>>, String> {
    if args.len() < 4 {
        return Err("$GENERATE needs a range, an owner, a type and data".into());
    }
    let (start, stop, step) = range(&args[0].raw)?;
    if (stop - start) / step >= MAX_GENERATED {
        return Err(format!(
            "$GENERATE range {} makes more than {MAX_GENERATED} records",
            args[0].raw
        ));
    }
    let (lhs, middle, rhs) = (&args[1], &args[2..args.len() - 1], &args[args.len() - 1]);
    let mut out = Vec::new();
    let mut i = start;
    while i <= stop {
        let mut line = vec![Tok {
            raw: substitute(&lhs.raw, i)?,
            quoted: false,
        }];
        line.extend(middle.iter().cloned());
        // Like BIND, the substituted right-hand side is read again as record data, so a
        // quoted one may stand for several fields.
        let data = substitute(&rhs.raw, i)?;
        let relexed = super::lexer::logical_lines(&format!("x {data}"))
            .map_err(|e| format!("$GENERATE data {data:?}: {}", e.message))?;
        line.extend(relexed.into_iter().flat_map(|l| l.tokens).skip(1));
        out.push(line);
        i += step;
    }
    Ok(out)
}

/// `start-stop[/step]`.
fn range(r: &str) -> Result<(u64, u64, u64), String> {
    let bad = || format!("$GENERATE range {r:?} is not START-STOP[/STEP]");
    let (span, step) = match r.split_once('/') {
        Some((s, st)) => (s, st.parse::<u64>().map_err(|_| bad())?),
        None => (r, 1),
    };
    let (a, b) = span.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.parse::<u64>().map_err(|_| bad())?,
        b.parse::<u64>().map_err(|_| bad())?,
    );
    if a > b || step == 0 || b > u64::from(u32::MAX) {
        return Err(bad());
    }
    Ok((a, b, step))
}

/// Replaces `$` and `${offset,width,base}` by `i`; `\$` is a literal `$`.
fn substitute(template: &str, i: u64) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                chars.next();
                out.push('$');
            }
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                out.push_str(&modifier(&spec, i)?);
            }
            '$' => out.push_str(&i.to_string()),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// `offset[,width[,base]]`, base one of d, o, x, X.
fn modifier(spec: &str, i: u64) -> Result<String, String> {
    let parts: Vec<&str> = spec.split(',').collect();
    let bad = || format!("$GENERATE modifier {{{spec}}} is not {{offset,width,base}}");
    let offset: i64 = parts.first().unwrap_or(&"0").parse().map_err(|_| bad())?;
    let width: usize = parts
        .get(1)
        .map_or(Ok(0), |w| w.parse())
        .map_err(|_| bad())?;
    let v = i64::try_from(i).map_err(|_| bad())? + offset;
    let v = u64::try_from(v).map_err(|_| bad())?;
    Ok(match parts.get(2).copied().unwrap_or("d") {
        "d" => format!("{v:0width$}"),
        "o" => format!("{v:0width$o}"),
        "x" => format!("{v:0width$x}"),
        "X" => format!("{v:0width$X}"),
        other => {
            return Err(format!(
                "$GENERATE base {other:?}: zoneshift reads d, o, x and X"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Tok {
        Tok {
            raw: s.into(),
            quoted: false,
        }
    }

    #[test]
    fn ranges_and_modifiers() {
        let lines = expand(&[t("1-3"), t("host$"), t("A"), t("192.0.2.$")]).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2][0].raw, "host3");
        assert_eq!(lines[2][2].raw, "192.0.2.3");
        let lines = expand(&[t("1-2"), t("r${10,3,x}"), t("CNAME"), t("x\\$$")]).unwrap();
        assert_eq!(lines[0][0].raw, "r00b");
        assert_eq!(lines[1][2].raw, "x$2");
        let quoted = Tok {
            raw: "n$ b".into(),
            quoted: true,
        };
        let lines = expand(&[t("1-1"), t("t$"), t("TXT"), quoted]).unwrap();
        assert_eq!(
            lines[0].len(),
            4,
            "a quoted right-hand side is read again: {lines:?}"
        );
        assert!(expand(&[t("0-99999999"), t("h$"), t("A"), t("192.0.2.1")]).is_err());
        assert!(expand(&[t("5-1"), t("h$"), t("A"), t("192.0.2.1")]).is_err());
    }
}
