//! The master-file lexer (RFC 1035 section 5.1, as BIND reads it): logical lines joined across
//! parentheses, comments kept for the provider flags some exports write in them, tokens with
//! their escapes as written, and the decoding of those escapes.

use super::ZoneFileError;

/// A token as written: `raw` keeps its backslash escapes (and, for a bare word, any quoted part
/// such as `alpn="h2,h3"`); a quoted string's `raw` is its inside, without the quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    pub raw: String,
    pub quoted: bool,
}

/// One entry of the file: a directive or a record, joined across parentheses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logical {
    /// The line the entry starts on (1-based).
    pub line: usize,
    /// Whether the first line starts with a blank (the owner is the previous one).
    pub blank_owner: bool,
    pub tokens: Vec<Tok>,
    /// The text of its comments, joined with a space.
    pub comment: String,
}

/// Splits a zone file into its entries; an unbalanced parenthesis or quote is an error naming
/// the line it opened on.
pub fn logical_lines(text: &str) -> Result<Vec<Logical>, ZoneFileError> {
    let mut out = Vec::new();
    let mut cur = Logical::default();
    let mut depth_opened_at: Option<usize> = None;
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let mut at_line_start = true;
    while let Some(c) = chars.next() {
        if at_line_start && depth_opened_at.is_none() {
            cur.line = line;
            cur.blank_owner = c == ' ' || c == '\t';
        }
        at_line_start = false;
        match c {
            '\n' => {
                line += 1;
                at_line_start = true;
                if depth_opened_at.is_none() {
                    push_entry(&mut out, &mut cur);
                }
            }
            ' ' | '\t' | '\r' => {}
            ';' => {
                let mut comment = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    comment.push(n);
                    chars.next();
                }
                if !cur.comment.is_empty() {
                    cur.comment.push(' ');
                }
                cur.comment.push_str(comment.trim());
            }
            '(' => {
                if depth_opened_at.is_some() {
                    return Err(err(line, "a parenthesis opens inside another"));
                }
                depth_opened_at = Some(line);
            }
            ')' => {
                if depth_opened_at.take().is_none() {
                    return Err(err(line, "a closing parenthesis without an opening one"));
                }
            }
            '"' => {
                let raw = quoted(&mut chars, &mut line)
                    .ok_or_else(|| err(cur.line, "a quoted string is not closed"))?;
                cur.tokens.push(Tok { raw, quoted: true });
            }
            _ => {
                let raw = bare(c, &mut chars, &mut line)
                    .ok_or_else(|| err(cur.line, "a quoted string is not closed"))?;
                cur.tokens.push(Tok { raw, quoted: false });
            }
        }
    }
    if let Some(opened) = depth_opened_at {
        return Err(err(opened, "a parenthesis opened here is never closed"));
    }
    push_entry(&mut out, &mut cur);
    Ok(out)
}

fn push_entry(out: &mut Vec<Logical>, cur: &mut Logical) {
    let entry = std::mem::take(cur);
    if !entry.tokens.is_empty() {
        out.push(entry);
    }
}

fn err(line: usize, message: &str) -> ZoneFileError {
    ZoneFileError {
        line,
        message: message.to_string(),
    }
}

/// The inside of a quoted string, escapes kept; `None` if the file ends first.
fn quoted(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    line: &mut usize,
) -> Option<String> {
    let mut raw = String::new();
    loop {
        let c = chars.next()?;
        match c {
            '"' => return Some(raw),
            '\\' => {
                raw.push(c);
                let n = chars.next()?;
                if n == '\n' {
                    *line += 1;
                }
                raw.push(n);
            }
            '\n' => {
                *line += 1;
                raw.push(c);
            }
            _ => raw.push(c),
        }
    }
}

/// A bare word starting with `first`, up to a blank, `;`, `(` or `)` outside quotes.
fn bare(
    first: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    line: &mut usize,
) -> Option<String> {
    let mut raw = String::new();
    let mut c = first;
    loop {
        match c {
            '\\' => {
                raw.push(c);
                if let Some(n) = chars.next() {
                    if n == '\n' {
                        *line += 1;
                    }
                    raw.push(n);
                }
            }
            '"' => {
                raw.push('"');
                raw.push_str(&quoted(chars, line)?);
                raw.push('"');
            }
            _ => raw.push(c),
        }
        match chars.peek() {
            Some(&n) if !matches!(n, ' ' | '\t' | '\r' | '\n' | ';' | '(' | ')') => {
                c = n;
                chars.next();
            }
            _ => return Some(raw),
        }
    }
}

/// The bytes a token stands for: `\DDD` is a decimal byte, `\X` is X.
pub fn decode(raw: &str) -> Result<Vec<u8>, String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let rest = &b[i + 1..];
        if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
            let v = u32::from(rest[0] - b'0') * 100
                + u32::from(rest[1] - b'0') * 10
                + u32::from(rest[2] - b'0');
            out.push(u8::try_from(v).map_err(|_| format!("the escape \\{v} is above 255"))?);
            i += 4;
        } else if let Some(&c) = rest.first() {
            out.push(c);
            i += 2;
        } else {
            return Err(format!("{raw:?} ends in a lone backslash"));
        }
    }
    Ok(out)
}

/// The labels of a name as written, escapes decoded, and whether it is absolute (ends in an
/// unescaped dot). `.` alone is the root.
pub fn labels(raw: &str) -> Result<(Vec<Vec<u8>>, bool), String> {
    if raw == "." {
        return Ok((Vec::new(), true));
    }
    let b = raw.as_bytes();
    let mut labels = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let end = if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i + 4
                } else {
                    i + 2
                };
                cur.push_str(raw.get(i..end.min(b.len())).unwrap_or(""));
                i = end;
            }
            b'.' => {
                if cur.is_empty() {
                    return Err(format!("{raw:?} has an empty label"));
                }
                labels.push(decode(&std::mem::take(&mut cur))?);
                i += 1;
            }
            _ => {
                cur.push(b[i] as char);
                i += 1;
            }
        }
    }
    let absolute = cur.is_empty();
    if !absolute {
        labels.push(decode(&cur)?);
    }
    Ok((labels, absolute))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parentheses_quotes_and_comments() {
        let text = "a IN TXT ( \"x; y\" ; c1\n \"z\" ) ; c2\n  IN A 192.0.2.1\n";
        let l = logical_lines(text).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].tokens.len(), 5);
        assert_eq!(l[0].tokens[3].raw, "x; y");
        assert_eq!(l[0].comment, "c1 c2");
        assert_eq!(l[1].line, 3);
        assert!(l[1].blank_owner);
        assert!(logical_lines("a IN TXT ( \"x\"\n").unwrap_err().line == 1);
    }

    /// Every newline counts once, escaped or quoted or not: the entries after one and the
    /// errors name the line a person sees in an editor.
    #[test]
    fn an_escaped_newline_counts_as_a_line() {
        let text = "a IN TXT x\\\ny\nb IN TXT \"p\nq\"\nc IN A 192.0.2.1\n";
        let l = logical_lines(text).unwrap();
        assert_eq!((l[1].line, l[2].line), (3, 5), "{l:?}");
        let e = logical_lines("a IN TXT x\\\ny\nb IN TXT (\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn escapes_are_decimal() {
        assert_eq!(decode(r#"\065\\\""#).unwrap(), b"A\\\"");
        assert!(decode(r"\300").is_err());
        let (l, abs) = labels(r"a\.b.\208x.").unwrap();
        assert!(abs);
        assert_eq!(l, vec![b"a.b".to_vec(), vec![208, b'x']]);
    }
}
