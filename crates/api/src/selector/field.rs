//! Field selectors, parsed as upstream's `apimachinery/pkg/fields/selector.go` does: terms split
//! on unescaped `,` and sorted, each split at its first `!=`, `==` or `=`, and the value
//! unescaped (`\\`, `\,`, `\=`); an unescaped `=` in a value or a stray `\` is an error.

/// A parsed field selector: `(field, equal, value)` terms, all of which must hold.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Fields this selector names.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(f, _, _)| f.as_str())
    }

    /// Whether the object's field values satisfy every term.
    pub fn matches(&self, fields: &[(&str, String)]) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = fields
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            (actual == value) == *equal
        })
    }
}

/// Upstream's string form, values escaped: `metadata.name=a\,b,spec.nodeName!=`.
impl std::fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (field, equal, value)) in self.0.iter().enumerate() {
            let escaped = value
                .replace('\\', "\\\\")
                .replace(',', "\\,")
                .replace('=', "\\=");
            let op = if *equal { "=" } else { "!=" };
            write!(f, "{}{field}{op}{escaped}", if i > 0 { "," } else { "" })?;
        }
        Ok(())
    }
}

/// Splits on commas not escaped by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The field, whether the operator is an equality, and the raw value, split at the first
/// operator (`!=` before `==` before `=` at each position).
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    for i in 0..term.len() {
        let rest = &term.as_bytes()[i..];
        for (op, equal) in [("!=", false), ("==", true), ("=", true)] {
            if rest.starts_with(op.as_bytes()) {
                return Some((&term[..i], equal, &term[i + op.len()..]));
            }
        }
    }
    None
}

/// Upstream's `UnescapeValue`, with its messages (`%v` of a rune prints its number).
fn unescape(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".to_owned());
    }
    Ok(out)
}

/// Parses a field selector.
pub fn parse_field_selector(s: &str) -> Result<FieldSelector, String> {
    let mut parts = if s.is_empty() {
        Vec::new()
    } else {
        split_terms(s)
    };
    parts.sort_unstable();
    let mut terms = Vec::new();
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let (field, equal, value) = split_term(part)
            .ok_or_else(|| format!("invalid selector: '{s}'; can't understand '{part}'"))?;
        terms.push((field.to_owned(), equal, unescape(value)?));
    }
    Ok(FieldSelector(terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selector_table() {
        let fields = [
            ("metadata.name", "x".to_owned()),
            ("spec.nodeName", "".to_owned()),
        ];
        let cases = [
            ("metadata.name=x", true),
            ("metadata.name==x", true),
            ("metadata.name!=x", false),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            ("metadata.name=x,spec.nodeName=n1", false),
            ("metadata.name=x,,", true),
        ];
        for (selector, want) in cases {
            assert_eq!(
                parse_field_selector(selector).unwrap().matches(&fields),
                want,
                "{selector}"
            );
        }
    }

    /// Upstream's fields TestSelectorParse / TestEscapedValue facts: parse result or error.
    #[test]
    fn parse_and_errors_as_upstream() {
        let ok = [
            ("", vec![]),
            ("x=a", vec![("x", true, "a")]),
            (
                "x=a,y=b,z=c",
                vec![("x", true, "a"), ("y", true, "b"), ("z", true, "c")],
            ),
            ("z=c,x=a", vec![("x", true, "a"), ("z", true, "c")]),
            ("x!=a,y=b", vec![("x", false, "a"), ("y", true, "b")]),
            ("x=", vec![("x", true, "")]),
            ("x= ", vec![("x", true, " ")]),
            ("x==a", vec![("x", true, "a")]),
            (r"x=a\,b", vec![("x", true, "a,b")]),
            (r"x=a\=b\\", vec![("x", true, r"a=b\")]),
            ("x!=", vec![("x", false, "")]),
        ];
        for (s, want) in ok {
            let want: Vec<(String, bool, String)> = want
                .into_iter()
                .map(|(f, e, v)| (f.to_owned(), e, v.to_owned()))
                .collect();
            assert_eq!(parse_field_selector(s), Ok(FieldSelector(want)), "{s:?}");
        }
        let bad = [
            (
                "x=a||y=b",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "x==a==b",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "metadata.name",
                "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
            ),
            ("a=x,b", "invalid selector: 'a=x,b'; can't understand 'b'"),
            (
                r"x=a\b",
                r"invalid field selector: invalid escape sequence: \b",
            ),
            (
                r"x=a\",
                r"invalid field selector: invalid escape sequence: \",
            ),
        ];
        for (s, want) in bad {
            assert_eq!(parse_field_selector(s), Err(want.to_owned()), "{s:?}");
        }
    }

    #[test]
    fn printed_form_parses_back() {
        for s in [r"a=x\,y", r"b!=\\", "c=", r"d=\=\="] {
            let parsed = parse_field_selector(s).unwrap();
            assert_eq!(parse_field_selector(&parsed.to_string()), Ok(parsed), "{s}");
        }
    }
}
