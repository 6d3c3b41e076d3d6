//! The syntax of resource quantities (`100m`, `64Mi`, `1e3`), checked as upstream's
//! `resource.ParseQuantity` checks it when it decodes a request, with its error texts.
//!
//! Only the syntax is checked; magnitudes are not bounded, as upstream bounds none but binary
//! ones (which it caps silently): `1e400` is a valid quantity, `1e400x` is not.
//!
//! Example: `quantity_error("64MiB")` is `Some(FORMAT_WRONG)`, `quantity_error("1ki")` is
//! `Some(SUFFIX)`, `quantity_error("1.5Gi")` is `None`.

/// Upstream's `ErrFormatWrong`.
pub const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Upstream's `ErrNumeric`.
pub const NUMERIC: &str = "unable to parse numeric part of quantity";
/// Upstream's `ErrSuffix`.
pub const SUFFIX: &str = "unable to parse quantity's suffix";

const SUFFIX_CHARS: &[u8] = b"eEinumkKMGTP";
const DECIMAL_SUFFIXES: [&str; 10] = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];
const BINARY_SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The parts of a quantity as upstream's `parseQuantityString` splits them.
struct Parts<'a> {
    /// The sign and digits before the suffix (`-1.5` of `-1.5Gi`).
    value: &'a str,
    suffix: &'a str,
}

/// Splits `s` into its number and its suffix, or upstream's format error.
fn split(s: &str) -> Result<Parts<'_>, &'static str> {
    let bytes = s.as_bytes();
    let end = bytes.len();
    let mut pos = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = |from: usize| {
        (from..end)
            .find(|&i| !bytes[i].is_ascii_digit())
            .unwrap_or(end)
    };
    pos = digits(pos);
    if pos < end && bytes[pos] == b'.' {
        pos = digits(pos + 1);
    }
    let value = &s[..pos];
    let suffix_start = pos;
    pos = (pos..end)
        .find(|&i| !SUFFIX_CHARS.contains(&bytes[i]))
        .unwrap_or(end);
    if pos < end && matches!(bytes[pos], b'+' | b'-') {
        pos += 1;
    }
    if digits(pos) < end {
        return Err(FORMAT_WRONG);
    }
    Ok(Parts {
        value,
        suffix: &s[suffix_start..],
    })
}

/// The base-10 or base-2 exponent of `suffix` as upstream's `suffixHandler.interpret` reads
/// it, or `None` for a suffix it does not know: an SI or binary suffix, or `e<int64>`.
fn exponent(suffix: &str) -> Option<Exponent> {
    if let Some(i) = DECIMAL_SUFFIXES.iter().position(|s| *s == suffix) {
        return Some(Exponent::Decimal(3 * i as i64 - 9));
    }
    if let Some(i) = BINARY_SUFFIXES.iter().position(|s| *s == suffix) {
        return Some(Exponent::Binary(10 * (i as i64 + 1)));
    }
    let digits = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))?;
    if digits.is_empty() {
        return None;
    }
    digits.parse::<i64>().ok().map(Exponent::Decimal)
}

/// A suffix's meaning: times 10^n or times 2^n.
#[derive(Clone, Copy)]
enum Exponent {
    Decimal(i64),
    Binary(i64),
}

impl Exponent {
    /// Whether upstream parses a number with a one-digit mantissa and this suffix on its
    /// arbitrary-precision path (below nano, or a binary suffix of more than 15 digits), which
    /// refuses a number with no digit at all.
    fn slow_path(self) -> bool {
        match self {
            Exponent::Decimal(e) => e < -9,
            Exponent::Binary(e) => 15 - 1 - (e * 3 / 10) - 1 < 0,
        }
    }
}

/// Why `s` is not a quantity, as upstream's `ParseQuantity` says it; `None` when it is one.
pub fn quantity_error(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some(FORMAT_WRONG);
    }
    let parts = match split(s) {
        Ok(parts) => parts,
        Err(e) => return Some(e),
    };
    let Some(exponent) = exponent(parts.suffix) else {
        return Some(SUFFIX);
    };
    // Upstream reads a number without digits ("", "+", ".") as zero on its fast path.
    let has_digit = parts.value.bytes().any(|b| b.is_ascii_digit());
    if !has_digit && exponent.slow_path() {
        return Some(NUMERIC);
    }
    None
}

/// `quantity_error` of a quantity in a request body, which upstream trims first.
pub fn decoded_quantity_error(s: &str) -> Option<&'static str> {
    quantity_error(s.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_table() {
        let cases = [
            ("1", None),
            ("0", None),
            ("100m", None),
            ("1.5Gi", None),
            ("64Mi", None),
            ("-1", None),
            ("+2k", None),
            ("1e3", None),
            ("1E-3", None),
            ("1e400", None),
            ("1E", None),
            (".5", None),
            ("5.", None),
            ("", Some(FORMAT_WRONG)),
            ("abc", Some(FORMAT_WRONG)),
            ("1e400x", Some(FORMAT_WRONG)),
            ("64MiB", Some(FORMAT_WRONG)),
            ("1.2.3", Some(FORMAT_WRONG)),
            (" 1", Some(FORMAT_WRONG)),
            ("1ki", Some(SUFFIX)),
            ("1e", Some(SUFFIX)),
            ("1mi", Some(SUFFIX)),
            ("1e99999999999999999999", Some(SUFFIX)),
            ("k", None),
            (".m", None),
            ("Ei", Some(NUMERIC)),
            ("+.e-10", Some(NUMERIC)),
        ];
        for (quantity, want) in cases {
            assert_eq!(quantity_error(quantity), want, "{quantity:?}");
        }
        assert_eq!(
            decoded_quantity_error(" 1 "),
            None,
            "a body's quantity is trimmed"
        );
    }
}
