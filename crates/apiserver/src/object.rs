//! Objects between the store and HTTP: stored as JSON without `resourceVersion` (the store's
//! `mod_revision` is the resourceVersion), and the system fields set on create.

use ferrokube_api::registry::ResourceInfo;
use ferrokube_api::{ApiError, meta};
use ferrokube_store::{KeyValue, Revision};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The object in a stored key-value as `info` serves it, with `metadata.resourceVersion`
/// from its revision.
pub fn from_stored(info: &ResourceInfo, kv: &KeyValue) -> Result<Value, ApiError> {
    let stored: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    let mut obj = info.strategy.served_form(stored);
    set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// The bytes to store for an object `info` serves: its stored form without
/// `metadata.resourceVersion`.
pub fn to_stored(info: &ResourceInfo, obj: &Value) -> Vec<u8> {
    let mut stored = info.strategy.stored_form(obj.clone());
    meta::set(&mut stored, "resourceVersion", None);
    serde_json::to_vec(&stored).expect("JSON values serialize")
}

pub fn set_resource_version(obj: &mut Value, revision: Revision) {
    meta::set(obj, "resourceVersion", Some(json!(revision.0.to_string())));
}

/// A resourceVersion string as a revision; `400` if it is not a number.
pub fn parse_resource_version(rv: &str) -> Result<Revision, ApiError> {
    rv.parse::<i64>()
        .ok()
        .filter(|r| *r >= 0)
        .map(Revision)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

/// The RFC 3339 form upstream uses for timestamps: whole seconds (truncated, as Go's
/// `metav1.Time` marshals), `Z`; k8s-openapi's `Time` encodes it, the one formatter the API
/// clients use too (`ferrokube_client::clock::rfc3339`).
pub fn timestamp(t: Timestamp) -> String {
    match serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t)) {
        Ok(Value::String(text)) => text,
        _ => String::new(),
    }
}

/// Characters upstream's `generateName` suffixes use (no vowels, no confusable digits).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A `generateName` suffix of 5 characters.
pub fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokube_api::Registry;

    #[test]
    fn stored_form_has_no_resource_version() {
        let registry = Registry::builtin();
        let info = registry.find("", "v1", "configmaps").unwrap();
        let obj = json!({"metadata": {"name": "x", "resourceVersion": "7"}});
        let stored = to_stored(info, &obj);
        let kv = KeyValue {
            key: "k".into(),
            value: stored.clone(),
            create_revision: Revision(3),
            mod_revision: Revision(9),
            version: 2,
        };
        assert!(
            !String::from_utf8(stored)
                .unwrap()
                .contains("resourceVersion")
        );
        assert_eq!(
            from_stored(info, &kv).unwrap()["metadata"]["resourceVersion"],
            "9"
        );
    }

    #[test]
    fn suffixes_and_timestamps() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|b| NAME_ALPHABET.contains(&b)));
        // Truncated to the second, as Go's metav1.Time marshals (RFC 3339, no fraction).
        assert_eq!(
            timestamp("2026-01-02T03:04:05.6Z".parse().unwrap()),
            "2026-01-02T03:04:05Z"
        );
        assert!(parse_resource_version("abc").is_err());
    }
}
