//! `secret` volumes: a Secret's keys as files, as `configMap` volumes but from `data` (upstream's
//! `secret.MakePayload`).

use k8s_openapi::api::core::v1::{Secret, SecretVolumeSource};

use super::atomic_writer::Payload;
use super::config_map::key_files;

/// The keys of a Secret with their bytes.
pub fn keys_of(secret: &Secret) -> impl Iterator<Item = (&String, Vec<u8>)> {
    secret.data.iter().flatten().map(|(k, v)| (k, v.0.clone()))
}

/// The volume's files; a Secret that does not exist is an empty volume if optional.
pub fn payload(
    source: &SecretVolumeSource,
    secret: Option<&Secret>,
    default_mode: i32,
) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let name = source.secret_name.as_deref().unwrap_or_default();
    let Some(secret) = secret else {
        return match optional {
            true => Ok(Payload::new()),
            false => Err(format!("secret \"{name}\" not found")),
        };
    };
    let mode = source.default_mode.unwrap_or(default_mode);
    key_files(keys_of(secret), source.items.as_deref(), mode, |key| {
        (!optional).then(|| format!("references non-existent secret key: {key}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_as_upstream() {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds"}, "data": {"password": "czNjcjN0"},
        }))
        .unwrap();
        let source =
            |v: serde_json::Value| -> SecretVolumeSource { serde_json::from_value(v).unwrap() };
        let files = payload(
            &source(json!({"secretName": "creds", "defaultMode": 0o400})),
            Some(&secret),
            0o644,
        )
        .unwrap();
        assert_eq!(files["password"].data, b"s3cr3t");
        assert_eq!(files["password"].mode, 0o400);
        let missing = json!({"secretName": "creds", "items": [{"key": "k", "path": "k"}]});
        assert_eq!(
            payload(&source(missing), Some(&secret), 0o644).unwrap_err(),
            "references non-existent secret key: k"
        );
        assert_eq!(
            payload(&source(json!({"secretName": "gone"})), None, 0o644).unwrap_err(),
            "secret \"gone\" not found"
        );
    }
}
