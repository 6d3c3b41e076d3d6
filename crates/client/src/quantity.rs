//! Resource quantities (`100m`, `64Mi`, `2`) as numbers, for the components that count
//! resources (the scheduler) or enforce them (the kubelet).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_quantity::ParsedQuantity;

/// Multipliers of the suffixes upstream knows, for quantities too large for exact arithmetic.
const SUFFIXES: [(&str, f64); 15] = [
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

/// The value of a quantity times `scale`, rounded up: `value("100m", 1000)` is 100 (millicores),
/// `value("64Mi", 1)` is 67108864. A quantity too large to count exactly (`1e400`, which the API
/// accepts as upstream does) is `i64::MAX`, so that it fits nowhere rather than counting as
/// nothing; an unparsable quantity is 0.
pub fn value(q: &Quantity, scale: i64) -> i64 {
    ParsedQuantity::try_from(q)
        .ok()
        .and_then(|p| (p * scale).to_bytes_f64())
        .map(|v| v.ceil() as i64)
        .or_else(|| approximate(q.0.trim(), scale))
        .unwrap_or(0)
}

/// `s` times `scale` in floating point, saturating at the bounds of `i64` (`as` saturates).
fn approximate(s: &str, scale: i64) -> Option<i64> {
    let (number, multiplier) = SUFFIXES
        .iter()
        .find_map(|(suffix, m)| s.strip_suffix(suffix).map(|n| (n, *m)))
        .unwrap_or((s, 1.0));
    if !number
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    let v: f64 = number.parse().ok()?;
    Some((v * multiplier * scale as f64).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_base_units() {
        let cases = [
            ("100m", 1000, 100),
            ("2", 1000, 2000),
            ("64Mi", 1, 64 << 20),
            ("1G", 1, 1_000_000_000),
            ("1e3", 1, 1000),
            ("1e400", 1000, i64::MAX),
            ("1e400", 1, i64::MAX),
            ("99999999999999999999999999999999", 1, i64::MAX),
            ("99999999999999999999999999999999Ei", 1, i64::MAX),
            ("-1e400", 1, i64::MIN),
            ("nonsense", 1, 0),
            ("inf", 1, 0),
        ];
        for (s, scale, want) in cases {
            assert_eq!(value(&Quantity(s.into()), scale), want, "{s} x {scale}");
        }
    }
}
