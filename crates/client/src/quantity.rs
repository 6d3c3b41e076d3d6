//! Resource quantities (`100m`, `64Mi`, `2`) as numbers, for the components that count
//! resources (the scheduler) or enforce them (the kubelet).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_quantity::ParsedQuantity;

/// The value of a quantity times `scale`, rounded up: `value("100m", 1000)` is 100 (millicores),
/// `value("64Mi", 1)` is 67108864; an unparsable quantity is 0.
pub fn value(q: &Quantity, scale: i64) -> i64 {
    ParsedQuantity::try_from(q)
        .ok()
        .and_then(|p| (p * scale).to_bytes_f64())
        .map_or(0, |v| v.ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_base_units() {
        let q = |s: &str| Quantity(s.into());
        assert_eq!(value(&q("100m"), 1000), 100);
        assert_eq!(value(&q("2"), 1000), 2000);
        assert_eq!(value(&q("64Mi"), 1), 64 << 20);
        assert_eq!(value(&q("1G"), 1), 1_000_000_000);
        assert_eq!(value(&q("nonsense"), 1), 0);
    }
}
