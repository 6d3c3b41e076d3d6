//! `secret` volumes: a Secret's keys as files, as `configMap` volumes but from `data` (upstream's
//! `secret.MakePayload`).

use k8s_openapi::api::core::v1::SecretVolumeSource;

use super::atomic_writer::Payload;
use super::config_map::keyed_payload;
use crate::sources::{Kind, Objects};

/// The volume's files.
pub fn payload(
    source: &SecretVolumeSource,
    objects: &Objects,
    default_mode: i32,
) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let mode = source.default_mode.unwrap_or(default_mode);
    let named = (
        Kind::Secret,
        source.secret_name.as_deref().unwrap_or_default(),
    );
    keyed_payload(objects, named, source.items.as_deref(), optional, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;

    #[test]
    fn payload_as_upstream() {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds"}, "data": {"password": "czNjcjN0"},
        }))
        .unwrap();
        let mut objects = Objects::default();
        objects.secrets.insert("creds".into(), secret);
        let source =
            |v: serde_json::Value| -> SecretVolumeSource { serde_json::from_value(v).unwrap() };
        let files = payload(
            &source(json!({"secretName": "creds", "defaultMode": 0o400})),
            &objects,
            0o644,
        )
        .unwrap();
        assert_eq!(files["password"].data, b"s3cr3t");
        assert_eq!(files["password"].mode, 0o400);
        let missing = json!({"secretName": "creds", "items": [{"key": "k", "path": "k"}]});
        assert_eq!(
            payload(&source(missing), &objects, 0o644).unwrap_err(),
            "references non-existent secret key: k"
        );
        assert_eq!(
            payload(
                &source(json!({"secretName": "gone"})),
                &Objects::default(),
                0o644
            )
            .unwrap_err(),
            "secret \"gone\" not found"
        );
    }
}
